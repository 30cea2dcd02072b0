"""An /archive zip loads back with /train: the same examples (flags, pairs, authors), checked against its
manifest, no duplicates on a second load; a zip that does not match its manifest is refused whole."""

from __future__ import annotations

import io
import json
import zipfile

from shared.domain.examples import ChatMessage, Example
from tests.functional.training.conftest import GUILD, chat_line


def archived(stack) -> bytes:
    body = b"\n".join([chat_line("q1", "a1"), chat_line("q2", "a2"), chat_line("q3", "a3")])
    stack.run(stack.command("train", {"dataset": "faq"}, file=stack.attachment("faq.jsonl", body)))
    stack.run(stack.command("train", {"dataset": "faq", "text": "Q: q4 A: rude answer", "positive": False}))
    pair = Example(messages=(ChatMessage("user", "q5"), ChatMessage("assistant", "good")), rejected="bad",
                   source="correction", added_by="7", added_at="2026-01-01T00:00:00Z", origin="123")
    stack.stores.datasets.add_examples(GUILD, "faq", [pair], upload_id="review")
    reply = stack.run(stack.command("archive", {"dataset": "faq"}))
    (attachment,) = reply["attachments"]
    return stack.fake.attachment_bytes(attachment["id"])


def contents(stack, name):
    return sorted(json.dumps({k: v for k, v in e.to_dict().items() if k != "origin"}, sort_keys=True)
                  for e in stack.stores.datasets.iter_examples(GUILD, name))


def test_an_archive_loads_back_into_a_new_dataset(stack):
    data = archived(stack)
    reply = stack.run(stack.command("train", {"dataset": "restored"},
                                    file=stack.attachment("faq-v1.zip", data, content_type="application/zip")))
    assert reply["content"].startswith("Dataset **restored**: added 5 examples.")
    assert "The dataset now holds 5 examples (4 positive, 1 negative)." in reply["content"]
    assert "the archive's examples kept their own positive/negative flags" in reply["content"]
    assert contents(stack, "restored") == contents(stack, "faq")
    again = stack.run(stack.command("train", {"dataset": "restored"},
                                    file=stack.attachment("faq-v1.zip", data, content_type="application/zip")))
    assert again["content"].startswith("Dataset **restored**: added 0 examples.")
    assert "Skipped 5 duplicates (5 already in the dataset)" in again["content"]
    assert stack.dataset_size("restored") == 5


def test_an_archive_that_does_not_match_its_manifest_is_refused_whole(stack):
    data = archived(stack)
    with zipfile.ZipFile(io.BytesIO(data)) as original:
        manifest = original.read("manifest.json")
        lines = original.read("examples.jsonl").decode().splitlines(keepends=True)
    lines[0] = lines[0].replace("a1", "edited")
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as archive:
        archive.writestr("examples.jsonl", "".join(lines))
        archive.writestr("manifest.json", manifest)
    upload = stack.attachment("x.zip", tampered.getvalue(), content_type="application/zip")
    reply = stack.run(stack.command("train", {"dataset": "restored"}, file=upload))
    assert reply["content"] == ("That archive does not match its manifest.json (the sha256 of examples.jsonl "
                                "differs), so none of it was added.")
    assert stack.stores.datasets.get_dataset(GUILD, "restored") is None
