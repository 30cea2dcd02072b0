"""Turning an uploaded file into a stream of examples and rejections, one pass, bounded memory."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Any

from shared.datasets.archive_load import is_archive, read_archive
from shared.datasets.chat_format import LineRejected, example_from_json
from shared.datasets.csv_format import check_csv_header, iter_csv
from shared.datasets.limits import DatasetFileRejected, DatasetLimits
from shared.datasets.lines import buffered, iter_lines
from shared.datasets.report import Rejection
from shared.datasets.zips import check_zip_bounds, iter_zip_members, member_label, seekable
from shared.domain.examples import Example

SUPPORTED = (
    "Send a .jsonl file (chat or preference format), a .csv with prompt and completion columns, "
    "or a .zip of those."
)
_ZIP_MAGIC = b"PK\x03\x04"


def file_kind(filename: str, head: bytes = b"") -> str:
    """``jsonl``, ``csv`` or ``zip`` from the file name, else from the first bytes."""
    lowered = filename.lower()
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".zip"):
        return "zip"
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    raise DatasetFileRejected(f"I can't read {member_label(filename) or 'that file'}. {SUPPORTED}")


def parse_upload(
    stream: Any,
    filename: str,
    *,
    positive: bool = True,
    added_by: str = "",
    added_at: str = "",
    limits: DatasetLimits | None = None,
) -> Iterator[Example | Rejection]:
    """Yield each example of the file, or a :class:`Rejection` for each line that fails a check.

    Raises :class:`DatasetFileRejected` when the file as a whole cannot be used: before yielding, in every
    case the file can reveal up front (type, zip structure, every zip member's CSV header or JSON array
    start); part way only when a plain file passes the size cap (the error then carries the line number).
    """
    limits = limits or DatasetLimits()
    source = buffered(stream)
    kind = file_kind(filename, source.peek(64)[:64] if hasattr(source, "peek") else b"")
    meta = {"positive": positive, "added_by": added_by, "added_at": added_at}
    if kind != "zip":
        yield from _parse_plain(source, kind, filename, None, limits, meta)
        return
    member_limits = replace(limits, max_file_bytes=limits.max_zip_member_bytes)
    fp = seekable(source, limits)
    try:
        yield from _parse_zip(fp, limits, member_limits, meta)
    finally:
        if fp is not source:
            fp.close()  # the spool seekable() made


def _parse_zip(fp: IO[bytes], limits: DatasetLimits, member_limits: DatasetLimits,
               meta: dict[str, Any]) -> Iterator[Example | Rejection]:
    try:
        opened: zipfile.ZipFile | None = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        opened = None  # iter_zip_members says what is wrong with it
    if opened is not None:
        with opened:
            archived = is_archive(opened)
        fp.seek(0)
        if archived:
            # An /archive zip: its own examples, flags and authors, checked against its manifest.
            check_zip_bounds(fp, limits)
            fp.seek(0)
            yield from read_archive(fp, member_limits)
            return
        fp.seek(0)

    def inspect(name: str, member: IO[bytes]) -> None:
        # Every member's start is checked before any member is read in full: a zip is used whole or not at all.
        try:
            member_kind = file_kind(name)
        except DatasetFileRejected:
            return  # reported as skipped below
        if member_kind == "csv":
            check_csv_header(member, limits=member_limits, name=_shown(name))
            return
        for _number, line in _lines(member, member_limits):
            _refuse_json_array(line, _shown(name))
            return

    for name, member in iter_zip_members(fp, limits, inspect=inspect):
        label = member_label(name)
        try:
            member_kind = file_kind(name)
        except DatasetFileRejected:
            yield Rejection(0, "skipped: not a .jsonl or .csv file", label)
            continue
        yield from _parse_plain(member, member_kind, name, label, member_limits, meta)


def _shown(name: str) -> str:
    return member_label(name.rsplit("/", 1)[-1]) or "upload"


def _lines(stream: IO[bytes], limits: DatasetLimits) -> Iterator[tuple[int, bytes | None]]:
    return iter_lines(stream, max_line_bytes=limits.max_line_bytes, max_total_bytes=limits.max_file_bytes)


def _refuse_json_array(first_line: bytes | None, shown: str) -> None:
    if first_line is not None and first_line.lstrip().startswith(b"["):
        raise DatasetFileRejected(f"{shown} holds a JSON array; send one JSON object per line (JSONL) instead.")


def _parse_plain(
    stream: IO[bytes], kind: str, name: str, member: str | None, limits: DatasetLimits, meta: dict[str, Any]
) -> Iterator[Example | Rejection]:
    try:
        yield from _parse_lines(stream, kind, _shown(name), member, limits, meta)
    except DatasetFileRejected as exc:
        exc.member = exc.member or member
        raise


def _parse_lines(
    stream: IO[bytes], kind: str, shown: str, member: str | None, limits: DatasetLimits, meta: dict[str, Any]
) -> Iterator[Example | Rejection]:
    if kind == "csv":
        for number, item in iter_csv(stream, limits=limits, name=shown, **meta):
            if isinstance(item, LineRejected):
                yield Rejection(number, item.reason, member)
            else:
                yield item
        return
    positive, added_by, added_at = meta["positive"], meta["added_by"], meta["added_at"]
    first = True
    for number, line in _lines(stream, limits):
        if first:
            first = False
            _refuse_json_array(line, shown)
        if line is None:
            yield Rejection(number, f"line is longer than {limits.max_line_bytes // 1024} KB", member)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield Rejection(number, "not UTF-8 text", member)
            continue
        try:
            yield example_from_json(
                text,
                positive=positive,
                source="file",
                added_by=added_by,
                added_at=added_at,
                origin=f"{shown}:{number}",
            )
        except LineRejected as exc:
            yield Rejection(number, exc.reason, member)
