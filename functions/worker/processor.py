"""Running queued tasks: one SQS record at a time, each task's effect once, failures turned into replies.

For every record of a batch:

- a body that is not a :class:`TaskRequest` (poison) fails on every delivery and so reaches the DLQ;
  its body is never logged (it may hold a token);
- the task runs inside Powertools idempotency (DynamoDB, keyed by the interaction id and the kind):
  a redelivered message whose task already completed is acknowledged without a second effect, and a
  delivery that overlaps a running one fails and comes back later;
- a non-retryable :class:`BotError` becomes the edited reply and the record is done;
- a retryable error or an unexpected exception fails the record (SQS delivers it again, then moves it
  to the DLQ after ``maxReceiveCount`` receives); on the last receive the user is told, so nobody waits
  on a reply that will not come, and the request itself stays in the DLQ.

The idempotent unit is the task *and* its reply: when the reply cannot be delivered for a reason worth
retrying (Discord 5xx, rate limits beyond the client's own retries), the idempotency record is released
and the next delivery runs the task again. Tasks should therefore keep their writes conditional (dataset
examples are keyed by fingerprint); the client's own retries make that path rare.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
from functions.worker.services import WorkerServices
from shared.contracts.messages import InteractionRef, TaskKind, TaskRequest, UnknownKind
from shared.discord.rest import DiscordHTTPError
from shared.discord.text import MAX_CONTENT, clip
from shared.errors import BotError

logger = logging.getLogger(__name__)

# A completed task is remembered this long; SQS keeps a message at most 14 days, redeliveries come far sooner.
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
FAILED_MESSAGE = "Sorry, that didn't work: {reason}"
UNKNOWN_KIND_REASON = "this bot is being updated; try again in a few minutes."
APOLOGY = "Sorry, something went wrong on my side and I couldn't finish that. Please try again later."


class PoisonMessage(Exception):
    """A record whose body is not a task request. It can never succeed; the DLQ keeps it for inspection."""


class TaskProcessor:
    """Runs the records of an SQS batch through the registered jobs."""

    def __init__(self, ctx: WorkerServices, tasks: Mapping[TaskKind, TaskFunction]) -> None:
        self.ctx = ctx
        self.tasks = tasks
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
            raise
        where = f"task {request.kind} for interaction {request.interaction.id} (receive {receive_count})"
        try:
            result = self._run_once(key={"interaction_id": request.interaction.id, "kind": request.kind},
                                    request=request)
        except IdempotencyAlreadyInProgressError:
            # Another delivery is running it; this one comes back after the visibility timeout.
            logger.info("%s is already in progress; leaving it for a later delivery", where)
            raise
        except BotError as exc:
            logger.warning("%s failed (retryable): %s", where, exc)
            if last_attempt:
                self._tell_user(request, FAILED_MESSAGE.format(reason=exc.user_message))
            raise
        except Exception:
            logger.exception("%s failed unexpectedly", where)
            if last_attempt:
                self._tell_user(request, APOLOGY)
            raise
        logger.info("%s finished: %s", where, result.get("status"))
        return result

    # -- one task --------------------------------------------------------------------------------------------

    def _run_task(self, *, key: dict[str, str], request: TaskRequest) -> dict[str, Any]:
        """Run the task and deliver its reply; the returned dict is what the idempotency record keeps."""
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
        delivered = self._deliver(request, outcome)
        return {"status": status, "delivered": delivered}

    @staticmethod
    def _after_delivery(request: TaskRequest, outcome: TaskOutcome, message: Any) -> None:
        if outcome.on_delivered is None or not isinstance(message, dict) or "id" not in message:
            return
        try:
            outcome.on_delivered(message)
        except Exception:
            # The user has the answer; repeating the task would answer (and pay) twice. Say so in the log.
            logger.exception("task %s for interaction %s: after-delivery step failed", request.kind,
                             request.interaction.id)

    def _deliver(self, request: TaskRequest, outcome: TaskOutcome) -> bool:
        ref = request.interaction
        try:
            message = self._send(ref, outcome, followup=request.reply_as_followup)
            self._after_delivery(request, outcome, message)
        except DiscordHTTPError as exc:
            if exc.retryable:
                raise
            # The work is done but the reply cannot be delivered (e.g. the 15-minute token expired): another
            # delivery would not fix that and would repeat the work.
            logger.error("task %s for interaction %s: reply not delivered: %s", request.kind, ref.id, exc)
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
        self._tell(request.interaction, message, followup=request.reply_as_followup)

    def _tell(self, ref: InteractionRef, message: str, *, followup: bool = False) -> None:
        try:
            self._send(ref, TaskOutcome(content=message), followup=followup)
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
