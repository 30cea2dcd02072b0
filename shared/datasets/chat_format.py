"""One JSON training line → :class:`Example`, with the OpenAI cookbook's format checks and a few of our own.

Accepted shapes (see ``specs/openai-training-line-schemas-2025-06.yaml``):

- chat (supervised): ``{"messages": [{"role": ..., "content": ...}, ...]}``, ending with the answer;
- preference (DPO): ``{"input": {"messages": [...]}, "preferred_output": [{assistant}],
  "non_preferred_output": [{assistant}]}`` (the older ``preferred_completion`` names too);
- prompt/completion: ``{"prompt": "...", "completion": "..."}``, kept as one user/assistant turn.

Tools, functions and per-message names are refused rather than silently dropped: the neutral form cannot keep
them, and a silent drop would change what the model learns.

Speed: the line is parsed by the C scanner without a Python hook. Duplicate keys are then detected by
counting each accepted key's quoted spelling in the raw line; only when a count disagrees (a value that
happens to equal a key name, or keys written with ``\\u`` escapes) is the line parsed again with an
``object_pairs_hook``.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.examples import ROLES, ChatMessage, Example


class LineRejected(ValueError):
    """One line (or one text example) is not a valid example; ``reason`` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _DuplicateKey(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise LineRejected(f"{name} is not a valid JSON number")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_fast_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_strict_decoder = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)

_CHAT_ROLES = frozenset(ROLES)
_MESSAGE_KEYS = frozenset(("role", "content"))
_PREFERENCE_KEYS = {
    "preferred_output": "non_preferred_output",
    "preferred_completion": "non_preferred_completion",
}
_TOOL_KEYS = frozenset(("tools", "functions", "parallel_tool_calls", "tool_calls", "function_call"))


