from __future__ import annotations

import pytest

from infra.fakes.discord_server import FakeDiscord
from shared.config import Settings


class FakeClock:
    """A monotonic clock that only moves when the client sleeps, so waits are exact and instant."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def fake_discord():
    with FakeDiscord(bot_token="bot-token-SECRET-1234") as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(fake_discord: FakeDiscord) -> Settings:
    return Settings(
        discord_api_base=fake_discord.api_base,
        discord_application_id=fake_discord.application_id,
        discord_bot_token=fake_discord.bot_token,
    )
