"""/hi, /instruction, and /set_instruction (trainers edit the text /instruction shows)."""

from __future__ import annotations

from typing import Any

from shared.discord.components import custom_id

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, Route

# Discord's limit on a text input in a form.
MAX_INSTRUCTION = 4000


def hi(_ctx: InteractionContext) -> dict[str, Any]:
    return responses.reply("HI!")


def instruction(ctx: InteractionContext) -> dict[str, Any]:
    return responses.reply(ctx.stores.instructions.get(ctx.guild_id), ephemeral=True)


def set_instruction(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    current = ctx.stores.instructions.get(guild_id)
    return responses.modal(
        custom_id("instruction", "edit"),
        "This server's instruction",
        [responses.text_input("text", "Shown by /instruction (empty: the default)", value=current,
                              required=False, max_length=MAX_INSTRUCTION)],
    )


def instruction_submitted(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    text = ctx.modal_values().get("text", "")
    ctx.stores.instructions.put(guild_id, text)
    saved = "Saved. `/instruction` shows it from now on." if text.strip() else (
        "Cleared. `/instruction` shows the default text again.")
    return responses.reply(saved, ephemeral=True)


DECLARATIONS = (
    Command("hi", "Say hi to the bot.", hi),
    Command("instruction", "Show how to teach this server's model.", instruction),
    Command("set_instruction", "Edit the text /instruction shows in this server.", set_instruction,
            trainer=True, contexts=GUILD_ONLY),
    Route("instruction", instruction_submitted, modal=True),
)
