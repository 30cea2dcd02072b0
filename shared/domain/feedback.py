"""What people leave about the bot's answers: feedback (text and votes) and corrections."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
