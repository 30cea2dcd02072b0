"""/review: trainers decide which corrections and 👎 votes become training data.

The queue is shown a page at a time (ephemeral): for each item the question, the bot's answer, the correction,
who and when, with Approve / Edit / Reject buttons. Approving adds the item to a dataset (``dataset`` option, the
selected one by default) as a preference pair, or a 👎 as a negative example; Edit opens a form prefilled with
the correction and approves what the trainer writes; Reject keeps it out of training. Buttons answer by updating
the page (an item decided meanwhile by another trainer says so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.discord.components import DANGER, PRIMARY, SECONDARY, SUCCESS, button, custom_id, row
from shared.domain.examples import Example
from shared.errors import InvalidInput, NotFound

from .. import responses
from ..context import InteractionContext
from ..registry import GUILD_ONLY, Command, Option, OptionType, Route

PAGE_SIZE = 4
MAX_QUOTE = 300
MAX_CORRECTION = 4000
ALREADY = "That one was already reviewed (or replaced by a newer correction)."

if TYPE_CHECKING:
    from shared.storage.reviews import ReviewItem


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def add_to_dataset(ctx: InteractionContext, guild_id: str, dataset: str, example: Example, *, upload_id: str) -> str:
    """Store ``example`` in ``dataset`` (the selected dataset is created on first use); its name."""
    store = ctx.stores.datasets
    info = store.ensure_dataset(guild_id, dataset, created_by=ctx.user_id)
    store.add_examples(guild_id, info.name, [example], upload_id=upload_id)
    return info.name


def review_dataset(ctx: InteractionContext, guild_id: str, given: str | None) -> str:
    """The dataset approvals go into: ``given`` (which must exist), else the guild's selected one."""
    store = ctx.stores.datasets
    selected = store.guild_settings(guild_id).selected_dataset
    if given and given != selected:
        return store.require_dataset(guild_id, given).name
    return selected  # created with its first example if it does not exist yet


def _describe(number: int, item: ReviewItem) -> str:
    what = "Correction" if item.kind == "correction" else "👎 vote"
    lines = [f"**{number}. {what}** by <@{item.user_id}>, {item.created_at}",
             f"> Q: {_quote(item.prompt)}", f"> Bot: {_quote(item.answer)}"]
    if item.correction:
        lines.append(f"> Correction: {_quote(item.correction)}")
    return "\n".join(lines)


