"""Secret references resolved through Powertools parameters against moto (Secrets Manager and SSM)."""

from __future__ import annotations

import boto3
import pytest

from shared import config as secrets
from shared.config import Settings
from shared.discord.rest import DiscordRest
from shared.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_secret_cache():
    secrets.clear_cache()
    yield
    secrets.clear_cache()


def test_secrets_manager_name_and_arn(aws):
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="discord/bot-token", SecretString="tok-from-sm\n")["ARN"]
    assert secrets.resolve_secret("discord/bot-token") == "tok-from-sm"
    assert secrets.resolve_secret(arn) == "tok-from-sm"


def test_secret_stored_as_single_field_json(aws):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="openai", SecretString='{"OPENAI_API_KEY": "sk-test"}'
    )
    assert secrets.resolve_secret("openai") == "sk-test"


def test_ssm_secure_string(aws):
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/trainer/bot-token", Value="tok-from-ssm", Type="SecureString"
    )
    assert secrets.resolve_secret("ssm:/trainer/bot-token") == "tok-from-ssm"


def test_values_are_cached(aws):
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="cached", SecretString="first")
    assert secrets.resolve_secret("cached") == "first"
    client.put_secret_value(SecretId="cached", SecretString="second")
    assert secrets.resolve_secret("cached") == "first"
    assert secrets.resolve_secret("cached", force_fetch=True) == "second"


def test_missing_or_empty_reference_is_a_config_error_naming_the_reference(aws):
    with pytest.raises(ConfigError, match="no-such-secret"):
        secrets.resolve_secret("no-such-secret")
    with pytest.raises(ConfigError):
        secrets.resolve_secret("")


def test_rest_client_resolves_the_bot_token_from_the_secret(aws, fake_discord):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="bot", SecretString=fake_discord.bot_token
    )
    settings = Settings(discord_api_base=fake_discord.api_base, discord_bot_token_secret="bot")
    DiscordRest(settings).create_message("555", content="from a secret")
    assert [m["content"] for m in fake_discord.channel_messages("555")] == ["from a secret"]
