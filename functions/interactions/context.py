"""One interaction, as command handlers see it: typed accessors over Discord's payload."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.discord.permissions import require_guild

if TYPE_CHECKING:
    from shared.contracts.messages import InteractionRef
    from shared.storage.stores import Stores


@dataclass
class InteractionContext:
    interaction: dict[str, Any]
    settings: Settings
    stores: Stores

    @property
    def data(self) -> dict[str, Any]:
        data = self.interaction.get("data")
        return data if isinstance(data, dict) else {}

    @cached_property
    def _ref(self) -> InteractionRef:
        # Imported on first use: building the queue contract's dataclasses is not work a PING should pay for.
        from shared.contracts.messages import InteractionRef

        return InteractionRef.from_interaction(self.interaction)

    def ref(self) -> InteractionRef:
        """Who asked, where: what travels with queued work."""
        return self._ref

    @property
    def id(self) -> str:
        return self._ref.id

    @property
    def application_id(self) -> str:
        return self._ref.application_id

    @property
    def guild_id(self) -> str | None:
        return self._ref.guild_id

    def require_guild(self) -> str:
        return require_guild(self._ref.guild_id)

    def require_trainer(self) -> str:
        """The guild id, if the caller may use trainer commands here; :class:`Forbidden` otherwise.

        Manage Server (or Administrator) needs no lookup; only the others cost a read of the guild's trainer role.
        """
        from shared.discord.permissions import authorize_trainer

        member = self.interaction.get("member")
        guild_id, _ = authorize_trainer(self.guild_id, member if isinstance(member, dict) else None,
                                        self.stores.datasets.guild_settings)
        return guild_id

    @property
    def channel_id(self) -> str:
        return self._ref.channel_id or ""

    @property
    def member(self) -> dict[str, Any]:
        member = self.interaction.get("member")
        return member if isinstance(member, dict) else {}

    @property
    def user(self) -> dict[str, Any]:
        user = self.member.get("user") or self.interaction.get("user")
        return user if isinstance(user, dict) else {}

    @property
    def user_id(self) -> str:
        return self._ref.user_id

    @property
    def permissions(self) -> int:
        return self._ref.member_permissions

    def options(self) -> dict[str, Any]:
        """Option values by name, flattened through sub-commands."""
        values: dict[str, Any] = {}
        stack = list(self.data.get("options") or [])
        while stack:
            option = stack.pop()
            if not isinstance(option, dict):
                continue
            if "options" in option:
                stack.extend(option.get("options") or [])
            elif "name" in option:
                values[str(option["name"])] = option.get("value")
        return values

    def focused_option(self) -> tuple[str, str]:
        stack = list(self.data.get("options") or [])
        while stack:
            option = stack.pop()
            if isinstance(option, dict):
                if option.get("focused"):
                    return str(option.get("name", "")), str(option.get("value", ""))
                stack.extend(option.get("options") or [])
        return "", ""

    def resolved(self, kind: str) -> dict[str, Any]:
        resolved = self.data.get("resolved") or {}
        found = resolved.get(kind) if isinstance(resolved, dict) else None
        return found if isinstance(found, dict) else {}

    @property
    def custom_id_parts(self) -> list[str]:
        return str(self.data.get("custom_id", "")).split(":")

    @property
    def message(self) -> dict[str, Any]:
        """The message a component is attached to."""
        message = self.interaction.get("message")
        return message if isinstance(message, dict) else {}

    def modal_values(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for row in self.data.get("components") or []:
            children = row.get("components") or [row.get("component")] if isinstance(row, dict) else []
            for component in children:
                if isinstance(component, dict) and "custom_id" in component:
                    values[str(component["custom_id"])] = str(component.get("value") or "")
        return values
