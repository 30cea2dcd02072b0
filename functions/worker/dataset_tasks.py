"""Worker tasks behind /dataset_rename and the Delete button of /dataset_delete: they touch every example, so
they run here rather than within the interaction's three seconds. Both are safe to repeat (see DatasetStore)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.worker.outcome import TaskOutcome
from functions.worker.trainers import require_trainer_for
from shared.domain.names import validate_dataset_name

if TYPE_CHECKING:
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import TaskRequest


def rename(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, _ = require_trainer_for(request.interaction, datasets)
    old = validate_dataset_name(request.args.dataset)
    info = datasets.rename_dataset(guild_id, old, request.args.new_name, created_by=request.interaction.user_id)
    return TaskOutcome(content=(
        f"Renamed **{old}** to **{info.name}** ({info.example_count} examples). Archives made before keep the "
        f"old name (`/getfile` lists them)."))


def delete(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, _ = require_trainer_for(request.interaction, datasets)
    name = validate_dataset_name(request.args.dataset)
    deleted = datasets.delete_dataset(guild_id, name)
    selected = datasets.guild_settings(guild_id).selected_dataset
    return TaskOutcome(content=(
        f"Deleted dataset **{name}** and its {deleted} examples. Its archives are kept (`/getfile`). "
        f"`/train` now adds to **{selected}**."))
