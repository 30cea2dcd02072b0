from __future__ import annotations

from dataclasses import dataclass

import pytest

from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from infra.template import function_timeout, load_template
from shared.contracts.messages import TaskKind
from shared.discord.rest import DiscordRest

# The template's own numbers: the jobs queue's redrive, the worker's timeout.
MAX_RECEIVES = int(load_template()["Resources"]["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
WORKER_TIMEOUT = function_timeout("WorkerFunction")


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
    """The template's JobsQueue and its dead-letter queue."""
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


class DiscordClock:
    """The Discord client's monotonic clock: it moves when the client sleeps (recorded, not slept) or when a
    test says time passed."""

    def __init__(self, sleeps: list[float]) -> None:
        self.now = 1000.0
        self.sleeps = sleeps

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def discord_clock(sleeps) -> DiscordClock:
    return DiscordClock(sleeps)


@pytest.fixture
def worker(settings, task_table, discord_clock):
    # The Discord client's waits are recorded, not slept: the fake's faults stay instant.
    ctx = WorkerServices(settings, discord=DiscordRest(settings, sleep=discord_clock.sleep, clock=discord_clock))
    return build_worker(settings, tasks=task_table, ctx=ctx)


@pytest.fixture
def runner(worker, queues) -> LocalRunner:
    # A failed record comes back after the worker's retry delay: tests move sqs_clock forward by it.
    return LocalRunner(worker.handle_batch, queues.sqs, queues.url, wait_seconds=0,
                       invocation_timeout=WORKER_TIMEOUT)
