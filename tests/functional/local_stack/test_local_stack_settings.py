"""`make run` honours every setting given in the environment: a fake starts only for what was left unset."""

from __future__ import annotations

import base64
from types import SimpleNamespace

from infra.fakes.openai_server import new_webhook_secret
from infra.local_stack import (
    LocalStack,
    needs_fake_discord,
    needs_fake_openai,
    needs_local_gateway,
    start_fake_discord,
    start_local_gateway,
)
from shared.config import Settings


def test_a_given_discord_api_base_means_no_fake_discord():
    assert needs_fake_discord({})
    assert not needs_fake_discord({"DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"})
    assert not needs_fake_discord({"DISCORD_BOT_TOKEN": "real"})
    assert not needs_fake_discord({"DISCORD_BOT_TOKEN_SECRET": "arn:aws:secretsmanager:us-east-1:1:secret:x"})


def test_a_given_gateway_means_no_local_gateway():
    assert needs_local_gateway({})
    assert not needs_local_gateway({"DISCORD_GATEWAY_URL": "wss://gateway.example.org"})
    # A real bot token connects to Discord's own gateway: nothing local starts.
    assert not needs_local_gateway({"DISCORD_BOT_TOKEN": "real"})


def test_a_given_openai_setting_means_no_fake_openai():
    assert needs_fake_openai({})
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_API_KEY_SECRET"):
        assert not needs_fake_openai({name: "given"})


def test_the_fake_discord_fills_only_what_was_left_unset(aws):
    given = {"ATTACHMENT_HOSTS": "files.example.org", "DISCORD_PUBLIC_KEY": aws.settings.discord_public_key,
             "DISCORD_APPLICATION_ID": aws.settings.discord_application_id}
    stack = LocalStack(Settings(), aws.provisioned, "http://127.0.0.1:1", None, dict(given))
    stack.settings = stack.settings_for("InteractionsFunction")
    fake = start_fake_discord(stack)
    try:
        assert stack.settings.attachment_hosts == ("files.example.org",)  # as given, nothing added
        assert stack.settings.discord_api_base == fake.api_base  # left unset: the fake's
        assert stack.environment("WorkerFunction")["DISCORD_BOT_TOKEN"] == fake.bot_token
    finally:
        fake.stop()


def test_the_local_webhook_secret_is_valid_base64_every_time():
    for _ in range(200):
        secret = new_webhook_secret()
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_the_local_gateway_fills_only_what_was_left_unset(aws):
    given = {"DISCORD_CA_FILE": "/etc/ssl/given-ca.pem", "DISCORD_PUBLIC_KEY": aws.settings.discord_public_key,
             "DISCORD_APPLICATION_ID": aws.settings.discord_application_id}
    stack = LocalStack(Settings(), aws.provisioned, "http://127.0.0.1:1", None, dict(given))
    stack.settings = stack.settings_for("InteractionsFunction")
    discord = SimpleNamespace(bot_token="local-token", application_id=aws.settings.discord_application_id)
    gateway = start_local_gateway(stack, discord, dave=False)
    try:
        environment = stack.environment("InteractionsFunction")
        assert environment["DISCORD_GATEWAY_URL"] == gateway.url  # left unset: the local gateway's
        assert environment["DISCORD_CA_FILE"] == "/etc/ssl/given-ca.pem"  # as given
    finally:
        gateway.stop()
