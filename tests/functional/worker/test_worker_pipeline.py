"""The worker end to end: SQS (moto, with DLQ redrive) → local runner → handler → job → fake Discord."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from functions.worker import handler as worker_handler
from functions.worker.local_runner import LocalRunner, RunnerContext
from functions.worker.outcome import TaskOutcome
from functions.worker.processor import APOLOGY
from shared.contracts.enqueue import enqueue_task
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.errors import InvalidInput, NotSaved, UpstreamError
from shared.logs import PROJECT_LOGGERS
from tests.conftest import APPLICATION_ID
from tests.functional.worker.conftest import TaskTable

TOKEN = "itok-SECRET-abc"
REGION = "us-east-1"
MAX_RECEIVES = 3  # template.yaml: the JobsQueue's redrive maxReceiveCount, and JOBS_MAX_RECEIVE_COUNT


def make_request(
    kind: str,
    *,
    interaction_id: str = "900000000000000001",
    token: str = "itok-SECRET-abc",
    application_id: str = APPLICATION_ID,
    reply_as_followup: bool = False,
    **args,
) -> TaskRequest:
    ref = InteractionRef(
        id=interaction_id,
        application_id=application_id,
        token=token,
        guild_id="42",
        channel_id="43",
        user_id="44",
    )
    return TaskRequest(kind=kind, interaction=ref, args=args, reply_as_followup=reply_as_followup)


# The loggers the worker owns or configures. botocore's own DEBUG output (off in Lambda) prints request bodies
# verbatim, SQS message bodies included, so it is left out of the check.
WORKER_LOGGERS = ("functions", "shared", "aws_lambda_powertools", "urllib3")


def worker_log_text(caplog) -> str:
    lines = []
    for record in caplog.records:
        if record.name.split(".")[0] in WORKER_LOGGERS:
            lines.append(caplog.handler.format(record))
    return "\n".join(lines)


def idempotency_items(table: str) -> list[dict]:
    return boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"]


def test_a_job_edits_the_deferred_reply(fake_discord, queues, task_table, runner, idempotency_table):
    seen: list[TaskRequest] = []

    @task_table.register("ask")
    def greet(request, ctx):
        seen.append(request)
        return TaskOutcome(content=f"Hello {request.args.prompt}!", files=[("report.txt", b"3 added\n")])

    message_id = enqueue_task(queues.sqs, queues.url, make_request("ask", prompt="Ada"))
    assert message_id

    assert runner.poll_once() == {"received": 1, "failed": 0}

    (message,) = fake_discord.messages(TOKEN)
    assert message["content"] == "Hello Ada!"
    assert fake_discord.attachment_bytes(message["attachments"][0]["id"]) == b"3 added\n"
    (request,) = seen
    assert request.interaction.guild_id == "42" and request.args.prompt == "Ada"
    assert queues.depth() == 0 and queues.dlq_bodies() == []
    (item,) = idempotency_items(idempotency_table)
    assert item["status"]["S"] == "COMPLETED" and "expiration" in item
    assert json.loads(item["data"]["S"]) == {"status": "done", "delivered": True}


def test_on_delivered_gets_the_reply_message_and_a_failure_there_is_logged_not_repeated(
        fake_discord, queues, task_table, runner, caplog):
    seen: list[str] = []

    @task_table.register("ask")
    def answer(request, ctx):
        return TaskOutcome(content="42", on_delivered=lambda message: seen.append(message["id"]))

    @task_table.register("test")
    def answer_then_fail(request, ctx):
        def boom(_message):
            raise RuntimeError("table gone")
        return TaskOutcome(content="43", on_delivered=boom)

    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    enqueue_task(queues.sqs, queues.url, make_request("test", interaction_id="900000000000000002",
                                                     token="itok-other"))
    assert runner.poll_once()["failed"] == 0
    assert seen == [fake_discord.original(TOKEN)["id"]]
    assert fake_discord.original("itok-other")["content"] == "43"
    assert "after-delivery step failed" in caplog.text
    assert queues.depth() == 0


def test_a_chained_job_answers_in_a_followup(fake_discord, queues, task_table, runner):
    @task_table.register("train")
    def first(request, ctx):
        return TaskOutcome(content="summary")

    @task_table.register("start_finetune")
    def second(request, ctx):
        return TaskOutcome(content="estimate")

    enqueue_task(queues.sqs, queues.url, make_request("train"))
    runner.poll_once()
    enqueue_task(queues.sqs, queues.url, make_request("start_finetune", reply_as_followup=True))
    runner.poll_once()
    assert [m["content"] for m in fake_discord.messages(TOKEN)] == ["summary", "estimate"]
    assert fake_discord.followups(TOKEN)[0].get("flags") == 64  # ephemeral, like the trainer replies


def test_a_chained_job_failing_every_time_tells_the_user_in_a_followup(fake_discord, queues, task_table,
                                                                        runner):
    @task_table.register("train")
    def first(request, ctx):
        return TaskOutcome(content="summary")

    @task_table.register("start_finetune")
    def second(request, ctx):
        raise NotSaved()

    enqueue_task(queues.sqs, queues.url, make_request("train"))
    runner.poll_once()
    enqueue_task(queues.sqs, queues.url, make_request("start_finetune", reply_as_followup=True))
    for _ in range(MAX_RECEIVES):
        assert runner.poll_once()["failed"] == 1
    # The first job's reply stays; the failure is told below it.
    assert fake_discord.original(TOKEN)["content"] == "summary"
    assert [m["content"] for m in fake_discord.messages(TOKEN)] == [
        "summary", "Sorry, that didn't work: Not saved, please try again."]


def test_overlong_content_is_cut_to_discords_limit(fake_discord, queues, task_table, runner):
    @task_table.register("ask")
    def long(request, ctx):
        return TaskOutcome(content="x" * 2500)

    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    assert runner.poll_once() == {"received": 1, "failed": 0}
    content = fake_discord.original(TOKEN)["content"]
    assert len(content) == 2000 and content.endswith("…")


def test_the_same_request_delivered_twice_has_one_effect(fake_discord, queues, task_table, runner, worker):
    effects: list[str] = []

    @task_table.register("ask")
    def count(request, ctx):
        effects.append(request.interaction.id)
        return TaskOutcome(content=f"counted {len(effects)}")

    request = make_request("ask")
    enqueue_task(queues.sqs, queues.url, request)
    enqueue_task(queues.sqs, queues.url, request)  # SQS at-least-once: a duplicate of the same interaction
    assert runner.poll_once() == {"received": 2, "failed": 0}
    assert effects == [request.interaction.id]
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["counted 1"]

    # The very same SQS record handed over again (a batch retried after a timeout) is acknowledged too.
    enqueue_task(queues.sqs, queues.url, request)
    received = queues.sqs.receive_message(QueueUrl=queues.url, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    event = {"Records": [runner._record(received[0])]}
    assert worker.handle_batch(event, RunnerContext(30)) == {"batchItemFailures": []}
    assert worker.handle_batch(event, RunnerContext(30)) == {"batchItemFailures": []}
    assert effects == [request.interaction.id]
    assert len(fake_discord.edits(TOKEN)) == 1

    # Another interaction is another job.
    enqueue_task(
        queues.sqs, queues.url, make_request("ask", interaction_id="900000000000000002", token="t2")
    )
    runner.poll_once()
    assert len(effects) == 2


def test_a_poison_message_fails_every_time_and_reaches_the_dlq(fake_discord, queues, runner, caplog):
    caplog.set_level(logging.DEBUG)
    poison = [
        "not json at all itok-SECRET-poison",
        json.dumps({"kind": "train", "interaction": {"token": "itok-SECRET-poison"}}),
        json.dumps(["a", "list"]),
    ]
    for body in poison:
        queues.sqs.send_message(QueueUrl=queues.url, MessageBody=body)

    for _ in range(MAX_RECEIVES):
        assert runner.poll_once() == {"received": 3, "failed": 3}
    # The next receive finds them over maxReceiveCount: SQS moves them to the DLQ, intact.
    assert runner.poll_once() == {"received": 0, "failed": 0}
    assert sorted(queues.dlq_bodies()) == sorted(poison)
    assert queues.depth() == 0
    assert any("poison message" in r.getMessage() for r in caplog.records)
    assert "itok-SECRET-poison" not in worker_log_text(caplog)
    assert fake_discord.request_log() == []


def test_a_retryable_failure_then_success(fake_discord, queues, task_table, runner, idempotency_table):
    attempts: list[int] = []

    @task_table.register("ask")
    def flaky(request, ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise UpstreamError(detail="model provider timed out")
        return TaskOutcome(content="worked the second time")

    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    assert runner.poll_once() == {"received": 1, "failed": 1}
    assert fake_discord.edits(TOKEN) == []  # not the last receive: the user keeps waiting
    assert idempotency_items(idempotency_table) == []  # the failed run released its record
    assert runner.poll_once() == {"received": 1, "failed": 0}
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["worked the second time"]
    assert len(attempts) == 2 and queues.depth() == 0 and queues.dlq_bodies() == []


def test_a_retryable_failure_every_time_tells_the_user_then_goes_to_the_dlq(
    fake_discord, queues, task_table, runner
):
    @task_table.register("train")
    def never(request, ctx):
        raise NotSaved()

    request = make_request("train", text="Q: hi A: hello")
    enqueue_task(queues.sqs, queues.url, request)
    for receive in range(1, MAX_RECEIVES + 1):
        assert runner.poll_once() == {"received": 1, "failed": 1}
        told = [e["content"] for e in fake_discord.edits(TOKEN)]
        assert told == (
            [] if receive < MAX_RECEIVES else ["Sorry, that didn't work: Not saved, please try again."]
        )
    runner.poll_once()
    # Nothing the user sent is lost: the request waits in the DLQ for a redrive.
    (body,) = queues.dlq_bodies()
    assert TaskRequest.from_json(body) == request


def test_a_non_retryable_bot_error_is_shown_and_the_record_is_done(
    fake_discord, queues, task_table, runner
):
    @task_table.register("train")
    def train(request, ctx):
        raise InvalidInput("Line 3 is not valid JSON.")

    enqueue_task(queues.sqs, queues.url, make_request("train"))
    assert runner.poll_once() == {"received": 1, "failed": 0}
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["Line 3 is not valid JSON."]
    assert queues.depth() == 0 and queues.dlq_bodies() == []


def test_an_unexpected_exception_is_logged_with_its_trace_and_apologised_for_last(
    fake_discord, queues, task_table, runner, caplog
):
    caplog.set_level(logging.DEBUG)

    @task_table.register("ask")
    def buggy(request, ctx):
        raise KeyError("missing")

    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    runner.poll_once()
    failures = [r for r in caplog.records if r.name == "functions.worker.processor" and r.exc_info]
    assert failures and failures[0].exc_info[0] is KeyError
    assert fake_discord.edits(TOKEN) == []
    for _ in range(MAX_RECEIVES - 1):
        runner.poll_once()
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == [APOLOGY]
    assert "KeyError" not in APOLOGY
    assert TOKEN not in worker_log_text(caplog)


def test_an_unknown_kind_is_kept_for_a_newer_worker(fake_discord, queues, runner):
    request = make_request("ask")
    body = json.loads(request.to_json()) | {"kind": "from_the_future"}
    queues.sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps(body))
    for _ in range(MAX_RECEIVES):
        assert runner.poll_once()["failed"] == 1
    (last,) = fake_discord.edits(TOKEN)
    assert last["content"].startswith("Sorry, that didn't work:")
    runner.poll_once()
    assert [json.loads(b) for b in queues.dlq_bodies()] == [body]


def test_discord_404_after_defer_and_429_are_absorbed(fake_discord, queues, task_table, runner, sleeps):
    @task_table.register("ask")
    def quick(request, ctx):
        return TaskOutcome(content="fast job")

    fake_discord.not_found_after_defer(2)
    fake_discord.fail_next(429, retry_after=0.4, method="PATCH")
    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    assert runner.poll_once() == {"received": 1, "failed": 0}
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["fast job"]
    assert sleeps[1:] == [0.5, 1.0] and 0 < sleeps[0] <= 0.4


def test_discord_down_makes_the_record_retry_and_the_job_rerun(fake_discord, queues, task_table, runner):
    runs: list[int] = []

    @task_table.register("ask")
    def work(request, ctx):
        runs.append(1)
        return TaskOutcome(content="done")

    fake_discord.fail_next(503, times=6)  # the client's 1 + 5 retries all fail
    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    assert runner.poll_once() == {"received": 1, "failed": 1}
    assert runner.poll_once() == {"received": 1, "failed": 0}
    assert len(runs) == 2
    assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["done"]


def test_an_expired_token_does_not_repeat_the_work(fake_discord, queues, task_table, runner, caplog):
    runs: list[int] = []

    @task_table.register("ask")
    def slow(request, ctx):
        runs.append(1)
        return TaskOutcome(content="too late")

    fake_discord.fail_next(401, code=50027, message="Invalid Webhook Token", path_contains="/webhooks/")
    enqueue_task(queues.sqs, queues.url, make_request("ask"))
    assert runner.poll_once() == {"received": 1, "failed": 0}
    runner.poll_once()
    assert runs == [1] and queues.dlq_bodies() == []
    assert any("reply not delivered" in r.getMessage() for r in caplog.records)


def test_enqueue_job_puts_the_request_and_its_attributes(queues):
    request = make_request("archive", dataset="faq")
    enqueue_task(queues.sqs, queues.url, request)
    (message,) = queues.sqs.receive_message(QueueUrl=queues.url, MessageAttributeNames=["All"])["Messages"]
    assert TaskRequest.from_json(message["Body"]) == request
    assert message["MessageAttributes"]["kind"]["StringValue"] == "archive"
    assert message["MessageAttributes"]["interaction_id"]["StringValue"] == request.interaction.id


def test_enqueue_to_a_missing_queue_is_a_retryable_upstream_error(queues):
    missing = queues.url.rsplit("/", 1)[0] + "/no-such-queue"
    with pytest.raises(UpstreamError) as caught:
        enqueue_task(queues.sqs, missing, make_request("archive"))
    assert caught.value.retryable and "NonExistentQueue" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_lambda_handler_composes_itself_from_the_environment(
    fake_discord, queues, idempotency_table, monkeypatch
):
    registry = TaskTable()

    @registry.register("ask")
    def hello(request, ctx):
        return TaskOutcome(content="hello from the Lambda entry point")

    env = {
        "DISCORD_API_BASE": fake_discord.api_base,
        "IDEMPOTENCY_TABLE": idempotency_table,
        "JOBS_QUEUE_URL": queues.url,
        "AWS_DEFAULT_REGION": REGION,
        "LOG_LEVEL": "INFO",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(worker_handler, "TASKS", registry)
    monkeypatch.setattr(worker_handler, "_worker", None)
    saved = {name: _logger_state(name) for name in PROJECT_LOGGERS}
    try:
        enqueue_task(queues.sqs, queues.url, make_request("ask"))
        runner = LocalRunner(worker_handler.lambda_handler, queues.sqs, queues.url, wait_seconds=0)
        assert runner.poll_once() == {"received": 1, "failed": 0}
        assert [e["content"] for e in fake_discord.edits(TOKEN)] == ["hello from the Lambda entry point"]
        assert worker_handler._worker is not None and worker_handler._worker.max_receive_count == 3
    finally:
        for name, state in saved.items():
            _restore_logger(name, state)


def _logger_state(name: str) -> tuple:
    logger = logging.getLogger(name)
    return list(logger.handlers), logger.level, logger.propagate


def _restore_logger(name: str, state: tuple) -> None:
    logger = logging.getLogger(name)
    logger.handlers[:] = state[0]
    logger.setLevel(state[1])
    logger.propagate = state[2]
