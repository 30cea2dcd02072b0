"""Who may run a trainer job: the handler checked already; jobs check again from the queued interaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.contracts.messages import InteractionRef
from shared.discord.permissions import authorize_trainer
from shared.storage.datasets import DatasetStore, GuildTrainingSettings

if TYPE_CHECKING:
    pass


def require_trainer_for(ref: InteractionRef, datasets: DatasetStore) -> tuple[str, GuildTrainingSettings | None]:
    """The guild id if the queued caller may train (the handler's rule), and the guild settings if the check
    had to read them; :class:`Forbidden` otherwise."""
    member = {"permissions": ref.member_permissions, "roles": list(ref.member_roles)}
    return authorize_trainer(ref.guild_id, member, datasets.guild_settings)
