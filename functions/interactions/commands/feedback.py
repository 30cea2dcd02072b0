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
from shared.errors import Forbidden, InvalidInput

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, CommandType, Option, OptionType, Route

MAX_FEEDBACK = 2000
MAX_CORRECTION = 4000
_MESSAGE_LINK = re.compile(r"^https://(?:\w+\.)?discord(?:app)?\.com/channels/(\d+|@me)/(\d+)/(\d+)/?$")
_SNOWFLAKE = re.compile(r"^\d{15,21}$")
NO_RECORD = ("I have no record of the question behind that message, so it cannot become training data; "
             "the trainers can read it as feedback.")


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


def _is_trainer(ctx: InteractionContext) -> bool:
    try:
        ctx.require_trainer()
    except Forbidden:
        return False
    return True


def vote(ctx: InteractionContext) -> dict[str, Any]:
    from shared.storage.reviews import ReviewItem

    guild_id = ctx.require_guild()
    parts = ctx.custom_id_parts
    rating = parts[1] if len(parts) > 1 else ""
    if rating not in ("up", "down"):
        raise InvalidInput("That button is not a vote.")
    message_id = str(ctx.message.get("id", ""))
    now = utc_now()
    # A 👍 after a 👎 replaces the vote record, and so takes it out of the review queue.
    ctx.stores.feedback.set_vote(
        Feedback(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, kind=rating,
                 message_id=message_id, channel_id=ctx.channel_id, created_at=now)
    )
    if rating == "up":
        return responses.reply("Thanks! Marked as a good answer.", ephemeral=True)
    exchange = ctx.stores.exchanges.get(guild_id, message_id)
    if exchange is None:
        return responses.reply(f"Thanks! Marked as a poor answer. {NO_RECORD}", ephemeral=True)
    if _is_trainer(ctx):
        from .review import add_to_dataset

        dataset = ctx.stores.datasets.guild_settings(guild_id).selected_dataset
        item = ReviewItem(guild_id, "downvote", message_id, ctx.user_id, exchange.prompt, exchange.answer,
                          created_at=now)
        name = add_to_dataset(ctx, guild_id, dataset, item.example(), upload_id=f"review-{item.ref}")
        ctx.stores.reviews.mark_vote_approved(guild_id, message_id, ctx.user_id, prompt=exchange.prompt,
                                                answer=exchange.answer, dataset=name, reviewer=ctx.user_id)
        return responses.reply(
            f"Thanks! Marked as a poor answer and added to dataset **{name}** as a negative example (you are a "
            "trainer, so it counts as approved). Press **Correct** to say what it should have been.",
            ephemeral=True)
    ctx.stores.reviews.queue_vote(guild_id, message_id, ctx.user_id, prompt=exchange.prompt,
                                    answer=exchange.answer, created_at=now)
    return responses.reply(
        "Thanks! Marked as a poor answer; a trainer will review it. Press **Correct** to say what it should "
        "have been.", ephemeral=True)


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
    exchange = ctx.stores.exchanges.get(guild_id, message_id)
    # The answer text only: the message around it may quote a transcript or say the provider is simulated.
    return _correction_modal(message_id, exchange.answer if exchange is not None else "")


def fix_button(ctx: InteractionContext) -> dict[str, Any]:
    return _open_correction(ctx, ctx.message)


def correct_menu(ctx: InteractionContext) -> dict[str, Any]:
    target = str(ctx.data.get("target_id", ""))
    message = ctx.resolved("messages").get(target)
    if not isinstance(message, dict):
        raise InvalidInput("I could not see that message.")
    return _open_correction(ctx, message)


def _store_correction(ctx: InteractionContext, message_id: str, correction: str) -> dict[str, Any]:
    from shared.storage.reviews import ReviewItem

    guild_id = ctx.require_guild()
    correction = correction.strip()
    if not correction:
        raise InvalidInput("The correction is empty.")
    if len(correction) > MAX_CORRECTION:
        raise InvalidInput(f"Keep the correction under {MAX_CORRECTION} characters.")
    exchange = ctx.stores.exchanges.get(guild_id, message_id)
    now = utc_now()
    if exchange is None:
        # No question to pair it with: it cannot train a model, but the trainers can read it.
        ctx.stores.feedback.add_feedback(
            Feedback(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, kind="text",
                     text=f"Correction: {correction}"[:MAX_FEEDBACK], message_id=message_id,
                     channel_id=ctx.channel_id, created_at=now))
        return responses.reply(f"Saved as feedback. {NO_RECORD}", ephemeral=True)
    if correction == exchange.answer.strip():
        raise InvalidInput("That is the same as the original answer; change it to correct it.")
    record = Correction(guild_id=guild_id, interaction_id=ctx.id, user_id=ctx.user_id, message_id=message_id,
                        original_text=exchange.answer, correction=correction, channel_id=ctx.channel_id,
                        prompt=exchange.prompt, created_at=now)
    if _is_trainer(ctx):
        from .review import add_to_dataset

        dataset = ctx.stores.datasets.guild_settings(guild_id).selected_dataset
        item = ReviewItem(guild_id, "correction", message_id, ctx.user_id, exchange.prompt, exchange.answer,
                          correction=correction, created_at=now)
        name = add_to_dataset(ctx, guild_id, dataset, item.example(), upload_id=f"review-{item.ref}-{ctx.id}")
        ctx.stores.reviews.save_correction(record, approved_into=name, reviewer=ctx.user_id)
        return responses.reply(
            f"Correction saved and added to dataset **{name}** as a preference pair: you are a trainer, so it "
            "counts as approved.", ephemeral=True)
    ctx.stores.reviews.save_correction(record)
    return responses.reply(
        "Correction saved. A trainer will review it before it becomes training data; "
        "correcting this answer again replaces it.", ephemeral=True
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
