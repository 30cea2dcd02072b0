"""Fixtures of the fine-tuning tests: the fake OpenAI server on loopback, a real client, example builders."""

from __future__ import annotations

import pytest

from shared.domain.examples import ChatMessage, Example
from shared.finetune.catalog import load_catalog


@pytest.fixture
def openai_client(fake_openai):
    from openai import OpenAI

    # No client retries and a short timeout keep the suite fast; retry behaviour has its own test.
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0, timeout=2.0) as client:
        yield client


@pytest.fixture
def catalog():
    return load_catalog()


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
