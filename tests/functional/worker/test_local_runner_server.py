"""The local runner's polling loop against moto in server mode, as ``make run`` uses it: start, work, stop."""

from __future__ import annotations

import threading
import time

import pytest

from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.outcome import TaskOutcome
from functions.worker.services import WorkerServices
from infra.template import provision
from shared.aws import AwsClients
from shared.config import Settings
from shared.contracts.enqueue import enqueue_task
from shared.contracts.messages import InteractionRef, TaskKind, TaskRequest
from tests.support import moto_server as moto


@pytest.fixture
def moto_server(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto.moto_server() as endpoint:
        yield endpoint


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_runner_loop_serves_jobs_until_stopped(moto_server, template, fake_discord):
    region = "us-east-1"
    clients = AwsClients(Settings(aws_endpoint_url=moto_server, aws_region=region))
    refs = provision(clients, template=template).refs
    sqs, queue, dlq = clients.sqs, refs["JobsQueue"], refs["JobsDeadLetterQueue"]
    settings = Settings(
        discord_api_base=fake_discord.api_base,
        aws_endpoint_url=moto_server,
        aws_region=region,
        idempotency_table=refs["IdempotencyTable"],
        jobs_queue_url=queue,
    )
    def shout(request, ctx):
        return TaskOutcome(content=request.args.data.upper())

    # No clients passed in: the context builds them from the settings' endpoint, as in the local stack.
    worker = build_worker(settings, tasks={TaskKind.TEST: shout}, ctx=WorkerServices(settings))
    runner = LocalRunner(worker.handle_batch, sqs, queue, wait_seconds=1)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        for n in range(3):
            ref = InteractionRef(
                id=f"90000000000000000{n}", application_id=fake_discord.application_id, token=f"tok{n}"
            )
            enqueue_task(
                sqs, queue, TaskRequest(kind=TaskKind.TEST, interaction=ref, args={"data": f"hello {n}"})
            )
        sqs.send_message(QueueUrl=queue, MessageBody="{broken")
        wait_for(lambda: all(fake_discord.original(f"tok{n}") for n in range(3)))
        assert [fake_discord.original(f"tok{n}")["content"] for n in range(3)] == [
            "HELLO 0",
            "HELLO 1",
            "HELLO 2",
        ]

        def poison_in_dlq() -> bool:
            got = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", [])
            return [m["Body"] for m in got] == ["{broken"]

        wait_for(poison_in_dlq)
    finally:
        runner.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert runner.stopped
