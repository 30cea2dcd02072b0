"""Trainer commands: /train, /select_dataset, /archive and /getfile.

Only /select_dataset is answered inline (one DynamoDB write). The others check what they can at once (who asks,
names, the attachment's declared size and host) and leave the slow work to the worker: this function never
downloads an attachment; it passes the attachment's metadata from the signed ``resolved.attachments``.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.discord.attachment_rules import check_attachment_url, too_large
from shared.discord.components import row
from shared.discord.text import human_size
from shared.domain.names import validate_dataset_name, validate_file_id
from shared.errors import InvalidInput

from .. import responses
from ..context import InteractionContext
from ..deferral import defer_task
from ..registry import GUILD_ONLY, Command, Option, OptionType

log = logging.getLogger(__name__)

NEED_INPUT = (
    "Give `text` (one example, e.g. `Q: your question A: the answer`) or attach a `file` "
    "(.jsonl, .csv or .zip)."
)
MISSING_ATTACHMENT = "I could not see the attached file. Please attach it again."


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _attachment_args(ctx: InteractionContext, option_value: Any) -> dict[str, Any]:
    """What the worker needs to fetch the attachment, from the signed payload only."""
    attachment = ctx.resolved("attachments").get(str(option_value))
    if not isinstance(attachment, dict):
        raise InvalidInput(MISSING_ATTACHMENT)
    url = str(attachment.get("url") or "")
    size = attachment.get("size")
    if not url or type(size) is not int or size < 0:
        raise InvalidInput(MISSING_ATTACHMENT)
    limit = ctx.settings.max_attachment_bytes
    if size > limit:
        raise too_large(limit)
    check_attachment_url(url, ctx.settings)
    return {
        "id": str(attachment.get("id") or option_value),
        "filename": str(attachment.get("filename") or "upload")[:200],
        "url": url,
        "size": size,
        "content_type": str(attachment.get("content_type") or "")[:100],
    }


def train(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import TaskKind, TrainArgs

    ctx.require_trainer()
    options = ctx.options()
    text = str(options.get("text") or "").strip()
    file_option = options.get("file")
    if not text and not file_option:
        raise InvalidInput(NEED_INPUT)
    args = TrainArgs(
        text=text,
        attachment=_attachment_args(ctx, file_option) if file_option else None,
        dataset=validate_dataset_name(str(options["dataset"])) if options.get("dataset") else "",
        positive=_optional_bool(options.get("positive")),
        start=options.get("start") is True,
    )
    return defer_task(ctx, TaskKind.TRAIN, args, ephemeral=True)


def select_dataset(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    options = ctx.options()
    name = validate_dataset_name(str(options.get("dataset") or ""))
    store = ctx.stores.datasets
    positive = _optional_bool(options.get("positive"))
    if store.get_dataset(guild_id, name) is None:
        # A typo must not leave an empty dataset behind: ask first.
        from .datasets import create_button

        return responses.reply(f"There is no dataset called **{name}** yet. Create it and select it?",
                               ephemeral=True, components=[row(create_button(name, positive))])
    chosen = store.select_dataset(guild_id, name, positive=positive, created_by=ctx.user_id)
    return responses.reply(selected_reply(ctx, guild_id, chosen), ephemeral=True)


def selected_reply(ctx: InteractionContext, guild_id: str, chosen: Any, *, created: bool = False) -> str:
    info = ctx.stores.datasets.require_dataset(guild_id, chosen.selected_dataset)
    kind = "positive (to imitate)" if chosen.default_positive else "negative (to avoid)"
    plural = "s" if info.example_count != 1 else ""
    verb = "Created and selected" if created else "Selected"
    return (f"{verb} dataset **{info.name}** ({info.example_count} example{plural}). "
            f"`/train` adds {kind} examples to it unless you say otherwise "
            f"(`positive:` on `/train` for one upload, or `/select_dataset {info.name} positive:…` to change it).")


def archive(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import DatasetArgs, TaskKind

    ctx.require_trainer()
    dataset = ctx.options().get("dataset")
    args = DatasetArgs(dataset=validate_dataset_name(str(dataset)) if dataset else "")
    return defer_task(ctx, TaskKind.ARCHIVE, args, ephemeral=True)


def getfile(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import GetfileArgs, TaskKind

    ctx.require_trainer()
    name = validate_file_id(str(ctx.options().get("name") or ""))
    return defer_task(ctx, TaskKind.GETFILE, GetfileArgs(name=name), ephemeral=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def complete_dataset(ctx: InteractionContext, option: str, value: str) -> list[tuple[str, str]]:
    if option != "dataset":
        return []
    guild_id = ctx.require_trainer()
    return [(f"{d.name} ({_plural(d.example_count, 'example')})", d.name)
            for d in ctx.stores.datasets.list_datasets(guild_id, value)]


def complete_file(ctx: InteractionContext, option: str, value: str) -> list[tuple[str, str]]:
    if option != "name":
        return []
    guild_id = ctx.require_trainer()
    choices = []
    for record in ctx.stores.files.list_files(guild_id, value):
        detail = "exported fresh when you ask" if not record.key else f"{human_size(record.size)}, {record.created_at}"
        choices.append((f"{record.file_id} ({record.kind}, {detail})", record.file_id))
    return choices


DECLARATIONS = (
    Command(
        "train", "Add examples to the selected dataset, and optionally start fine-tuning.", train,
        options=(
            Option("text", "One example: 'Q: question A: answer', or a JSON line", OptionType.STRING),
            Option("file", "JSONL (chat or preference format), CSV (prompt,completion) or .zip",
                   OptionType.ATTACHMENT),
            Option("dataset", "Dataset to add to (default: the selected one)", OptionType.STRING,
                   autocomplete=True),
            Option("positive", "Examples to imitate (true) or to avoid (false)", OptionType.BOOLEAN),
            Option("start", "Start a fine-tune job afterwards", OptionType.BOOLEAN),
        ),
        autocomplete=complete_dataset, trainer=True, contexts=GUILD_ONLY,
    ),
    Command(
        "select_dataset", "Pick the dataset that /train and training use.", select_dataset,
        options=(
            Option("dataset", "Dataset name", OptionType.STRING, required=True, autocomplete=True),
            Option("positive", "Default for new examples: imitate (true) or avoid (false)", OptionType.BOOLEAN),
        ),
        autocomplete=complete_dataset, trainer=True, contexts=GUILD_ONLY,
    ),
    Command(
        "archive", "Snapshot a dataset into a versioned archive.", archive,
        options=(Option("dataset", "Dataset (default: the selected one)", OptionType.STRING, autocomplete=True),),
        autocomplete=complete_dataset, trainer=True, contexts=GUILD_ONLY,
    ),
    Command(
        "getfile", "Get a file the bot keeps: an archive, an export, the corrections log.", getfile,
        options=(Option("name", "File name", OptionType.STRING, required=True, autocomplete=True),),
        autocomplete=complete_file, trainer=True, contexts=GUILD_ONLY,
    ),
)
