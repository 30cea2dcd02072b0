"""The REST client against the fake Discord, through real HTTP on loopback."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest
import requests

from shared.config import Settings
from shared.discord.rest import USER_AGENT, DiscordHTTPError, DiscordRest, redact_path
from shared.errors import BotError, ConfigError, UpstreamError

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmZha2UtdG9rZW4tU0VDUkVU"  # an interaction token's shape


def make_client(settings, clock, **kwargs) -> DiscordRest:
    return DiscordRest(settings, sleep=clock.sleep, clock=clock, **kwargs)


def test_edit_original_sends_content_user_agent_and_no_pings(fake_discord, settings, clock):
    client = make_client(settings, clock)
    message = client.edit_original(fake_discord.application_id, TOKEN, content="Added 3 examples @everyone")

    assert message["content"] == "Added 3 examples @everyone"
    stored = fake_discord.original(TOKEN)
    assert stored["content"] == "Added 3 examples @everyone"
    assert stored["allowed_mentions"] == {"parse": []}
    log = fake_discord.request_log()
    assert log[-1]["user_agent"] == USER_AGENT
    assert USER_AGENT.startswith("DiscordBot (https://") and USER_AGENT.endswith(")")
    # Interaction webhooks are authorised by their token, not the bot token.
    assert log[-1]["authorization"] is False
    assert clock.sleeps == []


def test_explicit_allowed_mentions_and_no_content(fake_discord, settings, clock):
    client = make_client(settings, clock)
    client.edit_original(
        fake_discord.application_id, TOKEN, content="<@42> your answer", allowed_mentions={"users": ["42"]}
    )
    assert fake_discord.original(TOKEN)["allowed_mentions"] == {"users": ["42"]}
    row = [{"type": 1, "components": []}]
    client.edit_original(fake_discord.application_id, "other-token", components=row)
    assert fake_discord.edits("other-token") == [{"components": [{"type": 1, "components": []}], "files": []}]


def test_429_retry_after_is_waited_then_the_call_succeeds(fake_discord, settings, clock):
    fake_discord.fail_next(429, retry_after=2.5, method="PATCH")
    client = make_client(settings, clock)

    client.edit_original(fake_discord.application_id, TOKEN, content="done")

    assert clock.sleeps == [2.5]
    assert [r["method"] for r in fake_discord.request_log()] == ["PATCH", "PATCH"]
    assert fake_discord.original(TOKEN)["content"] == "done"


def test_429_retry_after_header_alone_is_honoured(fake_discord, settings, clock):
    client = make_client(settings, clock)
    session = requests.Session()
    client._session = session
    # A proxy's 429 may carry only the header; the fake sends both, so strip the body's value.
    fake_discord.fail_next(429, retry_after=3.0)
    original = session.request

    def without_body_retry_after(*args, **kwargs):
        response = original(*args, **kwargs)
        if response.status_code == 429:
            response._content = b'{"message": "You are being rate limited.", "global": false}'
        return response

    session.request = without_body_retry_after  # type: ignore[method-assign]
    client.create_message("555", content="hi")
    assert clock.sleeps == [3.0]


def test_global_429_holds_every_route(fake_discord, settings, clock):
    fake_discord.fail_next(429, retry_after=1.5, is_global=True)
    started: list[float] = []

    def sleep(seconds: float) -> None:
        started.append(seconds)
        if len(started) == 1:
            # While the first call waits out the global limit, another caller uses another route: it waits too.
            client.create_message("556", content="meanwhile")
        clock.sleep(seconds)

    client = DiscordRest(settings, sleep=sleep, clock=clock)
    client.create_message("555", content="first")
    assert clock.sleeps == [1.5, 1.5]  # the other route's wait, then the first call's own
    assert [m["content"] for m in fake_discord.channel_messages("556")] == ["meanwhile"]
    client.create_message("557", content="later")
    assert clock.sleeps == [1.5, 1.5]  # the global wait is over
    assert [m["content"] for m in fake_discord.channel_messages("555")] == ["first"]


def test_expired_rate_limit_buckets_are_dropped(fake_discord, settings, clock):
    # Interaction webhooks are limited per webhook id and token, so every interaction is a route of its own:
    # a warm worker must not keep one bucket per token it ever answered.
    client = make_client(settings, clock)
    fake_discord.exhaust_bucket(times=20, reset_after=0.5)
    for n in range(20):
        client.edit_original(fake_discord.application_id, f"token-{n}", content="x")
    assert len(client._buckets) == 20
    clock.now += 1.0
    fake_discord.exhaust_bucket(reset_after=0.5)
    client.edit_original(fake_discord.application_id, "token-new", content="x")
    assert len(client._buckets) == 1


def test_429_beyond_max_retries_raises_retryable_upstream_error(fake_discord, settings, clock):
    fake_discord.fail_next(429, retry_after=0.1, times=10)
    client = make_client(settings, clock, max_retries=2)
    with pytest.raises(DiscordHTTPError) as caught:
        client.edit_original(fake_discord.application_id, TOKEN, content="x")
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.retryable and caught.value.status == 429
    assert len(fake_discord.request_log()) == 3
    assert TOKEN not in str(caught.value)


def test_empty_rate_limit_bucket_is_waited_before_the_next_call_on_that_route(fake_discord, settings, clock):
    client = make_client(settings, clock)
    fake_discord.exhaust_bucket(reset_after=0.75)
    client.create_message("555", content="one")  # answered with X-RateLimit-Remaining: 0
    assert clock.sleeps == []
    client.create_message("777", content="other route")  # another bucket: no wait
    assert clock.sleeps == []
    client.create_message("555", content="two")
    assert clock.sleeps == [0.75]
    client.create_message("555", content="three")  # the last answer had no exhausted bucket
    assert clock.sleeps == [0.75]
    assert [m["content"] for m in fake_discord.channel_messages("555")] == ["one", "two", "three"]


def test_404_right_after_defer_is_retried_with_backoff(fake_discord, settings, clock):
    fake_discord.not_found_after_defer(2)
    client = make_client(settings, clock)

    client.edit_original(fake_discord.application_id, TOKEN, content="late but there")

    assert clock.sleeps == [0.5, 1.0]
    assert len(fake_discord.request_log()) == 3
    assert fake_discord.original(TOKEN)["content"] == "late but there"


def test_404_that_persists_becomes_a_retryable_error(fake_discord, settings, clock):
    fake_discord.not_found_after_defer(10)
    client = make_client(settings, clock)
    with pytest.raises(DiscordHTTPError) as caught:
        client.edit_original(fake_discord.application_id, TOKEN, content="x")
    assert caught.value.status == 404 and caught.value.code == 10015 and caught.value.retryable
    assert len(fake_discord.request_log()) == 4  # first call + 3 retries
    assert TOKEN not in str(caught.value)


def test_404_on_a_bot_route_is_not_retried(fake_discord, settings, clock):
    client = make_client(settings, clock)
    fake_discord.fail_next(404, code=10003, message="Unknown Channel")
    with pytest.raises(DiscordHTTPError) as caught:
        client.create_message("999", content="x")
    assert not caught.value.retryable and caught.value.code == 10003
    assert "Unknown Channel" in str(caught.value)
    assert clock.sleeps == []


def test_5xx_is_retried_with_backoff(fake_discord, settings, clock):
    fake_discord.fail_next(503, times=2)
    client = make_client(settings, clock)
    client.followup(fake_discord.application_id, TOKEN, content="after a hiccup")
    assert clock.sleeps == [1.0, 2.0]
    assert [m["content"] for m in fake_discord.followups(TOKEN)] == ["after a hiccup"]


def test_5xx_beyond_retries_raises_retryable(fake_discord, settings, clock):
    fake_discord.fail_next(500, times=10)
    client = make_client(settings, clock, max_retries=1)
    with pytest.raises(DiscordHTTPError) as caught:
        client.edit_original(fake_discord.application_id, TOKEN, content="x")
    assert caught.value.retryable and caught.value.status == 500


def test_multipart_upload_is_read_back(fake_discord, settings, clock):
    client = make_client(settings, clock)
    archive = bytes(range(256)) * 1000
    message = client.edit_original(
        fake_discord.application_id,
        TOKEN,
        content="Here is the archive.",
        files=[("archive.zip", archive), ("manifest.json", b'{"count": 3}')],
    )
    assert [a["filename"] for a in message["attachments"]] == ["archive.zip", "manifest.json"]
    stored = fake_discord.original(TOKEN)
    assert stored["content"] == "Here is the archive."
    first, second = stored["attachments"]
    assert fake_discord.attachment_bytes(first["id"]) == archive
    assert fake_discord.attachment_bytes(second["id"]) == b'{"count": 3}'
    # The same bytes through the fake's HTTP read API (what the local CLI uses).
    assert requests.get(first["url"], timeout=5).content == archive


def test_followup_with_file_and_ephemeral_flag(fake_discord, settings, clock):
    client = make_client(settings, clock)
    message = client.followup(
        fake_discord.application_id,
        TOKEN,
        content="log",
        ephemeral=True,
        files=[("corrections.jsonl", b'{"a": 1}\n')],
    )
    assert message["flags"] == 64
    (followup,) = fake_discord.followups(TOKEN)
    assert followup["attachments"][0]["filename"] == "corrections.jsonl"
    assert fake_discord.attachment_bytes(followup["attachments"][0]["id"]) == b'{"a": 1}\n'
    data = requests.get(f"{fake_discord.url}/_fake/messages", params={"token": TOKEN}, timeout=5).json()
    assert [m["content"] for m in data["messages"]] == ["log"]


def test_bot_routes_send_the_bot_token_and_a_wrong_one_is_refused(fake_discord, settings, clock):
    make_client(settings, clock).create_message("555", content="ok")
    assert fake_discord.request_log()[-1]["authorization"] is True

    wrong = make_client(settings, clock, bot_token="wrong-bot-token-XYZ")
    with pytest.raises(DiscordHTTPError) as caught:
        wrong.create_message("555", content="no")
    assert caught.value.status == 401 and not caught.value.retryable
    assert "wrong-bot-token-XYZ" not in str(caught.value)


def test_application_commands_bulk_overwrite_global_and_guild(fake_discord, settings, clock):
    client = make_client(settings, clock)
    app = fake_discord.application_id
    commands = [
        {"name": "hi", "description": "Say hi", "type": 1},
        {"name": "train", "description": "Add examples", "default_member_permissions": "32"},
    ]
    created = client.request("PUT", f"/applications/{app}/commands", json=commands)
    assert [c["name"] for c in created] == ["hi", "train"]
    assert client.request("GET", f"/applications/{app}/commands") == created
    # Overwriting keeps the id of a command that keeps its name.
    again = client.request("PUT", f"/applications/{app}/commands", json=commands[:1])
    assert again[0]["id"] == created[0]["id"] and len(again) == 1

    guild = client.request("PUT", f"/applications/{app}/guilds/42/commands", json=commands[1:])
    assert guild[0]["guild_id"] == "42"
    assert [c["name"] for c in fake_discord.commands("42")] == ["train"]
    assert [c["name"] for c in fake_discord.commands()] == ["hi"]


def test_tokens_never_reach_logs_or_exceptions(fake_discord, settings, clock, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(settings, clock)
    fake_discord.fail_next(429, retry_after=0.2)
    fake_discord.fail_next(502)
    fake_discord.not_found_after_defer(1)
    client.edit_original(fake_discord.application_id, TOKEN, content="x")
    client.followup(fake_discord.application_id, TOKEN, content="y")
    client.create_message("555", content="z")
    fake_discord.fail_next(400, message="Invalid Form Body", code=50035)
    with pytest.raises(DiscordHTTPError) as caught:
        client.edit_original(fake_discord.application_id, TOKEN, content="bad")

    text = caplog.text + str(caught.value) + "".join(traceback.format_exception(caught.value))
    assert caplog.records, "the client logged nothing: this test would prove nothing"
    assert any("{token}" in r.getMessage() for r in caplog.records)
    assert TOKEN not in text
    assert fake_discord.bot_token not in text


def test_unreachable_discord_error_hides_the_token(clock, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(discord_api_base=f"http://127.0.0.1:{port}/api/v10", discord_bot_token="bot-SECRET-9")
    client = make_client(settings, clock, max_retries=1)
    with pytest.raises(DiscordHTTPError) as caught:
        client.edit_original("1", TOKEN, content="x")
    assert caught.value.retryable and "ConnectionError" in str(caught.value)
    text = caplog.text + "".join(traceback.format_exception(caught.value))
    assert TOKEN not in text and "bot-SECRET-9" not in text
    assert clock.sleeps == [1.0]


def test_redact_path():
    assert redact_path(f"/webhooks/1/{TOKEN}/messages/@original") == "/webhooks/1/{token}/messages/@original"
    assert (
        redact_path(f"http://x/api/v10/interactions/9/{TOKEN}/callback")
        == "http://x/api/v10/interactions/9/{token}/callback"
    )
    assert redact_path("/channels/5/messages") == "/channels/5/messages"


def test_missing_bot_token_is_a_clear_error(fake_discord, clock):
    client = DiscordRest(Settings(discord_api_base=fake_discord.api_base), sleep=clock.sleep, clock=clock)
    # A deployment fault, not Discord's: no "try again in a minute" for the user, nothing retried.
    with pytest.raises(ConfigError, match="no bot token configured") as caught:
        client.create_message("555", content="x")
    assert not isinstance(caught.value, BotError)
    assert fake_discord.request_log() == []
