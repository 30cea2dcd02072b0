from __future__ import annotations

from dataclasses import dataclass

import pytest

from functions.worker.context import WorkerContext
from functions.worker.handler import build_worker
from functions.worker.jobs import JobRegistry
from functions.worker.local_runner import LocalRunner
from shared.discord.rest import DiscordRest


@dataclass
class Queues:
    sqs: object
    url: str
    dlq_url: str

    def dlq_bodies(self) -> list[str]:
        response = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10)
        return [m["Body"] for m in response.get("Messages", [])]

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def queues(aws) -> Queues:
    """The template's JobsQueue and its dead-letter queue (maxReceiveCount 3)."""
    refs = aws.provisioned.refs
    return Queues(aws.clients.sqs, refs["JobsQueue"], refs["JobsDeadLetterQueue"])


@pytest.fixture
def idempotency_table(aws) -> str:
    return aws.settings.idempotency_table


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def job_registry() -> JobRegistry:
    return JobRegistry()


@pytest.fixture
def worker(settings, job_registry, sleeps):
    # The Discord client's waits are recorded, not slept: the fake's faults stay instant.
    ctx = WorkerContext(settings, discord=DiscordRest(settings, sleep=sleeps.append))
    return build_worker(settings, job_registry=job_registry, ctx=ctx, job_modules=())


@pytest.fixture
def runner(worker, queues) -> LocalRunner:
    # A failed record is visible again at once, so a test can drive every receive up to the DLQ.
    return LocalRunner(
        worker.handle_batch, queues.sqs, queues.url, wait_seconds=0, retry_visibility_timeout=0
    )
