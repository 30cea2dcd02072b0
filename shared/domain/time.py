"""The one time format records use, and its form for S3 keys and file names."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now(moment: datetime | None = None) -> str:
    """The time (now, or ``moment``) as the one format records use: ``2026-05-01T10:00:00Z``."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_stamp(iso: str) -> str:
    """A :func:`utc_now` time without ``-`` and ``:`` (``20260501T100000Z``), for S3 keys and file names."""
    return iso.replace("-", "").replace(":", "")
