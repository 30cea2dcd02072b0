"""The jobs queue's retry schedule, read from template.yaml: every receive of a job, and the user's answer,
fall inside the 15 minutes an interaction token lives."""

from __future__ import annotations

from functions.worker.processor import RETRY_DELAYS_SECONDS, retry_delay
from infra.template import function_timeout, load_template
from shared.contracts.messages import INTERACTION_TOKEN_LIFETIME_SECONDS
from shared.openai_api import OPENAI_MAX_RETRIES, OPENAI_TIMEOUT_SECONDS

TEMPLATE = load_template()
QUEUE = TEMPLATE["Resources"]["JobsQueue"]["Properties"]
WORKER_ENV = TEMPLATE["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
# What an SQS event source adds before a visible record reaches the function (polling, batching).
POLLING_SLACK_SECONDS = 30
# The OpenAI SDK's longest wait between two tries.
OPENAI_MAX_BACKOFF_SECONDS = 8.0


def worst_case_last_receive_end() -> int:
    """When the last receive ends at the latest: each earlier receive either crashes (back after the queue's
    visibility timeout, counted from the receive) or fails (back after the retry delay, counted from the end)."""
    timeout = function_timeout("WorkerFunction")
    visibility = int(QUEUE["VisibilityTimeout"])
    receives = int(QUEUE["RedrivePolicy"]["maxReceiveCount"])
    t = 0
    for receive in range(1, receives):
        t += max(visibility, timeout + retry_delay(receive)) + POLLING_SLACK_SECONDS
    return t + timeout


def test_every_receive_ends_while_the_interaction_token_lives():
    assert worst_case_last_receive_end() < INTERACTION_TOKEN_LIFETIME_SECONDS


def test_the_worker_and_the_queue_agree_on_the_receive_count():
    assert int(WORKER_ENV["JOBS_MAX_RECEIVE_COUNT"]) == int(QUEUE["RedrivePolicy"]["maxReceiveCount"])
    assert len(RETRY_DELAYS_SECONDS) >= int(QUEUE["RedrivePolicy"]["maxReceiveCount"]) - 1


def test_the_queue_outlasts_the_function_as_lambda_requires():
    assert int(QUEUE["VisibilityTimeout"]) >= function_timeout("WorkerFunction")


def test_the_worker_may_bring_a_failed_record_back_early():
    statements = TEMPLATE["Resources"]["WorkerFunction"]["Properties"]["Policies"][0]["Statement"]
    allowed = [s for s in statements if "sqs:ChangeMessageVisibility" in s["Action"]]
    assert allowed and allowed[0]["Resource"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}


def test_one_openai_call_fits_the_worker_timeout_with_room_for_the_reply():
    tries = OPENAI_MAX_RETRIES + 1
    worst = tries * OPENAI_TIMEOUT_SECONDS + OPENAI_MAX_RETRIES * OPENAI_MAX_BACKOFF_SECONDS
    assert worst < function_timeout("WorkerFunction") / 1.5
