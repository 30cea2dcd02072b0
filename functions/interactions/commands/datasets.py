"""Managing a server's datasets: /datasets, /dataset_show, /dataset_remove, /dataset_rename, /dataset_delete, and
the Create button that /select_dataset offers for a name that does not exist yet.

Listing, showing and removing one example are answered inline; renaming and deleting touch every example and go
to the worker. Deleting asks for a confirmation first; archives in the bucket are kept either way.
"""

from __future__ import annotations

from typing import Any

from shared.discord.components import DANGER, SECONDARY, SUCCESS, button, custom_id, row
from shared.domain.names import validate_dataset_name
from shared.errors import InvalidInput

from .. import responses
from ..context import InteractionContext
from ..deferral import defer_task
from ..registry import GUILD_ONLY, Command, Option, OptionType, Route

PAGE_SIZE = 10
MAX_LIST = 50
MAX_TEXT = 120


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def list_datasets(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    store = ctx.stores.datasets
    selected = store.guild_settings(guild_id).selected_dataset
    found = store.list_datasets(guild_id, "", limit=MAX_LIST)
    if not found:
        return responses.reply("No datasets yet. `/select_dataset name` creates one; `/train` adds examples.",
                               ephemeral=True)
    lines = [f"**{len(found)} dataset{'s' if len(found) != 1 else ''}** (examples: positive / negative):"]
    for info in found:
        mark = " ← selected" if info.name == selected else ""
        lines.append(f"- **{info.name}**: {_plural(info.example_count, 'example')} ({info.positive_count} / "
                     f"{info.negative_count}){mark}")
    lines.append("`/dataset_show` lists a dataset's examples; `/select_dataset` picks the one `/train` uses.")
    return responses.reply("\n".join(lines), ephemeral=True)


def _render_show(ctx: InteractionContext, guild_id: str, name: str, page: int) -> dict[str, Any]:
    store = ctx.stores.datasets
    info = store.require_dataset(guild_id, name)
    pages = max(1, -(-info.example_count // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = store.page_of_examples(guild_id, info.name, page, page_size=PAGE_SIZE)
    lines = [f"**{info.name}**: {_plural(info.example_count, 'example')} ({info.positive_count} positive, "
             f"{info.negative_count} negative), page {page} of {pages}."]
    for example_id, example in shown:
        kind = "pair" if example.rejected is not None else ("+" if example.positive else "−")
        prompt = next((m.content for m in reversed(example.prompt) if m.role == "user"), "")
        lines.append(f"`{example_id}` [{kind}] Q: {_short(prompt)} → A: {_short(example.answer)}")
    if info.example_count:
        lines.append("Remove one with `/dataset_remove dataset:… example:<id>`.")
    nav = []
    if page > 1:
        nav.append(button(custom_id("dsshow", info.name, str(page - 1)), label="◀ Previous", style=SECONDARY))
    if page < pages:
        nav.append(button(custom_id("dsshow", info.name, str(page + 1)), label="Next ▶", style=SECONDARY))
    return responses.message_data(responses.clip("\n".join(lines)), ephemeral=True,
                                  components=[row(*nav)] if nav else None)


def show_dataset(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    options = ctx.options()
    name = validate_dataset_name(str(options.get("dataset") or ""))
    given = options.get("page")
    page = given if isinstance(given, int) else 1
    return {"type": 4, "data": _render_show(ctx, guild_id, name, page)}


def show_page(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    parts = ctx.custom_id_parts
    if len(parts) != 3 or not parts[2].isdigit():
        raise InvalidInput("That button is not a page of a dataset.")
    return {"type": 7, "data": _render_show(ctx, guild_id, validate_dataset_name(parts[1]), int(parts[2]))}


def remove_example(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    options = ctx.options()
    name = validate_dataset_name(str(options.get("dataset") or ""))
    removed = ctx.stores.datasets.remove_example(guild_id, name, str(options.get("example") or ""))
    info = ctx.stores.datasets.require_dataset(guild_id, name)
    return responses.reply(f"Removed from **{name}**: “{_short(removed.answer)}”. It now holds "
                           f"{_plural(info.example_count, 'example')}.", ephemeral=True)


def rename_dataset(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import DatasetRenameArgs, TaskKind

    guild_id = ctx.require_trainer()
    options = ctx.options()
    old = validate_dataset_name(str(options.get("dataset") or ""))
    new = validate_dataset_name(str(options.get("new_name") or ""))
    ctx.stores.datasets.require_dataset(guild_id, old)
    if ctx.stores.datasets.get_dataset(guild_id, new) is not None:
        raise InvalidInput(f"There is already a dataset called `{new}`. Pick another name, or delete it first.")
    return defer_task(ctx, TaskKind.DATASET_RENAME, DatasetRenameArgs(dataset=old, new_name=new), ephemeral=True)


def delete_dataset(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    name = validate_dataset_name(str(ctx.options().get("dataset") or ""))
    info = ctx.stores.datasets.require_dataset(guild_id, name)
    return responses.reply(
        f"Delete dataset **{info.name}** and its {_plural(info.example_count, 'example')}? This cannot be undone; "
        "its archives are kept (`/getfile`).", ephemeral=True,
        components=[row(button(custom_id("dsdel", info.name), label=f"Delete {info.name}", style=DANGER))])


def confirm_delete(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import DatasetArgs, TaskKind

    ctx.require_trainer()
    parts = ctx.custom_id_parts
    if len(parts) != 2:
        raise InvalidInput("That button is not a dataset.")
    name = validate_dataset_name(parts[1])
    return defer_task(ctx, TaskKind.DATASET_DELETE, DatasetArgs(dataset=name), ephemeral=True)


def create_button(name: str, positive: bool | None) -> dict[str, Any]:
    flag = "-" if positive is None else ("p" if positive else "n")
    return button(custom_id("dsnew", name, flag), label=f"Create {name}", style=SUCCESS)


def confirm_create(ctx: InteractionContext) -> dict[str, Any]:
    """The Create button /select_dataset offers for a new name: create it and select it."""
    from .training import selected_reply

    guild_id = ctx.require_trainer()
    parts = ctx.custom_id_parts
    if len(parts) != 3 or parts[2] not in ("p", "n", "-"):
        raise InvalidInput("That button is not a dataset.")
    name = validate_dataset_name(parts[1])
    positive = None if parts[2] == "-" else parts[2] == "p"
    chosen = ctx.stores.datasets.select_dataset(guild_id, name, positive=positive, created_by=ctx.user_id)
    return {"type": 7, "data": responses.message_data(selected_reply(ctx, guild_id, chosen, created=True),
                                                      ephemeral=True)}


def _complete(ctx: InteractionContext, option: str, value: str) -> list[tuple[str, str]]:
    from .training import complete_dataset

    return complete_dataset(ctx, option, value)


_DATASET = Option("dataset", "Dataset name", OptionType.STRING, required=True, autocomplete=True)

DECLARATIONS = (
    Command("datasets", "List this server's datasets with their counts.", list_datasets, trainer=True,
            contexts=GUILD_ONLY),
    Command("dataset_show", "Show a dataset's examples, a page at a time.", show_dataset,
            options=(_DATASET, Option("page", "Page", OptionType.INTEGER, min_value=1)),
            autocomplete=_complete, trainer=True, contexts=GUILD_ONLY),
    Command("dataset_remove", "Remove one example from a dataset.", remove_example,
            options=(_DATASET, Option("example", "The example's id, as /dataset_show lists it", OptionType.STRING,
                                      required=True, max_length=64)),
            autocomplete=_complete, trainer=True, contexts=GUILD_ONLY),
    Command("dataset_rename", "Rename a dataset.", rename_dataset,
            options=(_DATASET, Option("new_name", "The new name", OptionType.STRING, required=True, max_length=32)),
            autocomplete=_complete, trainer=True, contexts=GUILD_ONLY),
    Command("dataset_delete", "Delete a dataset and its examples (asks first; archives are kept).", delete_dataset,
            options=(_DATASET,), autocomplete=_complete, trainer=True, contexts=GUILD_ONLY),
    Route("dsshow", show_page),
    Route("dsdel", confirm_delete),
    Route("dsnew", confirm_create),
)
