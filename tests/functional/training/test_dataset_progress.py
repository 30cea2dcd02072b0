"""A long rename or delete shows its progress in the deferred reply, then the final count.

The worker's clock is injected: each reading is one second after the last, so the edits' spacing is set by how
many batches were written, not by how fast this machine is.
"""

from __future__ import annotations

import itertools

import pytest

from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.progress import PROGRESS_INTERVAL_SECONDS
from functions.worker.services import WorkerServices
from infra import interactions as build
from shared.discord.rest import DiscordRest
from shared.storage.datasets import MAX_EXAMPLES_PER_TRANSACTION
from tests.conftest import APPLICATION_ID
from tests.functional.training.conftest import GUILD, TRAINER
from tests.support.examples import chat

SIZE = 300  # 3 copy transactions and 12 delete requests of 25: enough for several edits


@pytest.fixture
def stack(make_stack):
    stack = make_stack()
    seconds = itertools.count()
    ctx = WorkerServices(stack.settings, aws=stack.aws.clients,
                         discord=DiscordRest(stack.settings, sleep=stack.sleeps.append),
                         clock=lambda: float(next(seconds)))
    worker = build_worker(stack.settings, ctx=ctx)
    stack.runner = LocalRunner(worker.handle_batch, stack.aws.clients.sqs, stack.settings.jobs_queue_url,
                               wait_seconds=0)
    examples = [chat(f"Question {i}?", f"Answer {i}.") for i in range(SIZE)]
    datasets = stack.stores.datasets
    datasets.ensure_dataset(GUILD, "faq")
    for start in range(0, SIZE, MAX_EXAMPLES_PER_TRANSACTION):
        datasets.add_examples(GUILD, "faq", examples[start:start + MAX_EXAMPLES_PER_TRANSACTION], upload_id="seed")
    assert stack.dataset_size("faq") == SIZE
    return stack


def test_the_interval_is_a_few_seconds():
    assert 2 <= PROGRESS_INTERVAL_SECONDS <= 10


def test_a_long_rename_reports_its_progress_then_the_count(stack):
    interaction = stack.command("dataset_rename", {"dataset": "faq", "new_name": "support"})
    final = stack.run(interaction)
    edits = [e["content"] for e in stack.fake.edits(interaction["token"])]
    progress, last = edits[:-1], edits[-1]
    # One edit every third reading of the clock (3 s): after the third copy, then every third delete request.
    assert progress == [
        "⏳ Renaming **faq** to **support**… 297 of 300 examples copied.",
        *(f"⏳ Renaming **faq** to **support**… all 300 copied; removing the old name: {n} of 300."
          for n in (75, 150, 225, 300)),
    ]
    assert last == final["content"] and final["content"].startswith("Renamed **faq** to **support** (300 examples).")
    assert stack.dataset_size("support") == SIZE and stack.stores.datasets.get_dataset(GUILD, "faq") is None


def test_a_long_delete_reports_its_progress_then_the_count(stack):
    pressed = build.component("dsdel:faq", message=build.bot_message(application_id=APPLICATION_ID, content=""),
                              **TRAINER)
    assert stack.client.send(pressed)["type"] == 5
    assert stack.work()["failed"] == 0
    edits = [e["content"] for e in stack.fake.edits(pressed["token"])]
    assert edits[:-1] == [f"⏳ Deleting **faq**… {n} of 300 examples deleted." for n in (75, 150, 225, 300)]
    assert edits[-1].startswith("Deleted dataset **faq** and its 300 examples.")
    assert stack.stores.datasets.get_dataset(GUILD, "faq") is None


def test_a_small_rename_is_one_reply(make_stack):
    stack = make_stack()
    stack.stores.datasets.ensure_dataset(GUILD, "tiny")
    stack.stores.datasets.add_examples(GUILD, "tiny", [chat("Hi?", "Hello.")], upload_id="seed")
    interaction = stack.command("dataset_rename", {"dataset": "tiny", "new_name": "small"})
    final = stack.run(interaction)
    assert [e["content"] for e in stack.fake.edits(interaction["token"])] == [final["content"]]


def test_a_rate_limited_progress_edit_is_waited_out_and_a_failed_one_does_not_stop_the_task(stack):
    # The first progress edit meets a 429 (the REST client waits it out), and its retry a 403: that edit is lost,
    # the delete goes on, and the next edits and the final reply go through.
    stack.fake.fail_next(429, method="PATCH", path_contains="/messages/@original", retry_after=0.25)
    stack.fake.fail_next(403, method="PATCH", path_contains="/messages/@original")
    pressed = build.component("dsdel:faq", message=build.bot_message(application_id=APPLICATION_ID, content=""),
                              **TRAINER)
    stack.client.send(pressed)
    assert stack.work()["failed"] == 0
    assert len(stack.sleeps) == 1 and 0 < stack.sleeps[0] <= 0.25  # the retry-after, waited out once
    edits = [e["content"] for e in stack.fake.edits(pressed["token"])]
    assert edits[:-1] == [f"⏳ Deleting **faq**… {n} of 300 examples deleted." for n in (150, 225, 300)]
    assert edits[-1].startswith("Deleted dataset **faq** and its 300 examples.")
