"""Fixtures of the fine-tuning tests: a real OpenAI client on the fake server."""

from __future__ import annotations

import pytest


@pytest.fixture
def openai_client(fake_openai):
    from openai import OpenAI

    # No client retries and a short timeout keep the suite fast; retry behaviour has its own test.
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0, timeout=2.0) as client:
        yield client

