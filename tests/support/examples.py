"""Builders of training examples for the fine-tuning tests."""

from __future__ import annotations

from shared.domain.examples import ChatMessage, Example


def chat(
    user: str,
    answer: str,
    *,
    system: str | None = None,
    positive: bool = True,
    rejected: str | None = None,
    source: str = "text",
) -> Example:
    messages = []
    if system:
        messages.append(ChatMessage("system", system))
    messages += [ChatMessage("user", user), ChatMessage("assistant", answer)]
    return Example(messages=tuple(messages), positive=positive, rejected=rejected, source=source)


def many(n: int, *, system: str | None = "You are the server's helpful bot.") -> list[Example]:
    return [chat(f"Question number {i}?", f"Answer number {i}.", system=system) for i in range(n)]
