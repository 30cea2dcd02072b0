"""Worker tasks behind /dataset_rename and the Delete button of /dataset_delete: they touch every example, so
they run here rather than within the interaction's three seconds. Both are safe to repeat (see DatasetStore).
A large dataset takes a while: the deferred reply shows how far it is (:mod:`functions.worker.progress`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.worker.outcome import TaskOutcome
from functions.worker.progress import ProgressReply
from functions.worker.trainers import require_trainer_for
from shared.domain.names import validate_dataset_name

if TYPE_CHECKING:
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import TaskRequest


def rename(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, _ = require_trainer_for(request.interaction, datasets)
    old = validate_dataset_name(request.args.dataset)
    new = validate_dataset_name(request.args.new_name)
    found = datasets.get_dataset(guild_id, old)
    total = found.example_count if found else 0

    def text(step: str, done: int) -> str:
        if step == "copied":
            return f"Renaming **{old}** to **{new}**… {done:,} of {total:,} examples copied."
        return f"Renaming **{old}** to **{new}**… all {total:,} copied; removing the old name: {done:,} of {total:,}."

    progress = ProgressReply(ctx.discord, request.interaction, text, clock=ctx.clock)
    info = datasets.rename_dataset(guild_id, old, new, created_by=request.interaction.user_id, progress=progress)
    return TaskOutcome(content=(
        f"Renamed **{old}** to **{info.name}** ({info.example_count:,} examples). Archives made before keep the "
        f"old name (`/getfile` lists them)."))


def delete(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, _ = require_trainer_for(request.interaction, datasets)
    name = validate_dataset_name(request.args.dataset)
    found = datasets.get_dataset(guild_id, name)
    total = found.example_count if found else 0
    progress = ProgressReply(ctx.discord, request.interaction,
                             lambda _step, done: f"Deleting **{name}**… {done:,} of {total:,} examples deleted.",
                             clock=ctx.clock)
    deleted = datasets.delete_dataset(guild_id, name, progress=progress)
    selected = datasets.guild_settings(guild_id).selected_dataset
    return TaskOutcome(content=(
        f"Deleted dataset **{name}** and its {deleted:,} examples. Its archives are kept (`/getfile`). "
        f"`/train` now adds to **{selected}**."))
