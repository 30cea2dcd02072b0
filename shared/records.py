"""The records people leave about the bot's answers: feedback and corrections."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any


def utc_now(moment: datetime | None = None) -> str:
    """The time (now, or ``moment``) as the one format records use: ``2026-05-01T10:00:00Z``."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_stamp(iso: str) -> str:
    """A :func:`utc_now` time without ``-`` and ``:`` (``20260501T100000Z``), for S3 keys and file names."""
    return iso.replace("-", "").replace(":", "")


@dataclass(frozen=True)
class Feedback:
    guild_id: str
    interaction_id: str
    user_id: str
    # "text" (/feedback), or a vote on a bot message: "up" / "down".
    kind: str
    text: str = ""
    message_id: str = ""
    channel_id: str = ""
    created_at: str = ""

    def to_item(self) -> dict[str, Any]:
        return {"type": "feedback", **asdict(self)}


@dataclass(frozen=True)
class Correction:
    """A correction of a bot answer: a preference pair in waiting (original = rejected, correction = preferred)."""

    guild_id: str
    interaction_id: str
    user_id: str
    message_id: str
    original_text: str
    correction: str
    channel_id: str = ""
    # The prompt that produced the answer, when the answer was an exchange the bot recorded.
    prompt: str = ""
    created_at: str = ""

    def to_item(self) -> dict[str, Any]:
        return {"type": "correction", **asdict(self)}
