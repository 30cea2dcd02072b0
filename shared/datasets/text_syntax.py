"""The one-example text syntax of ``/train text:``.

Discord's text options are a single line, so markers separate the turns::

    Q: What is the capital of France? A: Paris.
    System: You answer in one word. Q: Capital of France? A: Paris. Q: And of Italy? A: Rome.

- ``System:`` (optional, first), then ``Q:`` and ``A:`` turns alternating, starting with ``Q:`` and ending
  with ``A:`` (the answer the model should learn). ``User:`` and ``Assistant:`` work as well.
- Markers are case-insensitive and must start the text or follow a space. Write ``\\A:`` to keep a literal
  ``A:`` inside a turn.
- Text starting with ``{`` is read as one JSON line instead (chat, preference or prompt/completion format).
"""

from __future__ import annotations

import re

from shared.datasets.chat_format import LineRejected, example_from_json
from shared.domain.examples import ChatMessage, Example

MAX_TEXT_CHARS = 6000

_MARKER = re.compile(r"(?:(?<=\s)|^)(\\?)(system|q|a|user|assistant):", re.IGNORECASE)
_ROLE_OF = {"system": "system", "q": "user", "user": "user", "a": "assistant", "assistant": "assistant"}

SYNTAX_HELP = (
    "Write it as `Q: your question A: the answer` (optionally `System: ...` first), or as one JSON line."
)


def example_from_text(
    text: str, *, positive: bool = True, added_by: str = "", added_at: str = "", origin: str = ""
) -> Example:
    """Parse one example typed into ``/train text:``; raise :class:`LineRejected` with a reason."""
    text = text.strip()
    if not text:
        raise LineRejected("the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise LineRejected(f"the text is longer than {MAX_TEXT_CHARS} characters")
    if text.startswith("{"):
        return example_from_json(
            text, positive=positive, source="text", added_by=added_by, added_at=added_at, origin=origin
        )
    turns: list[tuple[str, list[str]]] = []
    pos = 0
    preamble: list[str] = []
    current = preamble
    for match in _MARKER.finditer(text):
        current.append(text[pos : match.start()])
        if match.group(1):  # escaped marker: keep it literally, without the backslash
            current.append(match.group(0)[1:])
        else:
            current = []
            turns.append((_ROLE_OF[match.group(2).lower()], current))
        pos = match.end()
    current.append(text[pos:])
    if not turns:
        raise LineRejected(f"no Q: and A: markers found. {SYNTAX_HELP}")
    if "".join(preamble).strip():
        raise LineRejected(f"text before the first marker. {SYNTAX_HELP}")
    messages: list[ChatMessage] = []
    for index, (role, parts) in enumerate(turns):
        content = "".join(parts).strip()
        if not content:
            raise LineRejected(f"the {_label(role)} part is empty")
        if role == "system" and index != 0:
            raise LineRejected("System: may only come first")
        expected = "user" if not messages or messages[-1].role in ("system", "assistant") else "assistant"
        if role != "system" and role != expected:
            raise LineRejected(f"expected {_label(expected)} but found {_label(role)}. {SYNTAX_HELP}")
        messages.append(ChatMessage(role, content))
    if messages[-1].role != "assistant":
        raise LineRejected(f"the example must end with an answer (A: ...). {SYNTAX_HELP}")
    return Example(
        messages=tuple(messages),
        positive=positive,
        source="text",
        added_by=added_by,
        added_at=added_at,
        origin=origin,
    )


def _label(role: str) -> str:
    return {"system": "System:", "user": "Q:", "assistant": "A:"}[role]
