from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from infra.fakes.discord_server import FakeDiscord
from infra.template import function_timeout, load_template
from shared.config import Settings
from shared.contracts.messages import TaskKind
from shared.discord.rest import DiscordRest

REGION = "us-east-1"
# The template's own numbers: the jobs queue's redrive and visibility, the worker's timeout.
JOBS_QUEUE = load_template()["Resources"]["JobsQueue"]["Properties"]
MAX_RECEIVES = int(JOBS_QUEUE["RedrivePolicy"]["maxReceiveCount"])
WORKER_TIMEOUT = function_timeout("WorkerFunction")


@pytest.fixture
def fake_discord():
    with FakeDiscord(bot_token="bot-token-SECRET-1234") as fake:
        yield fake


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


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
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="jobs",
        Attributes={
            "VisibilityTimeout": str(JOBS_QUEUE["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )["QueueUrl"]
    return Queues(sqs, url, dlq_url)


@pytest.fixture
def idempotency_table(aws) -> str:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="idempotency",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    dynamodb.update_time_to_live(
        TableName="idempotency", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    return "idempotency"


@pytest.fixture
def bucket(aws) -> str:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="bucket")
    return "bucket"


@pytest.fixture
def settings(fake_discord, queues, idempotency_table, bucket) -> Settings:
    return Settings(
        bucket_name=bucket,
        discord_api_base=fake_discord.api_base,
        discord_application_id=fake_discord.application_id,
        aws_region=REGION,
        idempotency_table=idempotency_table,
        jobs_queue_url=queues.url,
        jobs_max_receive_count=MAX_RECEIVES,
        discord_bot_token=fake_discord.bot_token,
    )


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
