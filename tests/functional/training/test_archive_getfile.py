"""/archive and /getfile: snapshots and the corrections log, attached to the edited reply or linked."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
import requests

from functions.worker.processor import retry_delay
from infra import interactions as build
from shared.errors import NotSaved
from shared.storage.exchanges import Exchange
from shared.storage.files import FileStore
from shared.storage.table import DataTable
from tests.conftest import APPLICATION_ID
from tests.functional.training.conftest import GUILD, TRAINER, chat_line


def train_faq(stack) -> None:
    body = b"\n".join([chat_line("q1", "a1"), chat_line("q2", "a2"), chat_line("q3", "a3")])
    stack.run(stack.command("train", {"dataset": "faq"}, file=stack.attachment("faq.jsonl", body)))
    stack.run(stack.command("train", {"dataset": "faq", "text": "Q: q4 A: rude answer", "positive": False}))


def attached(stack, message) -> tuple[str, bytes]:
    (attachment,) = message["attachments"]
    return attachment["filename"], stack.fake.attachment_bytes(attachment["id"])


def test_archive_returns_a_zip_whose_manifest_matches(stack):
    train_faq(stack)
    stack.inline(stack.command("select_dataset", {"dataset": "faq"}))
    reply = stack.run(stack.command("archive"))  # the selected dataset

    assert reply["content"].startswith("Archived **faq** as `archive-faq-v1`")
    assert "4 examples, 3 positive, 1 negative" in reply["content"]
    filename, data = attached(stack, reply)
    assert filename.startswith("faq-v1-") and filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        examples = archive.read("examples.jsonl")
    assert manifest["dataset"] == "faq" and manifest["version"] == 1
    assert manifest["counts"] == {"examples": 4, "positive": 3, "negative": 1, "preference_pairs": 0}
    assert manifest["files"]["examples.jsonl"]["sha256"] == hashlib.sha256(examples).hexdigest()
    assert manifest["created_by"] == build.DEFAULT_USER
    answers = sorted(json.loads(line)["messages"][-1]["content"] for line in examples.splitlines())
    assert answers == ["a1", "a2", "a3", "rude answer"]

    # A second archive is a new version; /getfile returns the first one unchanged.
    assert stack.run(stack.command("archive", {"dataset": "faq"}))["content"].startswith(
        "Archived **faq** as `archive-faq-v2`")
    again = stack.run(stack.command("getfile", {"name": "archive-faq-v1"}))
    assert attached(stack, again) == (filename, data)


def test_archive_over_the_interactions_upload_limit_is_a_presigned_link(stack):
    train_faq(stack)
    # The limit is the interaction's own attachment_size_limit, which Discord sends with every interaction.
    reply = stack.run(stack.command("archive", {"dataset": "faq"}, attachment_size_limit=100))
    assert reply["attachments"] == []
    assert "too large to attach" in reply["content"] and "valid for 15 minutes" in reply["content"]
    url = reply["content"].split("(<", 1)[1].split(">)", 1)[0]
    assert f"guilds/{GUILD}/archives/faq/v1-" in url and "Signature" in url
    # The link works (moto serves presigned GETs) and is the archive itself.
    with zipfile.ZipFile(io.BytesIO(requests.get(url, timeout=10).content)) as archive:
        assert json.loads(archive.read("manifest.json"))["counts"]["examples"] == 4


def test_archive_of_an_empty_or_unknown_dataset_says_so(stack):
    assert stack.run(stack.command("archive", {"dataset": "nothing"}))["content"] == (
        "There is no dataset called `nothing` in this server.")
    stack.stores.datasets.select_dataset(GUILD, "fresh")
    assert "is empty" in stack.run(stack.command("archive"))["content"]


def test_getfile_corrections_log_holds_a_correction_from_the_modal(stack):
    answer = build.bot_message(application_id=APPLICATION_ID, content="The capital of France is Lyon.")
    stack.stores.exchanges.add(Exchange(guild_id=GUILD, message_id=answer["id"], channel_id="1", user_id="2",
                                          prompt="Capital of France?", answer=answer["content"], model="m"))
    base = {"application_id": APPLICATION_ID}
    opened = stack.client.send(build.message_command("Correct this answer", target=answer, **base))
    saved = stack.client.send(build.modal_submit(opened["data"]["custom_id"],
                                                 values={"correction": "It is Paris."}, **base))
    assert saved["data"]["content"].startswith("Correction saved.")
    stack.client.send(build.slash("feedback", options={"text": "Answers are too long"}, **base))

    choices = stack.client.send(build.autocomplete("getfile", focused="name", value="corr", **TRAINER))
    assert [c["value"] for c in choices["data"]["choices"]] == ["corrections-log"]

    reply = stack.run(stack.command("getfile", {"name": "corrections-log"}))
    filename, data = attached(stack, reply)
    assert filename.startswith("corrections-log-") and filename.endswith(".jsonl")
    rows = [json.loads(line) for line in data.splitlines()]
    (correction,) = [r for r in rows if r["type"] == "correction"]
    assert (correction["original_text"], correction["correction"]) == ("The capital of France is Lyon.",
                                                                       "It is Paris.")
    assert correction["message_id"] == answer["id"]
    assert (correction["prompt"], correction["status"]) == ("Capital of France?", "pending")
    assert [r["text"] for r in rows if r["type"] == "feedback"] == ["Answers are too long"]


def test_getfile_of_an_empty_corrections_log(stack):
    reply = stack.run(stack.command("getfile", {"name": "corrections-log"}))
    assert reply["content"] == "`corrections-log` is empty so far: there is nothing in it yet."


def test_getfile_never_reaches_another_guilds_file(stack):
    train_faq(stack)
    stack.run(stack.command("archive", {"dataset": "faq"}))
    other = stack.command("getfile", {"name": "archive-faq-v1"}, guild_id="200000000000000999")
    reply = stack.run(other)
    assert reply["content"].startswith("There is no file called `archive-faq-v1` in this server.")
    assert reply["attachments"] == []
    choices = stack.client.send(build.autocomplete("getfile", focused="name", value="", guild_id=other["guild_id"],
                                                   **TRAINER))
    assert [c["value"] for c in choices["data"]["choices"]] == ["corrections-log"]


def test_archive_whose_reply_failed_resends_the_same_version_on_redelivery(stack, sqs_clock):
    train_faq(stack)
    interaction = stack.command("archive", {"dataset": "faq"})
    stack.deferred(interaction)
    # Discord fails the edit through every retry of the REST client (6 attempts): the record fails, SQS
    # delivers it again, and this time the edit goes through.
    stack.fake.fail_next(503, times=6, method="PATCH")
    assert stack.work()["failed"] == 1
    sqs_clock.advance(retry_delay(1))
    assert stack.work()["failed"] == 0
    reply = stack.fake.original(interaction["token"])
    assert reply["content"].startswith("Archived **faq** as `archive-faq-v1`")
    archives = [key for key in stack.bucket_keys() if "/archives/" in key]
    assert len(archives) == 1


def _fail_once(monkeypatch, owner, name, when):
    real = getattr(owner, name)
    failed = []

    def flaky(self, *args, **kwargs):
        if not failed and when(*args, **kwargs):
            failed.append(1)
            raise NotSaved(detail=f"{name} failed once (test)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    return failed


@pytest.mark.parametrize(("owner", "method", "when", "version"), [
    # The request marker (version and time) is not written: the retry reserves again and makes one archive. The
    # first reserved number is not reused (a version names one snapshot for ever), so this one is v2.
    (DataTable, "put_new", lambda item: item["sk"].startswith("REQUEST#ARCHIVE#"), 2),
    # The archive is uploaded but not recorded: the retry finishes that version rather than making another.
    (FileStore, "register", lambda record, **kw: record.kind == "archive", 1),
], ids=["marker-write-failed", "stopped-between-upload-and-record"])
def test_an_archive_interrupted_once_makes_exactly_one_version(stack, sqs_clock, monkeypatch, owner, method, when,
                                                               version):
    train_faq(stack)
    failed = _fail_once(monkeypatch, owner, method, when)
    interaction = stack.command("archive", {"dataset": "faq"})
    stack.deferred(interaction)
    assert stack.work()["failed"] == 1 and failed
    sqs_clock.advance(retry_delay(1))
    assert stack.work()["failed"] == 0
    assert len([key for key in stack.bucket_keys() if "/archives/" in key]) == 1
    reply = stack.fake.original(interaction["token"])["content"]
    assert reply.startswith(f"Archived **faq** as `archive-faq-v{version}`")


def test_the_upload_limit_follows_the_interaction_else_discords_default(make_stack):
    stack = make_stack(discord_upload_limit_bytes=100)
    train_faq(stack)
    # A boosted server's larger limit wins over the configured default...
    reply = stack.run(stack.command("archive", {"dataset": "faq"}, attachment_size_limit=50 * 1024 * 1024))
    assert len(reply["attachments"]) == 1
    # ...and without the field, the configured default applies.
    reply = stack.run(stack.command("getfile", {"name": "archive-faq-v1"}, attachment_size_limit=None))
    assert reply["attachments"] == [] and "too large to attach" in reply["content"]


def test_discords_default_upload_limit_is_10_mib():
    from shared.config import Settings

    assert Settings().discord_upload_limit_bytes == 10 * 1024 * 1024
