"""Running queued jobs: one SQS record at a time, each job's effect once, failures turned into replies.

For every record of a batch:

- a body that is not a :class:`JobRequest` (poison) fails on every delivery and so reaches the DLQ;
  its body is never logged (it may hold a token);
- the job runs inside Powertools idempotency (DynamoDB, keyed by the interaction id and the kind):
  a redelivered message whose job already completed is acknowledged without a second effect, and a
  delivery that overlaps a running one fails and comes back later;
- a non-retryable :class:`BotError` becomes the edited reply and the record is done;
- a retryable error or an unexpected exception fails the record. The record is made visible again after
  :data:`RETRY_DELAYS_SECONDS` (``ChangeMessageVisibility``) rather than after the queue's visibility timeout,
  so that every receive up to ``maxReceiveCount`` happens while the 15-minute interaction token still lives
  (``tests/unit/test_retry_schedule.py`` checks this against template.yaml's numbers). On the last receive the
  user is told, and the request itself stays in the DLQ.

A job's paid work (provider calls) is never repeated because its reply could not be delivered: the job's
result is recorded first (the idempotency record keeps the reply; its files go to S3), then delivered. A
delivery that fails for a reason worth retrying fails the record, and the next receive delivers the recorded
reply without running the job again. Once the interaction token has expired, the user is told in the channel
with the bot token instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from functions.worker.context import WorkerContext
from functions.worker.jobs import AFTER_DELIVERY, REPLY_AS_FOLLOWUP, JobOutcome, JobRegistry
from shared.contracts.messages import JobRequest
from shared.discord.rest import DiscordHTTPError
from shared.discord.text import MAX_CONTENT, clip
from shared.errors import BotError, ConfigError
from shared.storage.replies import PendingReply, ReplyStore

logger = logging.getLogger(__name__)

# A completed job is remembered this long; SQS keeps a message at most 14 days, redeliveries come far sooner.
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
FAILED_MESSAGE = "Sorry, that didn't work: {reason}"
APOLOGY = "Sorry, something went wrong on my side and I couldn't finish that. Please try again later."
LATE_NOTICE = ("<@{user}> your `/{command}` finished after its reply link expired, so I can't show the result "
               "here. Please run it again.")
LATE_FAILURE = "<@{user}> your `/{command}` didn't work: {reason}"
# Seconds before a failed record is received again, after its 1st, 2nd, ... failed receive. Together with the
# worker's timeout and the queue's visibility timeout (template.yaml) they keep every receive inside the
# interaction token's 15 minutes.
RETRY_DELAYS_SECONDS = (20, 60)
# A reply sent this close to the token's end might arrive after it: the channel is used instead.
TOKEN_MARGIN_SECONDS = 10.0
# Discord's answers to a webhook call with a dead token: Invalid Webhook Token, Unknown Webhook.
DEAD_TOKEN_CODES = (50027, 10015)


def retry_delay(receive_count: int) -> int:
    """Seconds until a record that failed on its ``receive_count``-th receive is received again."""
    index = min(max(receive_count, 1), len(RETRY_DELAYS_SECONDS)) - 1
    return RETRY_DELAYS_SECONDS[index]


class PoisonMessage(Exception):
    """A record whose body is not a job request. It can never succeed; the DLQ keeps it for inspection."""


class DeliveryPending(BotError):
    """The job's result is recorded but its reply is not delivered yet: the record is received again."""

    user_message = "I couldn't deliver the answer to Discord."
    retryable = True


