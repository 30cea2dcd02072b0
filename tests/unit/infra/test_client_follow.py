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


def test_a_progress_edit_is_shown_and_the_client_waits_for_the_final_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import requests

    from functions.worker.progress import PROGRESS_MARK

    with FakeDiscord() as discord:
        monkeypatch.setattr(client, "_fake_discord", lambda: discord.url)
        url = f"{discord.api_base}/webhooks/{discord.application_id}/tok-progress/messages/@original"
        requests.patch(url, json={"content": f"{PROGRESS_MARK} Deleting **faq**… 75 of 300 examples deleted."},
                       timeout=5).raise_for_status()
        final = threading.Timer(1.0, lambda: requests.patch(url, json={"content": "Deleted dataset **faq**."},
                                                            timeout=5))
        final.start()
        progress = io.StringIO()
        try:
            # Settling takes a fraction of the time the final reply takes to come: only the mark keeps it waiting.
            messages = client.follow("tok-progress", timeout=30.0, settle=0.2, progress=progress)
        finally:
            final.join()
    assert [m["content"] for m in messages] == ["Deleted dataset **faq**."]
    assert progress.getvalue() == f"({PROGRESS_MARK} Deleting **faq**… 75 of 300 examples deleted.)\n"
