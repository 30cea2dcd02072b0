"""The model area's stack: moto (the template's table, bucket, queues), FakeOpenAI and FakeDiscord on loopback,
the interactions app with signed interactions, the worker fed from the real (moto) jobs queue, the watcher."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
from openai import OpenAI

from functions.interactions.app import create_app
from functions.watcher.watch import JobWatcher
from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from infra import interactions as build
from infra.fakes.discord_server import FakeDiscord
from infra.fakes.openai_server import FakeOpenAI, SpecValidator, new_webhook_secret
from shared.config import Settings
from shared.discord.rest import DiscordRest
from shared.domain.examples import ChatMessage, Example
from shared.finetune.catalog import load_catalog
from shared.finetune.exports import export_training
from shared.finetune.jobs import JobRequest as FineTuneRequest
from shared.finetune.providers import OpenAIProvider
from shared.storage.datasets import DatasetStore
from shared.storage.finetune_jobs import FineTuneJobRecord, FineTuneJobStore
from shared.storage.stores import Stores
from tests.conftest import APPLICATION_ID, InteractionClient

A = {"application_id": APPLICATION_ID}
GUILD = build.DEFAULT_GUILD
CHANNEL = build.DEFAULT_CHANNEL
TRAINER = {"permissions": 1 << 5}
BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    return SpecValidator()


@pytest.fixture
def webhook_secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def fake_openai(spec_validator, webhook_secret):
    with FakeOpenAI(validator=spec_validator, webhook_secret=webhook_secret) as fake:
        yield fake


@pytest.fixture
def fake_discord():
    with FakeDiscord(bot_token="bot-token-SECRET-5678", application_id=APPLICATION_ID) as fake:
        yield fake


@pytest.fixture
def settings(aws, fake_openai, fake_discord, webhook_secret) -> Settings:
    return dataclasses.replace(aws.settings,
        openai_api_key="sk-test",
        openai_base_url=fake_openai.url,
        openai_webhook_secret=webhook_secret,
        finetune_provider="openai",
        discord_api_base=fake_discord.api_base,
        discord_bot_token=fake_discord.bot_token,
        discord_application_id=APPLICATION_ID,
        attachment_hosts=(fake_discord.cdn_host,),
        voice_queue_url="",
    )


@pytest.fixture
def openai_client(fake_openai):
    # No client retries: the fake's 429/500 reach the code under test at once.
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0, timeout=5.0) as client:
        yield client


@pytest.fixture
def provider(settings, openai_client) -> OpenAIProvider:
    return OpenAIProvider(settings, client=openai_client)


@pytest.fixture
def client(aws, settings, signer) -> InteractionClient:
    app = create_app(settings, stores=Stores(settings, aws=aws.clients))
    return InteractionClient(app.test_client(), signer)


@pytest.fixture
def worker_ctx(aws, settings, provider, openai_client) -> WorkerServices:
    return WorkerServices(settings, aws=aws.clients, discord=DiscordRest(settings, sleep=lambda _s: None),
                         openai=openai_client, finetune_provider=provider)


@pytest.fixture
def runner(aws, settings, worker_ctx) -> LocalRunner:
    worker = build_worker(settings, ctx=worker_ctx)
    return LocalRunner(worker.handle_batch, aws.clients.sqs, settings.jobs_queue_url, wait_seconds=0,
                       retry_visibility_timeout=0)


@pytest.fixture
def jobs(aws, settings) -> FineTuneJobStore:
    return FineTuneJobStore(settings.data_table, aws.clients.dynamodb)


@pytest.fixture
def watcher(settings, jobs, provider) -> JobWatcher:
    return JobWatcher(settings, jobs=jobs, provider_factory={"openai": provider}.__getitem__,
                      discord=DiscordRest(settings, sleep=lambda _s: None))


@pytest.fixture
def started(provider, jobs):
    """A recorded job that the provider has created, as the worker leaves it (validating_files)."""
    catalog = load_catalog()
    export = export_training([qa(f"Question {i}?", f"Answer {i}.") for i in range(20)],
                             catalog.model("openai", BASE), catalog)
    record, _ = jobs.record_start(FineTuneJobRecord(guild_id=GUILD, request_id="1300000000000000555", dataset="faq",
                                                    provider="openai", base_model=BASE, channel_id=CHANNEL,
                                                    requested_by="7"))
    job = provider.start_job(export, FineTuneRequest(request_id=record.request_id, guild_id=GUILD, dataset="faq"),
                             epochs=3)
    return jobs.update_from_provider(record, job)


def qa(question: str, answer: str) -> Example:
    return Example(messages=(ChatMessage("user", question), ChatMessage("assistant", answer)))


@pytest.fixture
def dataset(aws, settings) -> str:
    """A selected dataset of 12 question/answer examples in guild GUILD."""
    store = DatasetStore(settings, dynamodb_client=aws.clients.dynamodb)
    store.select_dataset(GUILD, "faq", created_by="seed")
    store.add_examples(GUILD, "faq", [qa(f"What is fact {i}?", f"Fact {i} is true.") for i in range(12)],
                       upload_id="seed")
    return "faq"


@dataclass
class Sent:
    reply: dict[str, Any]
    token: str
    interaction_id: str


def send(client: InteractionClient, interaction: dict[str, Any]) -> Sent:
    return Sent(client.send(interaction), interaction["token"], interaction["id"])
