"""Who may use the trainer commands (/train, /select_dataset, /archive, /getfile).

The commands are declared with ``default_member_permissions`` (Manage Server), which Discord enforces in the
client; server admins can change that in the integration settings, and payloads can be crafted, so the server
checks again from the signed interaction: ``member.permissions`` (the member's computed permissions in the
channel) must hold Manage Server or Administrator, or the member must have the guild's trainer role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from shared.errors import Forbidden

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5


def _permissions(member: Mapping[str, Any]) -> int:
    raw = member.get("permissions")
    try:
        return int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def is_trainer(member: Mapping[str, Any] | None, *, trainer_role_id: str | None = None) -> bool:
    if not member:
        return False
    if _permissions(member) & (ADMINISTRATOR | MANAGE_GUILD):
        return True
    if trainer_role_id:
        roles = member.get("roles") or []
        return str(trainer_role_id) in {str(r) for r in roles}
    return False


def require_trainer(interaction: Mapping[str, Any], *, trainer_role_id: str | None = None) -> str:
    """Return the guild id if the caller may train; raise :class:`Forbidden` with the reason otherwise.

    ``trainer_role_id`` comes from the guild's settings record (``DatasetStore.guild_settings``).
    """
    guild_id = interaction.get("guild_id")
    member = interaction.get("member")
    if not guild_id or not isinstance(member, Mapping):
        raise Forbidden("Training commands work only in a server, not in direct messages.")
    if not is_trainer(member, trainer_role_id=trainer_role_id):
        role = " or the trainer role" if trainer_role_id else ""
        raise Forbidden(f"You need the Manage Server permission{role} to use training commands.")
    return str(guild_id)


class _TrainerRoleSettings(Protocol):
    @property
    def trainer_role_id(self) -> str | None: ...


def authorize_trainer[SettingsT: _TrainerRoleSettings](guild_id: str | None, member: Mapping[str, Any] | None,
                                                      guild_settings: Callable[[str], SettingsT],
                                                      ) -> tuple[str, SettingsT | None]:
    """The caller's guild id, if they may train there, and the guild's settings if they had to be read.

    Manage Server (or Administrator) needs no lookup; anyone else costs one ``guild_settings(guild_id)``
    read for the trainer role, which the caller reuses (selected dataset, defaults) rather than reading again.
    Works from a signed interaction (``guild_id``, ``member``) or a queued ``InteractionRef`` alike.
    """
    interaction = {"guild_id": guild_id, "member": member}
    if guild_id and member and is_trainer(member):
        return str(guild_id), None
    settings = guild_settings(str(guild_id)) if guild_id and isinstance(member, Mapping) else None
    role = settings.trainer_role_id if settings is not None else None
    return require_trainer(interaction, trainer_role_id=role), settings


def require_guild(guild_id: str | None) -> str:
    """The guild id, or :class:`Forbidden` with the reply for a command used outside a server."""
    if not guild_id:
        raise Forbidden("This only works in a server.")
    return guild_id
