from __future__ import annotations

from dataclasses import dataclass

import pytest

from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from shared.contracts.messages import TaskKind
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


class TaskTable(dict):
    """A task table a test fills with its own functions, one per kind it sends."""

    def register(self, kind: str):
        def decorator(function):
            self[TaskKind(kind)] = function
            return function

        return decorator


@pytest.fixture
def task_table() -> TaskTable:
    return TaskTable()


@pytest.fixture
def worker(settings, task_table, sleeps):
    # The Discord client's waits are recorded, not slept: the fake's faults stay instant.
    ctx = WorkerServices(settings, discord=DiscordRest(settings, sleep=sleeps.append))
    return build_worker(settings, tasks=task_table, ctx=ctx)


@pytest.fixture
def runner(worker, queues) -> LocalRunner:
    # A failed record is visible again at once, so a test can drive every receive up to the DLQ.
    return LocalRunner(
        worker.handle_batch, queues.sqs, queues.url, wait_seconds=0, retry_visibility_timeout=0
    )
