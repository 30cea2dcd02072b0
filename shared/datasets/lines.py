"""Bounded line reading from any binary stream (S3 StreamingBody, zip member, file)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from shared.datasets.limits import MB, DatasetFileRejected

READ_BUFFER = 1 * MB
_BOM = b"\xef\xbb\xbf"


class _ReadAdapter(io.RawIOBase):
    """Lets io.BufferedReader wrap anything with ``read(n)`` (StreamingBody has no fast readline)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def buffered(stream: Any) -> IO[bytes]:
    """A stream with a C-speed ``readline(limit)`` and ``peek``."""
    if isinstance(stream, io.BufferedReader | io.BytesIO):
        return stream
    if isinstance(stream, zipfile.ZipExtFile):
        return stream  # type: ignore[return-value]
    return io.BufferedReader(_ReadAdapter(stream), buffer_size=READ_BUFFER)


def too_large_message(max_bytes: int) -> str:
    return f"That file is larger than {max_bytes // MB} MB." if max_bytes >= MB else "That file is too large."


def iter_lines(
    stream: IO[bytes], *, max_line_bytes: int, max_total_bytes: int, keep_blank: bool = False
) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(line_number, line)`` without the line ending; ``line`` is None for a line over the cap.

    Blank lines are skipped (their numbers still count) unless ``keep_blank``: a CSV cell may hold them.
    A UTF-8 byte-order mark on the first line is dropped. The total is counted as bytes arrive; passing
    ``max_total_bytes`` refuses the rest of the file (the error carries the line number).
    """
    readline = stream.readline
    total = 0
    number = 0
    limit = max_line_bytes + 2  # room for "\r\n"
    while True:
        line = readline(limit)
        if not line:
            return
        number += 1
        total += len(line)
        if not line.endswith(b"\n") and len(line) >= limit:
            # Skip the rest of an over-long line without holding it.
            while True:
                rest = readline(READ_BUFFER)
                total += len(rest)
                if total > max_total_bytes:
                    raise DatasetFileRejected(too_large_message(max_total_bytes), line=number)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        if total > max_total_bytes:
            raise DatasetFileRejected(too_large_message(max_total_bytes), line=number)
        if number == 1 and line.startswith(_BOM):
            line = line[3:]
        line = line.rstrip(b"\r\n")
        if len(line) > max_line_bytes:
            yield number, None
            continue
        if not keep_blank and not line.strip():
            continue
        yield number, line
