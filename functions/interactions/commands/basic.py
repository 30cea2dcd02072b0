"""/hi and /instruction."""

from __future__ import annotations

from typing import Any

from .. import responses
from ..context import InteractionContext
from ..registry import Command


def hi(_ctx: InteractionContext) -> dict[str, Any]:
    return responses.reply("HI!")


def instruction(ctx: InteractionContext) -> dict[str, Any]:
    return responses.reply(ctx.services.instructions.get(ctx.guild_id), ephemeral=True)


DECLARATIONS = (
    Command("hi", "Say hi to the bot.", hi),
    Command("instruction", "Show how to teach this server's model.", instruction),
)