class JobProcessor:
    """Runs the records of an SQS batch through the registered jobs."""

    def __init__(self, ctx: WorkerContext, registry: JobRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.registry = registry
        self.clock = clock
        # Interaction ids whose job ran (and tried its delivery) in this very call, not in an earlier receive.
        self._ran_now: set[str] = set()
        self.max_receive_count = max(1, ctx.settings.jobs_max_receive_count)
        persistence = DynamoDBPersistenceLayer(table_name=ctx.settings.idempotency_table,
                                               boto3_client=ctx.dynamodb)
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="[interaction_id, kind]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
        )
        self._run_once = idempotent_function(
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self.idempotency_config,
            key_prefix="job",
        )(self._run_job)

    # -- batch ----------------------------------------------------------------------------------------------

    def handle_batch(self, event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
        """The Lambda entry point's work: returns ``{"batchItemFailures": [...]}``."""
        if lambda_context is not None:
            # Lets an in-progress record expire with the invocation, so a crashed run does not block retries.
            self.idempotency_config.register_lambda_context(lambda_context)
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(event=event, record_handler=self.process_record,
                                            processor=processor, context=lambda_context)
        return dict(response)

    def process_record(self, record: SQSRecord) -> dict[str, Any]:
        receive_count = _receive_count(record)
        last_attempt = receive_count >= self.max_receive_count
        try:
            request = self._parse(record, receive_count)
        except PoisonMessage:
            self._retry_later(record, 0)  # it never succeeds: straight on towards the DLQ
            raise
        where = f"job {request.kind} for interaction {request.interaction.id} (receive {receive_count})"
        try:
            result = self._run_once(key={"interaction_id": request.interaction.id, "kind": request.kind},
                                    request=request)
            fresh = request.interaction.id in self._ran_now
            self._ran_now.discard(request.interaction.id)
            if result.get("pending") is not None:
                result = self._deliver_recorded(request, result, fresh=fresh, last_attempt=last_attempt)
        except IdempotencyAlreadyInProgressError:
            # Another delivery is running it; this one comes back later.
            logger.info("%s is already in progress; leaving it for a later delivery", where)
            self._retry_later(record, retry_delay(receive_count))
            raise
        except BotError as exc:
            logger.warning("%s failed (retryable): %s", where, exc)
            if last_attempt:
                self._tell_user(request, FAILED_MESSAGE.format(reason=exc.user_message))
            # After the last receive the next one moves it to the DLQ: no reason to wait for that.
            self._retry_later(record, 0 if last_attempt else retry_delay(receive_count))
            raise
        except Exception:
            logger.exception("%s failed unexpectedly", where)
            if last_attempt:
                self._tell_user(request, APOLOGY)
            # After the last receive the next one moves it to the DLQ: no reason to wait for that.
            self._retry_later(record, 0 if last_attempt else retry_delay(receive_count))
            raise
        finally:
            self._ran_now.discard(request.interaction.id)
        logger.info("%s finished: %s", where, result.get("status"))
        return result

    def _retry_later(self, record: SQSRecord, delay: int) -> None:
        """Make a failed record visible again after ``delay`` seconds instead of the queue's timeout."""
        try:
            self.ctx.sqs.change_message_visibility(QueueUrl=self._queue_url(record),
                                                   ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay)
        except Exception as exc:
            # The queue's visibility timeout still brings it back, only later.
            logger.warning("could not reschedule record %s: %s", record.message_id, type(exc).__name__)

    def _queue_url(self, record: SQSRecord) -> str:
        name = (record.event_source_arn or "").rsplit(":", 1)[-1]
        configured = self.ctx.settings.jobs_queue_url
        if configured and (not name or configured.rstrip("/").endswith("/" + name)):
            return configured
        return str(self.ctx.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    # -- one job --------------------------------------------------------------------------------------------

    def _run_job(self, *, key: dict[str, str], request: JobRequest) -> dict[str, Any]:
        """Run the job and try its reply; the returned dict is what the idempotency record keeps.

        When the reply could not be delivered for a reason worth retrying, the dict holds the reply itself
        (``pending``) so that the next receive delivers it without running the job again.
        """
        function = self.registry.get(request.kind)
        status = "done"
        try:
            outcome = function(request, self.ctx)
        except BotError as exc:
            if exc.retryable:
                raise
            logger.info("job %s for interaction %s refused: %s", request.kind, request.interaction.id,
                        type(exc).__name__)
            outcome, status = JobOutcome(content=exc.user_message), "refused"
        if not isinstance(outcome, JobOutcome):
            raise TypeError(f"job {request.kind!r} returned {type(outcome).__name__}, not JobOutcome")
        self._ran_now.add(request.interaction.id)
        try:
            delivered = self._deliver(request, outcome)
        except DiscordHTTPError as exc:
            logger.warning("job %s for interaction %s: reply not delivered yet: %s", request.kind,
                           request.interaction.id, exc)
            pending = self._replies().save(request, PendingReply.from_outcome(outcome))
            return {"status": status, "delivered": False, "pending": pending}
        return {"status": status, "delivered": delivered}

    def _deliver_recorded(self, request: JobRequest, result: dict[str, Any], *, fresh: bool,
                          last_attempt: bool) -> dict[str, Any]:
        """Deliver the reply an earlier run recorded; raise to have the record received again."""
        if fresh and not last_attempt:
            # This very call already tried (with the client's own retries): try again on the next receive.
            raise DeliveryPending(detail="the reply could not be delivered yet")
        reply = self._replies().load(result["pending"])
        try:
            self._deliver(request, reply.outcome())
        except DiscordHTTPError:
            if last_attempt:
                self._tell_late(request, LATE_NOTICE)
                return {"status": result.get("status"), "delivered": False}
            raise
        return {"status": result.get("status"), "delivered": True}

    def _replies(self) -> ReplyStore:
        return ReplyStore(self.ctx.s3, self.ctx.settings.bucket_name)

    def _after_delivery(self, request: JobRequest, outcome: JobOutcome, message: Any) -> None:
        if not isinstance(message, dict) or "id" not in message:
            return
        try:
            if outcome.on_delivered is not None:
                outcome.on_delivered(message)
            if outcome.after_delivery is not None:
                name, args = outcome.after_delivery
                AFTER_DELIVERY[name](request, self.ctx, message, args)
        except Exception:
            # The user has the answer; repeating the job would answer (and pay) twice. Say so in the log.
            logger.exception("job %s for interaction %s: after-delivery step failed", request.kind,
                             request.interaction.id)

    def _deliver(self, request: JobRequest, outcome: JobOutcome) -> bool:
        """Deliver the reply; False when it can never be delivered. Raises a retryable DiscordHTTPError."""
        ref = request.interaction
        if ref.token_expired(self.clock(), TOKEN_MARGIN_SECONDS):
            return self._tell_late(request, LATE_NOTICE)
        try:
            message = self._send(request, outcome)
        except DiscordHTTPError as exc:
            if exc.code in DEAD_TOKEN_CODES or exc.status == 401:
                logger.error("job %s for interaction %s: the interaction token is no longer valid: %s",
                             request.kind, ref.id, exc)
                return self._tell_late(request, LATE_NOTICE)
            if exc.retryable:
                raise
            logger.error("job %s for interaction %s: reply not delivered: %s", request.kind, ref.id, exc)
            return False
        self._after_delivery(request, outcome, message)
        return True

    def _tell_late(self, request: JobRequest, template: str, reason: str = "") -> bool:
        """Tell the user in the interaction's channel, as the bot: the interaction token no longer works."""
        ref = request.interaction
        if not ref.channel_id or not ref.user_id:
            logger.error("job %s for interaction %s: token expired and no channel to tell", request.kind, ref.id)
            return False
        # The result itself may have been private (ephemeral): only a notice goes to the channel.
        text = template.format(user=ref.user_id, command=request.kind, reason=reason)
        try:
            self.ctx.discord.create_message(ref.channel_id, content=text,
                                            allowed_mentions={"parse": [], "users": [ref.user_id]})
        except (DiscordHTTPError, ConfigError) as exc:
            logger.error("job %s for interaction %s: could not tell the user in the channel: %s",
                         request.kind, ref.id, exc)
            return False
        return True

    def _send(self, request: JobRequest, outcome: JobOutcome) -> Any:
        """Deliver ``outcome`` as the job's reply: an edit of the original response, or a follow-up."""
        ref = request.interaction
        discord = self.ctx.discord
        files = list(outcome.files) or None
        # A job chained from another on the same interaction (``/train start:true``) answers in a follow-up,
        # leaving the first job's reply in place -- its failure notice included. It is ephemeral like the
        # trainer commands' deferred replies it answers below.
        if request.args.get(REPLY_AS_FOLLOWUP) is True:
            return discord.followup(ref.application_id, ref.token, content=_clipped(outcome.content),
                                    embeds=outcome.embeds, components=outcome.components, files=files,
                                    allowed_mentions=outcome.allowed_mentions, ephemeral=True)
        return discord.edit_original(ref.application_id, ref.token, content=_clipped(outcome.content),
                                     embeds=outcome.embeds, components=outcome.components, files=files,
                                     allowed_mentions=outcome.allowed_mentions)

    def _tell_user(self, request: JobRequest, message: str) -> None:
        if request.interaction.token_expired(self.clock(), TOKEN_MARGIN_SECONDS):
            self._tell_late(request, LATE_FAILURE, reason=message)
            return
        try:
            self._send(request, JobOutcome(content=message))
        except DiscordHTTPError as exc:
            if exc.code in DEAD_TOKEN_CODES or exc.status == 401:
                self._tell_late(request, LATE_FAILURE, reason=message)
                return
            logger.error("could not tell the user about failed job %s for interaction %s: %s",
                         request.kind, request.interaction.id, exc)
        except Exception as exc:
            logger.error("could not tell the user about failed job %s for interaction %s: %s",
                         request.kind, request.interaction.id,
                         exc if isinstance(exc, BotError) else type(exc).__name__)

    def _parse(self, record: SQSRecord, receive_count: int) -> JobRequest:
        try:
            request = JobRequest.from_json(record.body)
            if not request.kind or not request.interaction.id or not request.interaction.token:
                raise ValueError("empty kind, interaction id or token")
            return request
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The body is not logged: it may hold an interaction token.
            logger.error("poison message %s (receive %d): %s", record.message_id, receive_count,
                         type(exc).__name__)
            reason = f"message {record.message_id} is not a job request ({type(exc).__name__})"
            raise PoisonMessage(reason) from None


def _clipped(content: str | None) -> str | None:
    if content is None or len(content) <= MAX_CONTENT:
        return content
    logger.warning("reply content of %d characters cut to %d", len(content), MAX_CONTENT)
    return clip(content)


def _receive_count(record: SQSRecord) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        return 1
