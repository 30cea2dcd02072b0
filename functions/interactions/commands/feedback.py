"""Feedback and corrections: /feedback, 👍 / 👎 buttons, /correct, and the "Correct this answer" menu and modal.

Everything is written to DynamoDB before the reply says it is saved; keys derive from the interaction (or the
message and voter), so a replayed interaction stores nothing twice.
"""

from __future__ import annotations

import re
from typing import Any

from shared.discord.components import custom_id
from shared.domain.feedback import Correction, Feedback
from shared.domain.time import utc_now
from shared.errors import InvalidInput, NotFound

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, CommandType, Option, OptionType, Route

MAX_FEEDBACK = 2000
MAX_CORRECTION = 4000
_MESSAGE_LINK = re.compile(r"^https://(?:\w+\.)?discord(?:app)?\.com/channels/(\d+|@me)/(\d+)/(\d+)/?$")
_SNOWFLAKE = re.compile(r"^\d{15,21}$")


def parse_message_reference(value: str) -> str:
    """A message link or id → the message id."""
    value = value.strip()
    if _SNOWFLAKE.match(value):
        return value
    link = _MESSAGE_LINK.match(value)
    if link:
        return link.group(3)
    raise InvalidInput("Give a message link (More → Copy Message Link) or a message id.")


def feedback_command(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    options = ctx.options()
    text = str(options.get("text") or "").strip()
    if not text:
        raise InvalidInput("Feedback text is empty.")
    message_id = parse_message_reference(str(options["message"])) if options.get("message") else ""
    ctx.stores.feedback.add_feedback(
        Feedback(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, kind="text",
                 text=text[:MAX_FEEDBACK], message_id=message_id, channel_id=ctx.channel_id,
                 created_at=utc_now())
    )
    return responses.reply("Thanks, your feedback is saved.", ephemeral=True)


def vote(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    parts = ctx.custom_id_parts
    rating = parts[1] if len(parts) > 1 else ""
    if rating not in ("up", "down"):
        raise InvalidInput("That button is not a vote.")
    ctx.stores.feedback.set_vote(
        Feedback(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, kind=rating,
                 message_id=str(ctx.message.get("id", "")), channel_id=ctx.channel_id, created_at=utc_now())
    )
    thanks = "Thanks! Marked as a good answer." if rating == "up" else (
        "Thanks! Marked as a poor answer. Press **Correct** to say what it should have been."
    )
    return responses.reply(thanks, ephemeral=True)


def _correction_modal(message_id: str, original: str) -> dict[str, Any]:
    return responses.modal(
        custom_id("correct", message_id),
        "Correct this answer",
        [responses.text_input("correction", "The answer it should have given", value=original,
                              max_length=MAX_CORRECTION)],
    )


def _open_correction(ctx: InteractionContext, message: dict[str, Any]) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    author = message.get("author") or {}
    if str(author.get("id", "")) != ctx.application_id:
        raise InvalidInput("I can only take corrections of my own answers.")
    message_id = str(message.get("id", ""))
    original = str(message.get("content") or "")
    ctx.stores.feedback.save_draft(guild_id, message_id, original_text=original, channel_id=ctx.channel_id)
    return _correction_modal(message_id, original)


def fix_button(ctx: InteractionContext) -> dict[str, Any]:
    return _open_correction(ctx, ctx.message)


def correct_menu(ctx: InteractionContext) -> dict[str, Any]:
    target = str(ctx.data.get("target_id", ""))
    message = ctx.resolved("messages").get(target)
    if not isinstance(message, dict):
        raise InvalidInput("I could not see that message.")
    return _open_correction(ctx, message)


def _original_answer(ctx: InteractionContext, guild_id: str, message_id: str) -> tuple[str, str]:
    """(original text, prompt) of a bot answer, from the recorded exchange or the correction draft."""
    exchange = ctx.stores.exchanges.get(guild_id, message_id)
    if exchange is not None:
        return exchange.answer, exchange.prompt
    draft = ctx.stores.feedback.draft(guild_id, message_id)
    if draft is not None:
        return str(draft.get("original_text", "")), ""
    raise NotFound(
        "I can't find that answer of mine. Right-click it and use **Apps → Correct this answer** instead."
    )


def _store_correction(ctx: InteractionContext, message_id: str, correction: str) -> dict[str, Any]:
    guild_id = ctx.require_guild()
    correction = correction.strip()
    if not correction:
        raise InvalidInput("The correction is empty.")
    if len(correction) > MAX_CORRECTION:
        raise InvalidInput(f"Keep the correction under {MAX_CORRECTION} characters.")
    original, prompt = _original_answer(ctx, guild_id, message_id)
    if correction == original.strip():
        raise InvalidInput("That is the same as the original answer; change it to correct it.")
    ctx.stores.feedback.add_correction(
        Correction(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, message_id=message_id,
                   original_text=original, correction=correction, channel_id=ctx.channel_id, prompt=prompt,
                   created_at=utc_now())
    )
    return responses.reply(
        "Correction saved. The next training export uses it as the preferred answer.", ephemeral=True
    )


def correct_command(ctx: InteractionContext) -> dict[str, Any]:
    options = ctx.options()
    message_id = parse_message_reference(str(options.get("message") or ""))
    return _store_correction(ctx, message_id, str(options.get("correction") or ""))


def correct_modal(ctx: InteractionContext) -> dict[str, Any]:
    parts = ctx.custom_id_parts
    if len(parts) != 2 or not _SNOWFLAKE.match(parts[1]):
        raise InvalidInput("That form is not a correction.")
    return _store_correction(ctx, parts[1], ctx.modal_values().get("correction", ""))


DECLARATIONS = (
    Command(
        "feedback",
        "Tell the trainers what you think of the bot's answers.",
        feedback_command,
        options=(
            Option("text", "Your feedback", OptionType.STRING, required=True, max_length=MAX_FEEDBACK),
            Option("message", "Link to the bot message it is about (optional)", OptionType.STRING),
        ),
        contexts=GUILD_ONLY,
    ),
    Command(
        "correct",
        "Correct one of the bot's answers.",
        correct_command,
        options=(
            Option("message", "Link to (or id of) the bot's answer", OptionType.STRING, required=True),
            Option("correction", "What the answer should have been", OptionType.STRING, required=True,
                   max_length=MAX_CORRECTION),
        ),
        contexts=GUILD_ONLY,
    ),
    Command("Correct this answer", "", correct_menu, type=CommandType.MESSAGE, contexts=GUILD_ONLY),
    Route("vote", vote),
    Route("fix", fix_button),
    Route("correct", correct_modal, modal=True),
)
