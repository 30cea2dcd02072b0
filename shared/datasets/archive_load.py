"""Loading an ``/archive`` zip back with ``/train file:``: the same examples, checked against the manifest.

An archive is recognised by its two members, ``manifest.json`` (format ``discord-bot-trainer/archive@1``) and
``examples.jsonl`` (one example a line in the neutral form of :meth:`Example.to_dict`). Before any example is
used, ``examples.jsonl`` is read once to check its sha256 and its counts against the manifest: an archive that
does not match (edited, truncated, another tool's zip of the same names) is refused whole. Each example keeps
its own positive/negative flag, rejected answer, author and time; duplicates are left to the ingest, which
stores each example once.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from shared.datasets.limits import DatasetFileRejected, DatasetLimits
from shared.datasets.report import Rejection
from shared.domain.examples import ROLES, ChatMessage, Example

ARCHIVE_FORMAT = "discord-bot-trainer/archive@1"
MEMBERS = {"manifest.json", "examples.jsonl"}
MAX_MANIFEST_BYTES = 64 * 1024
NOT_MATCHING = "That archive does not match its manifest.json ({what}), so none of it was added."


class ArchivedExample(Example):
    """An example read back from an archive: it keeps its own positive/negative flag (the report says so)."""

    __slots__ = ()


def is_archive(archive: zipfile.ZipFile) -> bool:
    names = {i.filename for i in archive.infolist() if not i.is_dir()}
    if names != MEMBERS or archive.getinfo("manifest.json").file_size > MAX_MANIFEST_BYTES:
        return False
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (ValueError, zipfile.BadZipFile):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == ARCHIVE_FORMAT


def _example(line: bytes) -> ArchivedExample:
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ValueError("not an example")
    messages = data["messages"]
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(
                message.get("content"), str) or not message["content"].strip():
            raise ValueError("a message is not a role and a text")
    if len(messages) < 2 or messages[-1]["role"] != "assistant":
        raise ValueError("it does not end with an assistant answer")
    rejected = data.get("rejected")
    if rejected is not None and not isinstance(rejected, str):
        raise ValueError("rejected is not text")
    example = Example.from_dict(data)
    return ArchivedExample(messages=tuple(ChatMessage(m.role, m.content) for m in example.messages),
                   positive=bool(data.get("positive", True)), rejected=rejected, source=str(example.source),
                   added_by=str(example.added_by), added_at=str(example.added_at), origin=str(example.origin))


def _lines(archive: zipfile.ZipFile, limits: DatasetLimits) -> Iterator[bytes]:
    with archive.open("examples.jsonl") as member:
        for line in member:
            if len(line) > limits.max_line_bytes:
                raise DatasetFileRejected(f"examples.jsonl has a line longer than {limits.max_line_bytes // 1024} KB.")
            if line.strip():
                yield line


def read_archive(fp: IO[bytes], limits: DatasetLimits) -> Iterator[Example | Rejection]:
    """Check the archive against its manifest (nothing is yielded before), then yield its examples."""
    with zipfile.ZipFile(fp) as archive:
        manifest: dict[str, Any] = json.loads(archive.read("manifest.json"))
        expected = manifest.get("files", {}).get("examples.jsonl", {})
        counts = manifest.get("counts", {})
        digest = hashlib.sha256()
        total = positive = pairs = 0
        for number, line in enumerate(_lines(archive, limits), 1):
            digest.update(line)
            try:
                example = _example(line)
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetFileRejected(NOT_MATCHING.format(what=f"examples.jsonl line {number}: {exc}")) from None
            total += 1
            positive += int(example.positive)
            pairs += int(example.rejected is not None)
            if total > limits.max_examples:
                raise DatasetFileRejected(f"That archive holds more than {limits.max_examples} examples.")
        if digest.hexdigest() != expected.get("sha256"):
            raise DatasetFileRejected(NOT_MATCHING.format(what="the sha256 of examples.jsonl differs"))
        found = {"examples": total, "positive": positive, "negative": total - positive, "preference_pairs": pairs}
        differing = [k for k, v in found.items() if counts.get(k) != v]
        if differing:
            raise DatasetFileRejected(NOT_MATCHING.format(what=f"the {differing[0]} count differs"))
        for line in _lines(archive, limits):
            yield _example(line)
