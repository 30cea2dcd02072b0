"""Fixtures of the fine-tuning tests: the fake OpenAI server on loopback, a real client, example builders."""

from __future__ import annotations

import pytest

from infra.fakes.openai_server import FakeOpenAI, SpecValidator
from shared.config import Settings
from shared.domain.examples import ChatMessage, Example
from shared.finetune.catalog import load_catalog


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    return SpecValidator()


@pytest.fixture
def fake_openai(spec_validator):
    with FakeOpenAI(validator=spec_validator) as fake:
        yield fake


@pytest.fixture
def settings(fake_openai) -> Settings:
    return Settings(openai_api_key="sk-test", openai_base_url=fake_openai.url, finetune_provider="openai")


@pytest.fixture
def openai_client(fake_openai):
    from openai import OpenAI

    # No client retries and a short timeout keep the suite fast; retry behaviour has its own test.
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0, timeout=2.0) as client:
        yield client


@pytest.fixture
def catalog():
    return load_catalog()


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


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
