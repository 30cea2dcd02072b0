"""Running queued tasks: one SQS record at a time, each task's effect once, failures turned into replies.

For every record of a batch:

- a body that is not a :class:`TaskRequest` (poison) fails on every delivery and so reaches the DLQ;
  its body is never logged (it may hold a token);
- the task runs inside Powertools idempotency (DynamoDB, keyed by the interaction id and the kind):
  a redelivered message whose task already completed is acknowledged without a second effect, and a
  delivery that overlaps a running one fails and comes back later;
- a non-retryable :class:`BotError` becomes the edited reply and the record is done;
- a retryable error or an unexpected exception fails the record. The record is made visible again after
  :data:`RETRY_DELAYS_SECONDS` (``ChangeMessageVisibility``) rather than after the queue's visibility timeout,
  so that every receive up to ``maxReceiveCount`` happens while the 15-minute interaction token still lives
  (``tests/unit/infra/test_retry_schedule.py`` checks this against template.yaml's numbers). On the last receive the
  user is told, and the request itself stays in the DLQ.

A task's paid work (provider calls) is never repeated because its reply could not be delivered: the task's
result is recorded first (the idempotency record keeps the reply; its files go to S3), then delivered. A
delivery that fails for a reason worth retrying fails the record, and the next receive delivers the recorded
reply without running the task again. Once the interaction token has expired, the user is told in the
channel with the bot token instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from functions.worker.outcome import TaskFunction, TaskOutcome
from functions.worker.replies import PendingReply, ReplyStore
from functions.worker.services import WorkerServices
from functions.worker.tasks import AFTER_DELIVERY
from shared.contracts.messages import InteractionRef, TaskKind, TaskRequest, UnknownKind
from shared.discord.rest import DiscordHTTPError
from shared.discord.text import MAX_CONTENT, clip
from shared.errors import BotError, ConfigError

logger = logging.getLogger(__name__)

# A completed task is remembered this long; SQS keeps a message at most 14 days, redeliveries come far sooner.
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
FAILED_MESSAGE = "Sorry, that didn't work: {reason}"
UNKNOWN_KIND_REASON = "this bot is being updated; try again in a few minutes."
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
# Time kept back from the invocation's remaining time for recording an undelivered reply and rescheduling.
DEADLINE_MARGIN_SECONDS = 10.0
# Discord's answers to a webhook call with a dead token: Invalid Webhook Token, Unknown Webhook.
DEAD_TOKEN_CODES = (50027, 10015)


def retry_delay(receive_count: int) -> int:
    """Seconds until a record that failed on its ``receive_count``-th receive is received again."""
    index = min(max(receive_count, 1), len(RETRY_DELAYS_SECONDS)) - 1
    return RETRY_DELAYS_SECONDS[index]


class PoisonMessage(Exception):
    """A record whose body is not a task request. It can never succeed; the DLQ keeps it for inspection."""


class DeliveryPending(BotError):
    """The task's result is recorded but its reply is not delivered yet: the record is received again."""

    user_message = "I couldn't deliver the answer to Discord."
    retryable = True


