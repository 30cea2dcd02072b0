"""CSV with a header row and ``prompt``/``completion`` columns (``system`` optional), one example per row."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from shared.datasets.chat_format import LineRejected
from shared.datasets.limits import DatasetFileRejected, DatasetLimits
from shared.datasets.lines import iter_lines
from shared.domain.examples import ChatMessage, Example

REQUIRED_COLUMNS = ("prompt", "completion")
OPTIONAL_COLUMNS = ("system",)


class _DecodedLines:
    """Feeds csv.reader decoded physical lines, noting which ones were not UTF-8 or too long."""

    def __init__(self, stream: IO[bytes], limits: DatasetLimits) -> None:
        self._lines = iter_lines(
            stream, max_line_bytes=limits.max_line_bytes, max_total_bytes=limits.max_file_bytes, keep_blank=True
        )
        self.bad: dict[int, str] = {}
        self.last_number = 0

    def __iter__(self) -> _DecodedLines:
        return self

    def __next__(self) -> str:
        number, line = next(self._lines)
        self.last_number = number
        if line is None:
            self.bad[number] = "line is too long"
            return "\n"
        try:
            return line.decode("utf-8") + "\n"
        except UnicodeDecodeError:
            self.bad[number] = "not UTF-8 text"
            return "\n"


def _read_header(reader: Iterator[list[str]], name: str) -> list[str]:
    """The header row's column names (blank lines before it are skipped), or refuse the file."""
    try:
        header: list[str] = []
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise DatasetFileRejected(f"{name} is empty.") from None
    except csv.Error as exc:
        raise DatasetFileRejected(f"{name}: the header row is not valid CSV ({exc}).") from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DatasetFileRejected(
            f"{name} needs a header row with the columns prompt and completion; "
            f"missing: {', '.join(missing)}."
        )
    unknown = [c for c in columns if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise DatasetFileRejected(
            f"{name} has columns I do not use: {', '.join(u[:30] for u in unknown[:3])} "
            "(expected prompt, completion and optionally system)."
        )
    return columns


def check_csv_header(stream: IO[bytes], *, limits: DatasetLimits, name: str) -> None:
    """Refuse a CSV whose header is unusable, reading only up to the header (a zip's members, up front)."""
    _read_header(csv.reader(_DecodedLines(stream, limits), strict=True), name)


def iter_csv(
    stream: IO[bytes], *, limits: DatasetLimits, positive: bool, added_by: str, added_at: str, name: str
) -> Iterator[tuple[int, Example | LineRejected]]:
    """Yield ``(line_number, example or rejection)`` per data row."""
    lines = _DecodedLines(stream, limits)
    reader = csv.reader(lines, strict=True)
    columns = _read_header(reader, name)
    at = {c: columns.index(c) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in columns}
    width = len(columns)
    previous_end = lines.last_number
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield lines.last_number, LineRejected(f"not valid CSV ({exc})")
            previous_end = lines.last_number
            continue
        start = previous_end + 1
        previous_end = lines.last_number
        bad = next((lines.bad[n] for n in range(start, previous_end + 1) if n in lines.bad), None)
        if bad:
            yield start, LineRejected(bad)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            yield start, LineRejected(f"expected {width} columns, found {len(row)}")
            continue
        yield start, _row_example(row, at, positive, added_by, added_at, f"{name}:{start}")


def _row_example(
    row: list[str], at: dict[str, int], positive: bool, added_by: str, added_at: str, origin: str
) -> Example | LineRejected:
    prompt, completion = row[at["prompt"]].strip(), row[at["completion"]].strip()
    if not prompt:
        return LineRejected("empty prompt")
    if not completion:
        return LineRejected("empty completion")
    messages = [ChatMessage("user", prompt), ChatMessage("assistant", completion)]
    if "system" in at and row[at["system"]].strip():
        messages.insert(0, ChatMessage("system", row[at["system"]].strip()))
    return Example(
        messages=tuple(messages),
        positive=positive,
        source="file",
        added_by=added_by,
        added_at=added_at,
        origin=origin,
    )
