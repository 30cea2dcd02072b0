"""Message text limits shared by the interactions function, the worker and the watcher.

Discord refuses message content over 2000 characters with a 400, which would lose the whole reply, so text
the bot did not write itself is clipped before it is sent.
"""

from __future__ import annotations

MAX_CONTENT = 2000
# ``allowed_mentions`` that ping nobody: messages echo user and model text, and an echoed ``@everyone`` or
# ``<@id>`` must never notify anyone. The REST client sends it unless told otherwise.
NO_MENTIONS: dict[str, list[str]] = {"parse": []}


def clip(text: str, limit: int = MAX_CONTENT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_size(n: int) -> str:
    """A byte count as people read it: ``512 bytes``, ``12 KB``, ``3.4 MB``."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"
