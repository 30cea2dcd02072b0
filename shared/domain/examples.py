"""The neutral form of a training example, shared by datasets, exports and corrections.

An example is a chat: optional system message, then user/assistant turns ending with the assistant answer that
is the target. ``positive`` keeps the seed bot's meaning: True shows behaviour to imitate, False behaviour to
avoid. A preference pair (from a correction, or a preference-format file) also carries ``rejected``: the
non-preferred assistant answer, while the final assistant message is the preferred one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Example:
    messages: tuple[ChatMessage, ...]
    positive: bool = True
    rejected: str | None = None
    source: str = "text"
    added_by: str = ""
    added_at: str = ""
    # Where it came from inside a file ("data.jsonl:12"), or the corrected message id.
    origin: str = field(default="", compare=False)

    @property
    def prompt(self) -> tuple[ChatMessage, ...]:
        """Everything before the final assistant answer."""
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        return self.messages[-1].content

    @property
    def is_preference_pair(self) -> bool:
        return self.rejected is not None

    def fingerprint(self) -> str:
        """Stable identity for de-duplication: the content, not who added it or when."""
        canonical = json.dumps(
            {
                "messages": [m.to_dict() for m in self.messages],
                "positive": self.positive,
                "rejected": self.rejected,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "messages": [m.to_dict() for m in self.messages],
            "positive": self.positive,
            "source": self.source,
            "added_by": self.added_by,
            "added_at": self.added_at,
        }
        if self.rejected is not None:
            data["rejected"] = self.rejected
        if self.origin:
            data["origin"] = self.origin
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Example:
        return cls(
            messages=tuple(ChatMessage(m["role"], m["content"]) for m in data["messages"]),
            positive=bool(data.get("positive", True)),
            rejected=data.get("rejected"),
            source=data.get("source", "text"),
            added_by=data.get("added_by", ""),
            added_at=data.get("added_at", ""),
            origin=data.get("origin", ""),
        )
