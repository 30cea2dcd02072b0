"""The production replier's call into the shared REST client, and bot token resolution."""

from __future__ import annotations

import threading

import boto3

from shared.config import Settings
from tests.support.voice import ref
from voice_worker.__main__ import resolve_bot_token
from voice_worker.replies import RestReplier


async def test_rest_replier_edits_the_original_off_the_loop():
    calls = []

    class Rest:
        def edit_original(self, application_id, token, *, content=None, allowed_mentions=None):
            calls.append((application_id, token, content, allowed_mentions, threading.current_thread().name))
            return {}

    await RestReplier(Settings(), rest=Rest()).edit_original(ref("5"), "Joined #General")
    application_id, token, content, mentions, thread = calls[0]
    # None: DiscordRest then sends allowed_mentions that ping nobody (tests/discord_api checks the wire).
    assert (application_id, token, content, mentions) == ("800000000000000001", "secret-token", "Joined #General",
                                                          None)
    assert thread != threading.main_thread().name


def test_interaction_token_is_not_in_repr():
    assert "secret-token" not in repr(ref("5"))


def test_bot_token_from_settings_ssm_or_secrets_manager(aws):
    assert resolve_bot_token(Settings(discord_bot_token="direct")) == "direct"
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/bot/token", Value="from-ssm",
                                                               Type="SecureString")
    assert resolve_bot_token(Settings(discord_bot_token_secret="ssm:/bot/token")) == "from-ssm"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="bot-token",
                                                                          SecretString="from-sm")
    assert resolve_bot_token(Settings(discord_bot_token_secret="bot-token")) == "from-sm"
