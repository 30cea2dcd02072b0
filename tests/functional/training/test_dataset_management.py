"""Dataset management through the handler and the worker: list, show, remove an example, rename, delete, and the
question /select_dataset asks before creating a dataset."""

from __future__ import annotations

from infra import interactions as build
from tests.conftest import APPLICATION_ID
from tests.functional.training.conftest import GUILD, TRAINER, chat_line

MESSAGE = build.bot_message(application_id=APPLICATION_ID, content="")


def fill(stack, name="faq", count=3, negative=0):
    options = {"dataset": name, "text": "Q: placeholder? A: yes."}
    stack.run(stack.command("train", options))
    data = b"\n".join(chat_line(f"Question {i}?", f"Answer {i}.") for i in range(count - 1))
    stack.run(stack.command("train", {"dataset": name}, file=stack.attachment("more.jsonl", data)))
    if negative:
        data = b"\n".join(chat_line(f"Bad {i}?", f"Rude {i}.") for i in range(negative))
        stack.run(stack.command("train", {"dataset": name, "positive": False},
                                file=stack.attachment("bad.jsonl", data)))


def press(stack, custom_id):
    return stack.client.send(build.component(custom_id, message=MESSAGE, **TRAINER))


def test_every_train_reply_names_the_dataset_and_the_kind_and_how_to_change_it(stack):
    reply = stack.run(stack.command("train", {"dataset": "faq", "text": "Q: Hi? A: Hello."}))
    assert "Stored as positive examples (to imitate) in **faq**. To change that: `/train positive:false`" in \
        reply["content"]
    reply = stack.run(stack.command("train", {"dataset": "faq", "text": "Q: Hi? A: Go away.", "positive": False}))
    assert "Stored as negative examples (to avoid) in **faq**" in reply["content"]


def test_selecting_an_unknown_name_asks_before_creating_it(stack):
    reply = stack.client.send(stack.command("select_dataset", {"dataset": "typo", "positive": False}))
    assert reply["data"]["content"] == "There is no dataset called **typo** yet. Create it and select it?"
    [create] = reply["data"]["components"][0]["components"]
    assert create["custom_id"] == "dsnew:typo:n"
    assert stack.stores.datasets.get_dataset(GUILD, "typo") is None
    created = press(stack, create["custom_id"])
    assert created["type"] == 7
    assert created["data"]["content"].startswith("Created and selected dataset **typo** (0 examples). `/train` "
                                                 "adds negative (to avoid) examples")
    settings = stack.stores.datasets.guild_settings(GUILD)
    assert (settings.selected_dataset, settings.default_positive) == ("typo", False)
    # An existing name is selected at once.
    assert stack.inline(stack.command("select_dataset", {"dataset": "typo"})).startswith("Selected dataset")


def test_list_and_show_with_pages_and_remove_an_example(stack):
    fill(stack, "faq", count=12, negative=2)
    fill(stack, "other", count=1)
    listing = stack.inline(stack.command("datasets"))
    assert "- **faq**: 14 examples (12 / 2)" in listing and "- **other**: 1 example (1 / 0)" in listing

    first = stack.client.send(stack.command("dataset_show", {"dataset": "faq"}))
    content = first["data"]["content"]
    assert content.startswith("**faq**: 14 examples (12 positive, 2 negative), page 1 of 2.")
    rows = [line for line in content.splitlines() if line.startswith("`")]
    assert len(rows) == 10
    [next_page] = first["data"]["components"][0]["components"]
    assert next_page["custom_id"] == "dsshow:faq:2"
    second = press(stack, "dsshow:faq:2")
    second_rows = [line for line in second["data"]["content"].splitlines() if line.startswith("`")]
    assert second["type"] == 7 and len(second_rows) == 4
    assert not set(rows) & set(second_rows)

    negative = next(r for r in rows + second_rows if "[−]" in r)
    example_id = negative.split("`")[1]
    removed = stack.inline(stack.command("dataset_remove", {"dataset": "faq", "example": example_id}))
    assert removed.startswith("Removed from **faq**") and "13 examples" in removed
    info = stack.stores.datasets.require_dataset(GUILD, "faq")
    assert (info.example_count, info.positive_count, info.negative_count) == (13, 12, 1)
    assert len(list(stack.stores.datasets.iter_examples(GUILD, "faq"))) == 13
    again = stack.inline(stack.command("dataset_remove", {"dataset": "faq", "example": example_id}))
    assert again == f"Dataset `faq` has no example `{example_id}`."
    bad = stack.inline(stack.command("dataset_remove", {"dataset": "faq", "example": "xyz"}))
    assert "at least 6 characters" in bad


def test_rename_moves_every_example_and_keeps_the_selection(stack):
    fill(stack, "faq", count=5, negative=1)
    stack.inline(stack.command("select_dataset", {"dataset": "faq"}))
    fill(stack, "taken", count=1)
    taken = stack.inline(stack.command("dataset_rename", {"dataset": "faq", "new_name": "taken"}))
    assert "There is already a dataset called `taken`" in taken
    reply = stack.run(stack.command("dataset_rename", {"dataset": "faq", "new_name": "support"}))
    assert reply["content"].startswith("Renamed **faq** to **support** (6 examples).")
    datasets = stack.stores.datasets
    assert datasets.get_dataset(GUILD, "faq") is None
    info = datasets.require_dataset(GUILD, "support")
    assert (info.example_count, info.positive_count, info.negative_count) == (6, 5, 1)
    assert len(list(datasets.iter_examples(GUILD, "support"))) == 6
    assert list(datasets.iter_examples(GUILD, "faq")) == []
    assert datasets.guild_settings(GUILD).selected_dataset == "support"


def test_delete_asks_first_and_keeps_archives(stack):
    fill(stack, "faq", count=3)
    stack.inline(stack.command("select_dataset", {"dataset": "faq"}))
    stack.run(stack.command("archive", {"dataset": "faq"}))
    archives = [k for k in stack.bucket_keys() if "/archives/" in k]
    asked = stack.client.send(stack.command("dataset_delete", {"dataset": "faq"}))
    assert asked["data"]["content"].startswith("Delete dataset **faq** and its 3 examples?")
    [confirm] = asked["data"]["components"][0]["components"]
    assert confirm["custom_id"] == "dsdel:faq"
    assert stack.dataset_size("faq") == 3  # nothing happens before the button

    members = stack.client.send(build.component("dsdel:faq", message=MESSAGE, application_id=APPLICATION_ID))
    assert "Manage Server" in members["data"]["content"]
    deferred = press(stack, "dsdel:faq")
    assert deferred["type"] == 5
    assert stack.work()["failed"] == 0
    datasets = stack.stores.datasets
    assert datasets.get_dataset(GUILD, "faq") is None
    assert list(datasets.iter_examples(GUILD, "faq")) == []
    assert datasets.guild_settings(GUILD).selected_dataset == "default"
    assert [k for k in stack.bucket_keys() if "/archives/" in k] == archives
    unknown = stack.client.send(stack.command("dataset_delete", {"dataset": "faq"}))
    assert unknown["data"]["content"] == "There is no dataset called `faq` in this server."
