"""The trainer commands end to end: the signed Flask app → the template's JobsQueue (moto) → the worker's
TaskProcessor (real boto3 on moto, real DiscordRest) → FakeDiscord (REST + CDN on loopback)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.interactions.app import create_app
from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.processor import TaskProcessor
from functions.worker.services import WorkerServices
from infra import interactions as build
from infra.fakes.discord_server import FakeDiscord
from shared.config import Settings
from shared.discord.rest import DiscordRest
from shared.storage.stores import Stores
from tests.conftest import APPLICATION_ID, InteractionClient, LocalAws

GUILD = build.DEFAULT_GUILD
TRAINER = {"application_id": APPLICATION_ID, "permissions": build.MANAGE_GUILD}
DEFERRED_EPHEMERAL = {"type": 5, "data": {"flags": 64}}


def chat_line(question: str, answer: str) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": question},
                                    {"role": "assistant", "content": answer}]}).encode()


@dataclass
class Stack:
    aws: LocalAws
    settings: Settings
    stores: Stores
    client: InteractionClient
    worker: TaskProcessor
    runner: LocalRunner
    fake: FakeDiscord
    sleeps: list[float] = field(default_factory=list)

    def attachment(self, filename: str, data: bytes, *, size: int | None = None,
                   content_type: str = "application/octet-stream", **cdn: Any) -> dict[str, Any]:
        """An attachment object as Discord puts it in ``resolved.attachments``, served by the fake CDN."""
        attachment_id = build.snowflake()
        url = self.fake.add_cdn_file(f"{GUILD}/{attachment_id}/{filename}", data, content_type=content_type,
                                     **cdn) + "?ex=6789&is=1234&hm=abcd"
        return {"id": attachment_id, "filename": filename, "size": len(data) if size is None else size,
                "url": url, "proxy_url": url, "content_type": content_type}

    def command(self, name: str, options: dict[str, Any] | None = None, *,
                file: dict[str, Any] | None = None, **base: Any) -> dict[str, Any]:
        base = {**TRAINER, **base}
        return build.slash(name, options=options, attachments={"file": file} if file else None, **base)

    def queued(self) -> list[dict[str, Any]]:
        """Bodies of the messages waiting on the jobs queue (made visible again at once)."""
        sqs = self.aws.clients.sqs
        url = self.settings.jobs_queue_url
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in response.get("Messages", [])]

    def deferred(self, interaction: dict[str, Any]) -> None:
        reply = self.client.send(interaction)
        assert reply == DEFERRED_EPHEMERAL, reply

    def work(self) -> dict[str, int]:
        return self.runner.poll_once()

    def run(self, interaction: dict[str, Any]) -> dict[str, Any]:
        """Send a deferred command, run the worker once, return the edited reply read back from the fake."""
        self.deferred(interaction)
        assert self.work()["failed"] == 0
        original = self.fake.original(interaction["token"])
        assert original is not None, "the worker did not edit the deferred reply"
        return original

    def inline(self, interaction: dict[str, Any]) -> str:
        reply = self.client.send(interaction)
        assert reply["type"] == 4 and reply["data"]["flags"] == 64, reply
        return str(reply["data"]["content"])

    def dataset_size(self, name: str) -> int:
        info = self.stores.datasets.get_dataset(GUILD, name)
        return info.example_count if info else 0

    def bucket_keys(self) -> list[str]:
        listing = self.aws.clients.s3.list_objects_v2(Bucket=self.settings.bucket_name)
        return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.fixture
def make_stack(aws: LocalAws, settings: Settings, signer, fake_discord: FakeDiscord) -> Callable[..., Stack]:
    base = settings

    def make(**overrides: Any) -> Stack:
        settings = dataclasses.replace(base, **overrides)
        stores = Stores(settings, aws=aws.clients)
        client = InteractionClient(create_app(settings, stores=stores).test_client(), signer)
        sleeps: list[float] = []
        # The Discord client's waits are recorded, not slept, so 429s and 404s stay instant.
        ctx = WorkerServices(settings, aws=aws.clients, discord=DiscordRest(settings, sleep=sleeps.append))
        worker = build_worker(settings, ctx=ctx)
        runner = LocalRunner(worker.handle_batch, aws.clients.sqs, settings.jobs_queue_url, wait_seconds=0,
                             retry_visibility_timeout=0)
        return Stack(aws, settings, stores, client, worker, runner, fake_discord, sleeps)

    return make


@pytest.fixture
def stack(make_stack) -> Stack:
    return make_stack()
