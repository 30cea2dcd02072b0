"""Reading the members of an uploaded ``.zip`` in memory, with zip bomb defences.

Nothing is extracted to disk: each member is decompressed as a stream and read line by line. Before reading
anything, the end-of-central-directory record gives the member count and the central directory's size (so a
zip with a million entries, declared or hidden behind a forged count, is refused before ``zipfile`` builds a
million ``ZipInfo`` objects), and each member's declared sizes are checked
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
_ZIP64_EOCD = b"PK\x06\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
# A central directory entry: 46 fixed bytes, then its name, extra field and comment. Real ones stay far below
# this; the bound caps how many entries a directory of a given size can hold, whatever count it declares.
_MAX_CENTRAL_ENTRY_BYTES = 46 + 1024 + 1024
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


def _central_directory(fp: IO[bytes]) -> tuple[int, int]:
    """``(entry count, central directory bytes)`` as ``zipfile`` will read them: from the end-of-central-
    directory record, or from the zip64 record it points to."""
    fp.seek(0, 2)
    size = fp.tell()
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise DatasetFileRejected("That .zip file is damaged or not a zip file.")
    entries, cd_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (record_at,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        fp.seek(record_at)
        record = fp.read(56)
        if len(record) < 56 or record[:4] != _ZIP64_EOCD:
            raise DatasetFileRejected("That .zip file is damaged or not a zip file.")
        entries, cd_size = struct.unpack("<QQ", record[32:48])
    fp.seek(0)
    return int(entries), int(cd_size)


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
    check_zip_directory(fp, limits)
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


def check_zip_directory(fp: IO[bytes], limits: DatasetLimits) -> None:
    """Refuse a zip whose directory is too large before ``zipfile`` parses it (a forged count included)."""
    entries, cd_size = _central_directory(fp)
    # The declared count can be forged; the directory's size bounds what zipfile will parse, so both are
    # checked before it parses anything.
    if entries > limits.max_zip_members or cd_size > limits.max_zip_members * _MAX_CENTRAL_ENTRY_BYTES:
        raise DatasetFileRejected(f"That zip has too many files (the limit is {limits.max_zip_members}).")


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
    check_zip_directory(fp, limits)
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
