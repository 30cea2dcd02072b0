"""The one fixture set of the suite: fake AWS credentials, a generated application key, the template's resources on
moto (``aws``), the local fakes of Discord and OpenAI, the settings that point at all of them (``settings``), and a
signed-interaction client for the Flask app. Folders add fixtures of their own under other names."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from functions.interactions.app import create_app
from infra.fakes.discord_server import FakeDiscord
from infra.fakes.openai_server import FakeOpenAI, new_webhook_secret
from infra.signing import InteractionSigner
from infra.template import Provisioned, function_environment, load_template, provision
from shared.aws import AwsClients
from shared.config import Settings
from shared.storage.stores import Stores

# SpeechRecognition imports aifc, which Python 3.13 removed; the standard-aifc package that replaces it warns once
# at import, so the libraries are imported here before filterwarnings=error applies to tests.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="aifc was removed in Python 3.13", category=DeprecationWarning)
    import discord  # noqa: F401
    import pydub  # noqa: F401
    import speech_recognition  # noqa: F401

APPLICATION_ID = "100000000000000042"
BOT_TOKEN = "bot-token-SECRET-1234"


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never reach a real account, whatever the developer's shell has.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def signer() -> InteractionSigner:
    return InteractionSigner.generate()


@dataclass
class LocalAws:
    clients: AwsClients
    provisioned: Provisioned
    settings: Settings


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def boto_session() -> Any:
    # One session for the run: its loaded service models make each test's clients quick to build.
    import boto3

    return boto3.session.Session()


@pytest.fixture
def aws(signer: InteractionSigner, template: dict[str, Any], boto_session: Any) -> Iterator[LocalAws]:
    """Every table, bucket and queue of template.yaml, in moto, and the template's Settings pointing at them."""
    with mock_aws():
        clients = AwsClients(Settings(), session=boto_session)
        provisioned = provision(
            clients, template=template,
            parameters={"DiscordPublicKey": signer.public_key_hex, "DiscordApplicationId": APPLICATION_ID,
                        # A deployment with the voice worker, so the functions get the voice queue.
                        "VoiceImageUri": "voice-worker-image"},
        )
        environment = function_environment(provisioned, "InteractionsFunction", template)
        environment["IDEMPOTENCY_TABLE"] = provisioned.refs["IdempotencyTable"]
        yield LocalAws(clients, provisioned, Settings.from_env(environment))


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord(bot_token=BOT_TOKEN, application_id=APPLICATION_ID) as fake:
        yield fake


@pytest.fixture
def webhook_secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def fake_openai(webhook_secret: str) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(webhook_secret=webhook_secret) as fake:
        yield fake


@pytest.fixture
def openai_client(fake_openai: FakeOpenAI) -> Iterator[Any]:
    from openai import OpenAI

    from shared.openai_api import OPENAI_MAX_RETRIES, OPENAI_TIMEOUT_SECONDS

    # Production's timeout and retries (shared.openai_api.openai_client).
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=OPENAI_MAX_RETRIES,
                timeout=OPENAI_TIMEOUT_SECONDS) as client:
        yield client


@pytest.fixture(scope="session")
def catalog() -> Any:
    """The bundled catalog of base models."""
    from shared.finetune.catalog import load_catalog

    return load_catalog()


@pytest.fixture
def settings(aws: LocalAws, fake_discord: FakeDiscord, fake_openai: FakeOpenAI, webhook_secret: str) -> Settings:
    """The template's settings on moto, with Discord, its CDN and OpenAI at the local fakes, and speech made
    locally (espeak): nothing leaves the machine."""
    return dataclasses.replace(
        aws.settings,
        discord_api_base=fake_discord.api_base,
        discord_application_id=APPLICATION_ID,
        discord_bot_token=fake_discord.bot_token,
        attachment_hosts=(*aws.settings.attachment_hosts, fake_discord.cdn_host),
        openai_api_key="sk-test",
        openai_base_url=fake_openai.url,
        openai_webhook_secret=webhook_secret,
        finetune_provider="openai",
        voice_tts_engine="espeak",
    )


@dataclass
class InteractionClient:
    """Posts interactions to the Flask app the way Discord does, signed with the test key."""

    flask_client: Any
    signer: InteractionSigner

    def post(self, interaction: dict[str, Any], **kwargs: Any) -> Any:
        body = json.dumps(interaction).encode()
        return self.flask_client.post("/interactions", data=body, headers=self.signer.headers(body), **kwargs)

    def send(self, interaction: dict[str, Any]) -> dict[str, Any]:
        response = self.post(interaction)
        assert response.status_code == 200, response.data
        return response.get_json()


@pytest.fixture
def stores(aws: LocalAws) -> Stores:
    return Stores(aws.settings, aws=aws.clients)


@pytest.fixture
def app_client(aws: LocalAws, stores: Stores, signer: InteractionSigner) -> InteractionClient:
    app = create_app(aws.settings, stores=stores)
    return InteractionClient(app.test_client(), signer)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no asyncio plugin is installed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), 60))
        return True
    return None


@pytest.fixture
def sqs_clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's SQS clock, advanced by tests (a failed record's retry delay) instead of slept through."""
    from tests.support.sqs_clock import SqsClock

    return SqsClock(monkeypatch)