class TaskProcessor:
    """Runs the records of an SQS batch through the registered tasks."""

    def __init__(self, ctx: WorkerServices, tasks: Mapping[TaskKind, TaskFunction], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.tasks = tasks
        self.clock = clock
        # Interaction ids whose task ran (and tried its delivery) in this very call, not in an earlier receive.
        self._ran_now: set[str] = set()
        self.max_receive_count = max(1, ctx.settings.jobs_max_receive_count)
        persistence = DynamoDBPersistenceLayer(table_name=ctx.settings.idempotency_table,
                                               boto3_client=ctx.aws.dynamodb)
        self.idempotency_config = IdempotencyConfig(
            event_key_jmespath="[interaction_id, kind]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
        )
        self._run_once = idempotent_function(
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self.idempotency_config,
            key_prefix="task",
        )(self._run_task)

    # -- batch ----------------------------------------------------------------------------------------------

    def handle_batch(self, event: dict[str, Any], lambda_context: Any = None) -> dict[str, Any]:
        """The Lambda entry point's work: returns ``{"batchItemFailures": [...]}``."""
        if lambda_context is not None:
            # Lets an in-progress record expire with the invocation, so a crashed run does not block retries.
            self.idempotency_config.register_lambda_context(lambda_context)
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        if lambda_context is None:
            response = process_partial_response(event=event, record_handler=self.process_record,
                                                processor=processor, context=lambda_context)
            return dict(response)
        # Discord's waits (rate limits, backoff) never outlast the invocation: a wait that would is an error,
        # and the task's recorded reply is delivered by the next receive instead.
        seconds = lambda_context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
        with self.ctx.discord.deadline(max(0.0, seconds)):
            response = process_partial_response(event=event, record_handler=self.process_record,
                                                processor=processor, context=lambda_context)
        return dict(response)

    def process_record(self, record: SQSRecord) -> dict[str, Any]:
        receive_count = _receive_count(record)
        last_attempt = receive_count >= self.max_receive_count
        try:
            request = self._parse(record, receive_count)
        except UnknownKind as exc:
            logger.warning("record %s (receive %d): %s; kept for a newer worker", record.message_id, receive_count,
                           exc)
            if last_attempt:
                self._tell(exc.interaction, FAILED_MESSAGE.format(reason=UNKNOWN_KIND_REASON))
            self._retry_later(record, 0 if last_attempt else retry_delay(receive_count))
            raise
        except PoisonMessage:
            self._retry_later(record, 0)  # it never succeeds: straight on towards the DLQ
            raise
        where = f"task {request.kind} for interaction {request.interaction.id} (receive {receive_count})"
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
            self._retry_later(record, 0 if last_attempt else retry_delay(receive_count))
            raise
        finally:
            self._ran_now.discard(request.interaction.id)
        logger.info("%s finished: %s", where, result.get("status"))
        return result

    def _retry_later(self, record: SQSRecord, delay: int) -> None:
        """Make a failed record visible again after ``delay`` seconds instead of the queue's timeout."""
        try:
            self.ctx.aws.sqs.change_message_visibility(QueueUrl=self._queue_url(record),
                                                   ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay)
        except Exception as exc:
            # The queue's visibility timeout still brings it back, only later.
            logger.warning("could not reschedule record %s: %s", record.message_id, type(exc).__name__)

    def _queue_url(self, record: SQSRecord) -> str:
        name = (record.event_source_arn or "").rsplit(":", 1)[-1]
        configured = self.ctx.settings.jobs_queue_url
        if configured and (not name or configured.rstrip("/").endswith("/" + name)):
            return configured
        return str(self.ctx.aws.sqs.get_queue_url(QueueName=name)["QueueUrl"])

    # -- one task --------------------------------------------------------------------------------------------

    def _run_task(self, *, key: dict[str, str], request: TaskRequest) -> dict[str, Any]:
        """Run the task and try its reply; the returned dict is what the idempotency record keeps.

        When the reply could not be delivered for a reason worth retrying, the dict holds the reply itself
        (``pending``) so that the next receive delivers it without running the task again.
        """
        function = self.tasks[request.kind]
        status = "done"
        try:
            outcome = function(request, self.ctx)
        except BotError as exc:
            if exc.retryable:
                raise
            logger.info("task %s for interaction %s refused: %s", request.kind, request.interaction.id,
                        type(exc).__name__)
            outcome, status = TaskOutcome(content=exc.user_message), "refused"
        if not isinstance(outcome, TaskOutcome):
            raise TypeError(f"task {request.kind!r} returned {type(outcome).__name__}, not TaskOutcome")
        self._ran_now.add(request.interaction.id)
        try:
            delivered = self._deliver(request, outcome)
        except DiscordHTTPError as exc:
            logger.warning("task %s for interaction %s: reply not delivered yet: %s", request.kind,
                           request.interaction.id, exc)
            pending = self._replies().save(request, PendingReply.from_outcome(outcome))
            return {"status": status, "delivered": False, "pending": pending}
        return {"status": status, "delivered": delivered}

    def _deliver_recorded(self, request: TaskRequest, result: dict[str, Any], *, fresh: bool,
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
        return ReplyStore(self.ctx.aws.s3, self.ctx.settings.bucket_name)

    def _after_delivery(self, request: TaskRequest, outcome: TaskOutcome, message: Any) -> None:
        if not isinstance(message, dict) or "id" not in message:
            return
        try:
            if outcome.on_delivered is not None:
                outcome.on_delivered(message)
            if outcome.after_delivery is not None:
                name, args = outcome.after_delivery
                AFTER_DELIVERY[name](request, self.ctx, message, args)
        except Exception:
            # The user has the answer; repeating the task would answer (and pay) twice. Say so in the log.
            logger.exception("task %s for interaction %s: after-delivery step failed", request.kind,
                             request.interaction.id)

    def _deliver(self, request: TaskRequest, outcome: TaskOutcome) -> bool:
        """Deliver the reply; False when it can never be delivered. Raises a retryable DiscordHTTPError."""
        ref = request.interaction
        if ref.token_expired(self.clock(), TOKEN_MARGIN_SECONDS):
            return self._tell_late(request, LATE_NOTICE)
        try:
            message = self._send(ref, outcome, followup=request.reply_as_followup)
        except DiscordHTTPError as exc:
            if exc.code in DEAD_TOKEN_CODES or exc.status == 401:
                logger.error("task %s for interaction %s: the interaction token is no longer valid: %s",
                             request.kind, ref.id, exc)
                return self._tell_late(request, LATE_NOTICE)
            if exc.retryable:
                raise
            logger.error("task %s for interaction %s: reply not delivered: %s", request.kind, ref.id, exc)
            return False
        self._after_delivery(request, outcome, message)
        return True

    def _tell_late(self, request: TaskRequest, template: str, reason: str = "") -> bool:
        """Tell the user in the interaction's channel, as the bot: the interaction token no longer works."""
        return self._tell_in_channel(request.interaction, str(request.kind), template, reason)

    def _tell_in_channel(self, ref: InteractionRef, command: str, template: str, reason: str = "") -> bool:
        if not ref.channel_id or not ref.user_id:
            logger.error("task %s for interaction %s: token expired and no channel to tell", command, ref.id)
            return False
        # The result itself may have been private (ephemeral): only a notice goes to the channel.
        text = template.format(user=ref.user_id, command=command, reason=reason)
        try:
            self.ctx.discord.create_message(ref.channel_id, content=text,
                                            allowed_mentions={"parse": [], "users": [ref.user_id]})
        except (DiscordHTTPError, ConfigError) as exc:
            logger.error("task %s for interaction %s: could not tell the user in the channel: %s",
                         command, ref.id, exc)
            return False
        return True

    def _send(self, ref: InteractionRef, outcome: TaskOutcome, *, followup: bool) -> Any:
        """Deliver ``outcome`` as the task's reply: an edit of the original response, or a follow-up."""
        discord = self.ctx.discord
        files = list(outcome.files) or None
        # A task chained from another on the same interaction (``/train start:true``) answers in a follow-up,
        # leaving the first task's reply in place -- its failure notice included. It is ephemeral like the
        # trainer commands' deferred replies it answers below.
        if followup:
            return discord.followup(ref.application_id, ref.token, content=_clipped(outcome.content),
                                    embeds=outcome.embeds, components=outcome.components, files=files,
                                    allowed_mentions=outcome.allowed_mentions, ephemeral=True)
        return discord.edit_original(ref.application_id, ref.token, content=_clipped(outcome.content),
                                     embeds=outcome.embeds, components=outcome.components, files=files,
                                     allowed_mentions=outcome.allowed_mentions)

    def _tell_user(self, request: TaskRequest, message: str) -> None:
        self._tell(request.interaction, message, followup=request.reply_as_followup, command=str(request.kind))

    def _tell(self, ref: InteractionRef, message: str, *, followup: bool = False, command: str = "") -> None:
        if ref.token_expired(self.clock(), TOKEN_MARGIN_SECONDS):
            self._tell_in_channel(ref, command or "command", LATE_FAILURE, reason=message)
            return
        try:
            self._send(ref, TaskOutcome(content=message), followup=followup)
        except DiscordHTTPError as exc:
            if exc.code in DEAD_TOKEN_CODES or exc.status == 401:
                self._tell_in_channel(ref, command or "command", LATE_FAILURE, reason=message)
                return
            logger.error("could not tell the user about a failed task for interaction %s: %s", ref.id, exc)
        except Exception as exc:
            logger.error("could not tell the user about a failed task for interaction %s: %s", ref.id,
                         exc if isinstance(exc, BotError) else type(exc).__name__)

    def _parse(self, record: SQSRecord, receive_count: int) -> TaskRequest:
        try:
            request = TaskRequest.from_json(record.body)
            if not request.kind or not request.interaction.id or not request.interaction.token:
                raise ValueError("empty kind, interaction id or token")
            return request
        except UnknownKind:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # The body is not logged: it may hold an interaction token.
            logger.error("poison message %s (receive %d): %s", record.message_id, receive_count,
                         type(exc).__name__)
            reason = f"message {record.message_id} is not a task request ({type(exc).__name__})"
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
