"""Feeds the worker from a real SQS queue (moto server in ``make run``), as Lambda's event source does.

Long-polls the queue, hands each batch to the same handler as an SQS-shaped event, deletes the records the
handler did not report as failed, and leaves failed ones to come back after their visibility timeout (then the
queue's redrive policy moves them to the DLQ), exactly as in AWS::

    python -m functions.worker.local_runner --queue-url "$JOBS_QUEUE_URL"

Stop it with Ctrl-C, or :meth:`LocalRunner.stop` from another thread.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class RunnerContext:
    """The parts of a Lambda context the worker uses: time left, so in-progress records expire."""

    timeout_seconds: float
    function_name: str = "worker-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:worker-local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalRunner:
    def __init__(self, handler: Handler, sqs_client: Any, queue_url: str, *, batch_size: int = 10,
                 wait_seconds: int = 1, invocation_timeout: float = 60.0,
                 retry_visibility_timeout: int | None = None) -> None:
        """``retry_visibility_timeout``: when set, a failed record becomes visible again after that many
        seconds instead of the queue's visibility timeout (handy locally; Lambda leaves it to the queue)."""
        self.handler = handler
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.invocation_timeout = invocation_timeout
        self.retry_visibility_timeout = retry_visibility_timeout
        self._stop = threading.Event()
        self._queue_arn: str | None = None
        self._region = getattr(getattr(sqs_client, "meta", None), "region_name", None) or "us-east-1"

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Poll until stopped."""
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                # The loop survives a failed poll (moto restarting, a handler bug); Lambda would retry too.
                logger.exception("local runner: poll failed")
                self._stop.wait(1.0)

    def poll_once(self) -> dict[str, int]:
        """Receive one batch, run it, acknowledge the successes; return counts of received and failed."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            return {"received": 0, "failed": 0}
        event = {"Records": [self._record(m) for m in messages]}
        result = self.handler(event, RunnerContext(self.invocation_timeout)) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start:start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if self.retry_visibility_timeout is not None:
            for message in messages:
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url,
                                                       ReceiptHandle=message["ReceiptHandle"],
                                                       VisibilityTimeout=self.retry_visibility_timeout)
        logger.info("local runner: %d received, %d failed", len(messages), len(failed))
        return {"received": len(messages), "failed": len(failed)}

    def _arn(self) -> str:
        if self._queue_arn is None:
            attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record Lambda's SQS event source builds from a received message."""
        attributes = {k: v for k, v in (message.get("Attributes") or {}).items()}
        attributes.setdefault("ApproximateReceiveCount", "1")
        message_attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode(),
                                                                 usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn(),
            "awsRegion": self._region,
        }


def main(argv: list[str] | None = None) -> None:
    import signal

    from functions.worker import handler as worker_handler
    from shared.aws import AwsClients
    from shared.config import Settings

    parser = argparse.ArgumentParser(description="Run the worker against an SQS queue (local stack).")
    parser.add_argument("--queue-url", help="default: JOBS_QUEUE_URL")
    parser.add_argument("--wait-seconds", type=int, default=5)
    parser.add_argument("--retry-after", type=int, default=None,
                        help="seconds before a failed record is retried "
                             "(default: the queue's visibility timeout)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    queue_url = args.queue_url or settings.jobs_queue_url
    if not queue_url:
        parser.error("give --queue-url or set JOBS_QUEUE_URL")
    sqs = AwsClients(settings).client("sqs")
    runner = LocalRunner(worker_handler.lambda_handler, sqs, queue_url, wait_seconds=args.wait_seconds,
                         retry_visibility_timeout=args.retry_after)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    logger.info("local runner: polling the jobs queue")
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