def render_page(ctx: InteractionContext, guild_id: str, dataset: str, page: int, note: str = "") -> dict[str, Any]:
    """The message data of one page of the queue (content and buttons)."""
    pending = ctx.stores.reviews.pending(guild_id)
    pages = max(1, -(-len(pending) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = pending[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    head = [note] if note else []
    if not pending:
        head.append("Nothing waits for review. Members' corrections and 👎 votes appear here.")
        return responses.message_data("\n".join(head), ephemeral=True)
    head.append(f"**{len(pending)} waiting for review** (page {page} of {pages}). "
                f"Approved items go into dataset **{dataset}** (`/review dataset:` to choose another).")
    blocks = [_describe((page - 1) * PAGE_SIZE + i + 1, item) for i, item in enumerate(shown)]
    components = []
    for i, item in enumerate(shown):
        n = (page - 1) * PAGE_SIZE + i + 1
        components.append(row(
            button(custom_id("review", "a", item.ref, dataset), label=f"Approve {n}", style=SUCCESS),
            button(custom_id("review", "e", item.ref, dataset), label=f"Edit {n}", style=PRIMARY),
            button(custom_id("review", "r", item.ref, dataset, str(page)), label=f"Reject {n}", style=DANGER),
        ))
    if pages > 1:
        nav = []
        if page > 1:
            nav.append(button(custom_id("review", "p", str(page - 1), dataset), label="◀ Previous", style=SECONDARY))
        if page < pages:
            nav.append(button(custom_id("review", "p", str(page + 1), dataset), label="Next ▶", style=SECONDARY))
        components.append(row(*nav))
    content = responses.clip("\n".join(head) + "\n\n" + "\n\n".join(blocks))
    return responses.message_data(content, ephemeral=True, components=components)


def review_command(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    options = ctx.options()
    dataset = review_dataset(ctx, guild_id, str(options["dataset"]) if options.get("dataset") else None)
    given = options.get("page")
    page = given if isinstance(given, int) else 1
    return {"type": 4, "data": render_page(ctx, guild_id, dataset, page)}


def _find(ctx: InteractionContext, guild_id: str, ref: str) -> ReviewItem:
    from shared.storage.reviews import parse_ref

    parsed = parse_ref(ref)
    if parsed is None:
        raise InvalidInput("That button is not a review.")
    item = ctx.stores.reviews.get(guild_id, *parsed)
    if item is None:
        raise NotFound("That correction is gone (replaced or removed).")
    return item


def approve(ctx: InteractionContext, guild_id: str, item: ReviewItem, dataset: str,
            correction: str | None = None) -> str:
    """Add the item to ``dataset`` and mark it approved; the note the page shows."""
    from shared.storage.reviews import APPROVED, AlreadyReviewed

    if item.status != "pending":
        raise AlreadyReviewed(item.ref)
    example = item.example(correction=correction)
    name = add_to_dataset(ctx, guild_id, dataset, example, upload_id=f"review-{item.ref}")
    ctx.stores.reviews.decide(item, status=APPROVED, reviewer=ctx.user_id, dataset=name, correction=correction)
    kind = "a preference pair" if example.rejected is not None else "a negative example"
    return f"✅ Approved: added to **{name}** as {kind}."


def review_button(ctx: InteractionContext) -> dict[str, Any]:
    from shared.storage.reviews import REJECTED, AlreadyReviewed

    guild_id = ctx.require_trainer()
    parts = ctx.custom_id_parts  # review : action : kind : message : user : dataset [: page]
    action = parts[1] if len(parts) > 1 else ""
    if action == "p" and len(parts) == 4 and parts[2].isdigit():
        dataset = review_dataset(ctx, guild_id, parts[3])
        return {"type": 7, "data": render_page(ctx, guild_id, dataset, int(parts[2]))}
    if action not in ("a", "e", "r") or len(parts) < 6:
        raise InvalidInput("That button is not a review.")
    item = _find(ctx, guild_id, ":".join(parts[2:5]))
    dataset = review_dataset(ctx, guild_id, parts[5])
    if action == "e":
        if item.status != "pending":
            return {"type": 7, "data": render_page(ctx, guild_id, dataset, 1, ALREADY)}
        return responses.modal(
            custom_id("reviewedit", item.ref, dataset), "Edit, then approve",
            [responses.text_input("correction", "The answer it should have given",
                                  value=item.correction or item.answer, max_length=MAX_CORRECTION)])
    try:
        if action == "a":
            note = approve(ctx, guild_id, item, dataset)
        else:
            if item.status != "pending":
                raise AlreadyReviewed(item.ref)
            ctx.stores.reviews.decide(item, status=REJECTED, reviewer=ctx.user_id)
            note = "🗑️ Rejected: it will not be used for training."
    except AlreadyReviewed:
        note = ALREADY
    page = int(parts[6]) if len(parts) > 6 and parts[6].isdigit() else 1
    return {"type": 7, "data": render_page(ctx, guild_id, dataset, page, note)}


def review_edit(ctx: InteractionContext) -> dict[str, Any]:
    from shared.storage.reviews import AlreadyReviewed

    guild_id = ctx.require_trainer()
    parts = ctx.custom_id_parts  # reviewedit : kind : message : user : dataset
    if len(parts) != 5:
        raise InvalidInput("That form is not a review.")
    item = _find(ctx, guild_id, ":".join(parts[1:4]))
    dataset = review_dataset(ctx, guild_id, parts[4])
    text = ctx.modal_values().get("correction", "").strip()
    if not text:
        raise InvalidInput("The correction is empty.")
    if text == item.answer.strip():
        raise InvalidInput("That is the bot's own answer; change it to correct it, or Reject the item.")
    try:
        note = approve(ctx, guild_id, item, dataset, correction=text)
    except AlreadyReviewed:
        note = ALREADY
    return {"type": 7, "data": render_page(ctx, guild_id, dataset, 1, note.replace("Approved", "Approved your edit"))}


def complete_review(ctx: InteractionContext, option: str, value: str) -> list[tuple[str, str]]:
    from .training import complete_dataset

    return complete_dataset(ctx, option, value)


DECLARATIONS = (
    Command(
        "review", "Review members' corrections and 👎 votes before they become training data.", review_command,
        options=(
            Option("dataset", "Dataset approved items go into (default: the selected one)", OptionType.STRING,
                   autocomplete=True),
            Option("page", "Page of the queue", OptionType.INTEGER, min_value=1),
        ),
        autocomplete=complete_review, trainer=True, contexts=GUILD_ONLY,
    ),
    Route("review", review_button),
    Route("reviewedit", review_edit, modal=True),
)
