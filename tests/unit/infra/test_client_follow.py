"""The client waiting for a deferred reply: a slow worker is "still working", not a missing one."""

from __future__ import annotations

import io

import pytest

from infra import client
from infra.fakes.discord_server import FakeDiscord


def test_a_slow_reply_is_reported_as_still_working(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeDiscord() as discord:
        monkeypatch.setattr(client, "_fake_discord", lambda: discord.url)
        monkeypatch.setattr(client, "PROGRESS_EVERY_SECONDS", 0.3)
        progress = io.StringIO()
        with pytest.raises(client.ClientError) as caught:
            client.follow("no-reply-token", timeout=1.0, progress=progress)
    assert "still working" in progress.getvalue()
    assert "Still no reply after 1 s: the bot may still be working on it" in str(caught.value)
    assert "Is the worker" not in str(caught.value)
