"""The model area's stack: moto (the template's table, bucket, queues), FakeOpenAI and FakeDiscord on loopback,
the interactions app with signed interactions, the worker fed from the real (moto) jobs queue, the watcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from functions.interactions.app import create_app
from functions.watcher.watch import JobWatcher
from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from infra import interactions as build
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