def _decode(text: str) -> Any:
    try:
        return _fast_decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise LineRejected(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise LineRejected("JSON nested too deeply") from None


def _decode_strict(text: str) -> Any:
    try:
        return _strict_decoder.decode(text)
    except _DuplicateKey as exc:
        raise LineRejected(f"duplicate key {str(exc)[:40]!r}") from None
    except json.JSONDecodeError as exc:
        raise LineRejected(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise LineRejected("JSON nested too deeply") from None


_QUOTED: dict[str, str] = {}


def _key_counts_match(text: str, expected: dict[str, int]) -> bool:
    if "\\u" in text:
        return False
    count = text.count
    for key, n in expected.items():
        quoted = _QUOTED.get(key)
        if quoted is None:
            quoted = _QUOTED.setdefault(key, f'"{key}"')
        if count(quoted) != n:
            return False
    return True


def _check_message(msg: Any, index: int, counts: dict[str, int]) -> ChatMessage:
    if type(msg) is not dict:
        raise LineRejected(f"message {index} is not an object")
    if len(msg) != 2 or "role" not in msg or "content" not in msg:
        extra = msg.keys() - _MESSAGE_KEYS
        if "weight" in extra and msg["weight"] == 1 and type(msg["weight"]) is int:
            extra.discard("weight")  # weight 1 is the default; nothing is lost
            counts["weight"] = counts.get("weight", 0) + 1
        if extra & _TOOL_KEYS:
            raise LineRejected(f"message {index}: tool and function calls are not supported")
        if extra:
            key = sorted(extra)[0]
            raise LineRejected(f"message {index} has an unsupported key {key[:40]!r}")
        if "role" not in msg:
            raise LineRejected(f"message {index} has no role")
        if "content" not in msg:
            raise LineRejected(f"message {index} has no content")
    role = msg["role"]
    content = msg["content"]
    if role not in _CHAT_ROLES:
        if role in ("tool", "function"):
            raise LineRejected(f"message {index}: tool and function messages are not supported")
        if role == "developer":
            raise LineRejected(f"message {index}: use the role 'system' instead of 'developer'")
        shown = role[:20] if isinstance(role, str) else type(role).__name__
        raise LineRejected(f"message {index} has an unknown role {shown!r}")
    if type(content) is not str:
        if content is None:
            raise LineRejected(f"message {index} has no content")
        raise LineRejected(f"message {index}: content must be text")
    if not content or content.isspace():
        raise LineRejected(f"message {index} has empty content")
    return ChatMessage(role, content)


def _check_conversation(messages: Any, counts: dict[str, int], *, needs_answer: bool) -> list[ChatMessage]:
    if type(messages) is not list or not messages:
        raise LineRejected("missing messages list")
    checked: list[ChatMessage] = []
    append = checked.append
    has_user = False
    for index, msg in enumerate(messages, 1):
        # The common, well-formed message is checked inline; anything unusual takes _check_message's path,
        # which finds the precise reason. (isspace, unlike strip, copies nothing.)
        if type(msg) is dict and len(msg) == 2:
            role = msg.get("role")
            content = msg.get("content")
            if type(content) is str and content and not content.isspace() and role in _CHAT_ROLES:
                message = ChatMessage(role, content)
            else:
                message = _check_message(msg, index, counts)
        else:
            message = _check_message(msg, index, counts)
        if message.role == "user":
            has_user = True
        elif message.role == "system" and index != 1:
            raise LineRejected(f"message {index}: a system message may only come first")
        append(message)
    counts["role"] = counts.get("role", 0) + len(checked)
    counts["content"] = counts.get("content", 0) + len(checked)
    if not has_user:
        raise LineRejected("no user message")
    last_role = checked[-1].role
    if needs_answer:
        if last_role != "assistant":
            if any(m.role == "assistant" for m in checked):
                raise LineRejected("the last message must be the assistant's answer")
            raise LineRejected("no assistant message")
    elif last_role == "assistant":
        raise LineRejected("the input must end with a user message; the answers go in the outputs")
    return checked


def _single_assistant(value: Any, key: str, counts: dict[str, int]) -> str:
    if type(value) is not list or len(value) != 1:
        raise LineRejected(f"{key} must be a list with one assistant message")
    msg = _check_message(value[0], 1, counts)
    counts["role"] = counts.get("role", 0) + 1
    counts["content"] = counts.get("content", 0) + 1
    if msg.role != "assistant":
        raise LineRejected(f"{key} must hold an assistant message")
    return msg.content


def _to_example(obj: Any, counts: dict[str, int], *, positive: bool, meta: dict[str, str]) -> Example:
    if type(obj) is not dict:
        raise LineRejected("a line must be a JSON object")
    if "messages" in obj:
        if len(obj) != 1:
            extra = sorted(obj.keys() - {"messages"})
            if _TOOL_KEYS.intersection(extra):
                raise LineRejected("tools and functions are not supported")
            raise LineRejected(f"unsupported key {extra[0][:40]!r}")
        counts["messages"] = 1
        messages = _check_conversation(obj["messages"], counts, needs_answer=True)
        return Example(messages=tuple(messages), positive=positive, **meta)
    if "input" in obj:
        return _preference_example(obj, counts, meta)
    if "prompt" in obj or "completion" in obj:
        return _prompt_completion_example(obj, counts, positive=positive, meta=meta)
    raise LineRejected("missing messages list")


def _preference_example(obj: dict[str, Any], counts: dict[str, int], meta: dict[str, str]) -> Example:
    preferred_key = next((k for k in _PREFERENCE_KEYS if k in obj), None)
    if preferred_key is None:
        raise LineRejected("a preference line needs preferred_output and non_preferred_output")
    rejected_key = _PREFERENCE_KEYS[preferred_key]
    extra = obj.keys() - {"input", preferred_key, rejected_key}
    if extra:
        raise LineRejected(f"unsupported key {sorted(extra)[0][:40]!r}")
    if rejected_key not in obj:
        raise LineRejected(f"missing {rejected_key}")
    given = obj["input"]
    if type(given) is not dict or "messages" not in given:
        raise LineRejected("input must be an object with a messages list")
    if len(given) != 1:
        extra_in = sorted(given.keys() - {"messages"})
        if _TOOL_KEYS.intersection(extra_in):
            raise LineRejected("tools and functions are not supported")
        raise LineRejected(f"unsupported key {extra_in[0][:40]!r} in input")
    counts.update(input=1, messages=1, **{preferred_key: 1, rejected_key: 1})
    prompt = _check_conversation(given["messages"], counts, needs_answer=False)
    preferred = _single_assistant(obj[preferred_key], preferred_key, counts)
    rejected = _single_assistant(obj[rejected_key], rejected_key, counts)
    if preferred == rejected:
        raise LineRejected("the preferred and non-preferred answers are the same")
    messages = (*prompt, ChatMessage("assistant", preferred))
    return Example(messages=messages, positive=True, rejected=rejected, **meta)


def _prompt_completion_example(
    obj: dict[str, Any], counts: dict[str, int], *, positive: bool, meta: dict[str, str]
) -> Example:
    extra = obj.keys() - {"prompt", "completion"}
    if extra:
        raise LineRejected(f"unsupported key {sorted(extra)[0][:40]!r}")
    prompt, completion = obj.get("prompt"), obj.get("completion")
    for name, value in (("prompt", prompt), ("completion", completion)):
        if value is None:
            raise LineRejected(f"missing {name}")
        if type(value) is not str or not value.strip():
            raise LineRejected(f"{name} must be non-empty text")
    counts.update(prompt=1, completion=1)
    messages = (ChatMessage("user", prompt), ChatMessage("assistant", completion))  # type: ignore[arg-type]
    return Example(messages=messages, positive=positive, **meta)


def example_from_json(
    text: str,
    *,
    positive: bool = True,
    source: str = "file",
    added_by: str = "",
    added_at: str = "",
    origin: str = "",
) -> Example:
    """Check one JSON line and return its example, or raise :class:`LineRejected` with the reason."""
    obj = _decode(text)
    # The common shape, {"messages": [...]}, without the general path's dispatch and keyword plumbing.
    if type(obj) is dict and len(obj) == 1 and "messages" in obj:
        fast_counts = {"messages": 1}
        try:
            checked = _check_conversation(obj["messages"], fast_counts, needs_answer=True)
        except LineRejected:
            _decode_strict(text)  # a duplicate key is the better reason, when there is one
            raise
        if _key_counts_match(text, fast_counts):
            return Example(tuple(checked), positive, None, source, added_by, added_at, origin)
    meta = {"source": source, "added_by": added_by, "added_at": added_at, "origin": origin}
    counts: dict[str, int] = {}
    try:
        example = _to_example(obj, counts, positive=positive, meta=meta)
    except LineRejected:
        # A duplicate key may be what broke the line; say so rather than the symptom it caused.
        _decode_strict(text)
        raise
    if not _key_counts_match(text, counts):
        # Rare: re-parse with the hook that sees every key, so a duplicate cannot hide.
        obj = _decode_strict(text)
        example = _to_example(obj, {}, positive=positive, meta=meta)
    return example
