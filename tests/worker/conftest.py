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
from shared.config import Settings
from shared.contracts.messages import TaskKind
from shared.discord.rest import DiscordRest

REGION = "us-east-1"
MAX_RECEIVES = 3


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
            "VisibilityTimeout": "30",
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
def settings(fake_discord, queues, idempotency_table) -> Settings:
    return Settings(
        discord_api_base=fake_discord.api_base,
        discord_application_id=fake_discord.application_id,
        aws_region=REGION,
        idempotency_table=idempotency_table,
        jobs_queue_url=queues.url,
        jobs_max_receive_count=MAX_RECEIVES,
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
