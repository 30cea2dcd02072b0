"""Framework-free interaction handling: verified bytes in, (status, JSON reply) out.

The Flask view and the tests both call :func:`InteractionEndpoint.on_interaction`; nothing here knows about
HTTP frameworks or Lambda.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from discord_interactions import InteractionType

from shared.config import Settings
from shared.errors import BotError, UnknownInteraction
from shared.storage.stores import Stores

from . import responses
from .context import InteractionContext
from .registry import CommandRegistry
from .signature import InteractionVerifier, InvalidSignature

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on my side. Please try again; if it keeps happening, tell a trainer."
_KNOWN_TYPES = {
    InteractionType.PING,
    InteractionType.APPLICATION_COMMAND,
    InteractionType.MESSAGE_COMPONENT,
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE,
    InteractionType.MODAL_SUBMIT,
}


class MalformedInteraction(Exception):
    """Signed, but not an interaction this endpoint understands (HTTP 400)."""


def parse_interaction(body: bytes) -> dict[str, Any]:
    try:
        interaction = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedInteraction("body is not JSON") from exc
    if not isinstance(interaction, dict):
        raise MalformedInteraction("not an interaction")
    kind = interaction.get("type")
    if type(kind) is not int or kind not in _KNOWN_TYPES:
        raise MalformedInteraction("unknown interaction type")
    if kind == InteractionType.PING:
        return interaction
    for field in ("id", "application_id", "token"):
        if not isinstance(interaction.get(field), str) or not interaction[field]:
            raise MalformedInteraction(f"missing {field}")
    data = interaction.get("data")
    if not isinstance(data, dict):
        raise MalformedInteraction("missing data")
    name_field = "custom_id" if kind in (InteractionType.MESSAGE_COMPONENT, InteractionType.MODAL_SUBMIT) else "name"
    if not isinstance(data.get(name_field), str):
        raise MalformedInteraction(f"missing data.{name_field}")
    return interaction


@dataclass
class InteractionEndpoint:
    verifier: InteractionVerifier
    registry: CommandRegistry
    stores: Stores
    settings: Settings

    def on_interaction(self, body: bytes, signature: str | None, timestamp: str | None) -> tuple[int, Any]:
        try:
            self.verifier.verify(signature, timestamp, body)
        except InvalidSignature:
            return 401, None
        try:
            interaction = parse_interaction(body)
        except MalformedInteraction as exc:
            return 400, {"error": str(exc)}
        return 200, self.dispatch(interaction)

    def dispatch(self, interaction: dict[str, Any]) -> dict[str, Any]:
        kind = interaction["type"]
        if kind == InteractionType.PING:
            return responses.pong()
        ctx = InteractionContext(interaction, self.settings, self.stores)
        name = str(ctx.data.get("name") or ctx.data.get("custom_id", "")).split(":", 1)[0]
        log.info("interaction", extra={"interaction_id": ctx.id, "kind": kind, "command": name,
                                       "guild_id": ctx.guild_id})
        try:
            return self._route(kind, ctx)
        except BotError as exc:
            if kind == InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE:
                return responses.autocomplete([])
            log.info("refused", extra={"interaction_id": ctx.id, "reason": type(exc).__name__})
            return responses.reply(exc.user_message, ephemeral=True)
        except Exception:
            log.exception("handler failed", extra={"interaction_id": ctx.id, "command": name})
            if kind == InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE:
                return responses.autocomplete([])
            return responses.reply(GENERIC_FAILURE, ephemeral=True)

    def _route(self, kind: int, ctx: InteractionContext) -> dict[str, Any]:
        if kind == InteractionType.APPLICATION_COMMAND:
            command = self.registry.command(str(ctx.data["name"]), int(ctx.data.get("type") or 1))
            if command is None:
                raise UnknownInteraction
            return command.handler(ctx)
        if kind == InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE:
            command = self.registry.command(str(ctx.data["name"]), int(ctx.data.get("type") or 1))
            if command is None or command.autocomplete is None:
                return responses.autocomplete([])
            option, value = ctx.focused_option()
            return responses.autocomplete(command.autocomplete(ctx, option, value))
        route = self.registry.route(str(ctx.data["custom_id"]), modal=kind == InteractionType.MODAL_SUBMIT)
        if route is None:
            raise UnknownInteraction
        return route.handler(ctx)
