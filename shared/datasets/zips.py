"""Reading the members of an uploaded ``.zip`` in memory, with zip bomb defences.

Nothing is extracted to disk: each member is decompressed as a stream and read line by line. Before reading
anything, the end-of-central-directory record gives the member count (so a zip with a million entries is
refused before ``zipfile`` builds a million ``ZipInfo`` objects), and each member's declared sizes are checked
for count, total, per-member size and compression ratio. ``zipfile`` never returns more than a member's
declared size, and the line reader counts the bytes as well.
"""

from __future__ import annotations

import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from shared.datasets.limits import MB, DatasetFileRejected, DatasetLimits

_EOCD = b"PK\x05\x06"
_LOCAL_HEADER = b"PK\x03\x04"
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".jar")
_IGNORED_PREFIXES = ("__MACOSX/",)


def member_label(name: str) -> str:
    """A member name safe to show: printable, bounded."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in name)
    return cleaned if len(cleaned) <= 60 else "…" + cleaned[-59:]


def seekable(stream: Any, limits: DatasetLimits) -> IO[bytes]:
    """``stream`` itself if it can seek, else a spooled copy (refused beyond ``limits.max_file_bytes``)."""
    try:
        if stream.seekable():
            return stream
    except (AttributeError, OSError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=limits.zip_spool_bytes)
    copied = 0
    while True:
        chunk = stream.read(MB)
        if not chunk:
            break
        copied += len(chunk)
        if copied > limits.max_file_bytes:
            spool.close()
            raise DatasetFileRejected(f"That file is larger than {limits.max_file_bytes // MB} MB.")
        spool.write(chunk)
    spool.seek(0)
    return spool


def _declared_entry_count(fp: IO[bytes]) -> int:
    """The entry count from the end-of-central-directory record (0xFFFF means zip64: many entries)."""
    fp.seek(0, 2)
    size = fp.tell()
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise DatasetFileRejected("That .zip file is damaged or not a zip file.")
    (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
    fp.seek(0)
    return int(entries)


Inspect = Callable[[str, IO[bytes]], None]


def iter_zip_members(
    stream: Any, limits: DatasetLimits, *, inspect: Inspect | None = None
) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(member name, open member stream)`` for each file member, after checking the whole archive.

    ``inspect`` (when given) sees every member first, before anything is yielded: it may raise
    :class:`DatasetFileRejected` on a member whose start is unusable, so that no part of the zip is used.
    """
    fp = seekable(stream, limits)
    try:
        yield from _iter_members(fp, limits, inspect)
    finally:
        if fp is not stream:
            fp.close()  # the spool we made


def _iter_members(
    fp: IO[bytes], limits: DatasetLimits, inspect: Inspect | None
) -> Iterator[tuple[str, IO[bytes]]]:
    entries = _declared_entry_count(fp)
    if entries > limits.max_zip_members:
        raise DatasetFileRejected(f"That zip has too many files (the limit is {limits.max_zip_members}).")
    try:
        archive = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise DatasetFileRejected("That .zip file is damaged or not a zip file.") from None
    with archive:
        infos = [
            i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith(_IGNORED_PREFIXES)
        ]
        _check_archive(infos, limits)
        if inspect is not None:
            for info in infos:
                with _open_member(archive, info) as member:
                    inspect(info.filename, member)
        for info in infos:
            with _open_member(archive, info) as member:
                yield info.filename, member


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    try:
        member = archive.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError):
        raise DatasetFileRejected(
            f"{member_label(info.filename)} in the zip could not be read (damaged or unsupported)."
        ) from None
    head = member.peek(4)[:4]  # type: ignore[attr-defined]  # a ZipExtFile
    if head == _LOCAL_HEADER:
        member.close()
        raise DatasetFileRejected("Zip files inside the zip are not accepted.")
    return member


def check_zip_bounds(fp: IO[bytes], limits: DatasetLimits) -> None:
    """The zip-bomb checks of :func:`iter_zip_members` (member count, sizes, ratio), for a reader of its own."""
    if _declared_entry_count(fp) > limits.max_zip_members:
        raise DatasetFileRejected(f"That zip has too many files (the limit is {limits.max_zip_members}).")
    with zipfile.ZipFile(fp) as archive:
        _check_archive([i for i in archive.infolist() if not i.is_dir()], limits)


def _check_archive(infos: list[zipfile.ZipInfo], limits: DatasetLimits) -> None:
    if len(infos) > limits.max_zip_members:
        raise DatasetFileRejected(f"That zip has too many files (the limit is {limits.max_zip_members}).")
    total = 0
    for info in infos:
        name = member_label(info.filename)
        if info.filename.lower().endswith(_ARCHIVE_SUFFIXES):
            raise DatasetFileRejected(f"Archives inside the zip are not accepted ({name}).")
        if info.flag_bits & 0x1:
            raise DatasetFileRejected("Password-protected zip files are not accepted.")
        if info.file_size > limits.max_zip_member_bytes:
            raise DatasetFileRejected(
                f"{name} in the zip is larger than {limits.max_zip_member_bytes // MB} MB uncompressed."
            )
        total += info.file_size
        if total > limits.max_zip_total_bytes:
            raise DatasetFileRejected(
                f"The zip holds more than {limits.max_zip_total_bytes // MB} MB uncompressed."
            )
        if info.file_size > limits.zip_ratio_floor_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_zip_ratio:
                raise DatasetFileRejected(
                    f"{name} in the zip expands {ratio:.0f}× when unpacked; that looks like a zip bomb."
                )
