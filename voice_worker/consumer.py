"""Long-polls the voice queue (SQS FIFO) without blocking the event loop and hands each request to a handler.

Every message ends in exactly one of: acted on and replied to; reported to the user and deleted (bad request,
wrong shard, handler failure); skipped as a redelivery and deleted. Only an infrastructure failure (the claim
table unreachable) leaves a message for redelivery, which the queue's DLQ caps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from shared.aws import AwsClients
from shared.config import Settings
from shared.contracts.messages import UnknownKind, VoiceKind, VoiceRequest
from shared.contracts.sharding import shard_for_guild, worker_queue_url
from shared.errors import BotError
from voice_worker import replies
from voice_worker.ledger import RequestLedger

log = logging.getLogger(__name__)


Handler = Callable[[VoiceRequest], Awaitable[str | None]]


class VoiceQueueConsumer:
    def __init__(self, settings: Settings, handler: Handler, ledger: RequestLedger, replier: replies.Replier,
                 *, aws: AwsClients | None = None, wait_seconds: int = 20, max_messages: int = 10) -> None:
        self._settings = settings
        self._handler = handler
        self._ledger = ledger
        self._replier = replier
        self._aws = aws or AwsClients(settings)  # builds no client until the first poll
        self._queue_url = worker_queue_url(settings.voice_queue_urls, settings.voice_shard_id)
        self._wait_seconds = wait_seconds
        self._max_messages = max_messages
        self._stopping = asyncio.Event()
        self.processed = 0

    def _receive_blocking(self) -> list[dict[str, Any]]:
        response = self._aws.sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=self._max_messages,
            WaitTimeSeconds=self._wait_seconds, AttributeNames=["MessageGroupId"])
        return list(response.get("Messages", []))

    async def _receive(self) -> list[dict[str, Any]]:
        """The long poll runs in a daemon thread so that shutdown never waits for it to return."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()

        def settle(result: list[dict[str, Any]] | None, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result or [])

        def work() -> None:
            try:
                outcome: tuple[list[dict[str, Any]] | None, BaseException | None] = (self._receive_blocking(), None)
            except BaseException as exc:
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(settle, *outcome)
            except RuntimeError:
                pass  # the loop closed (shutdown) while this poll was out; its messages return to the queue

        threading.Thread(target=work, name="voice-queue-poll", daemon=True).start()
        stop: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([future, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not future.done():
            # Shutting down: whatever this poll returns stays invisible until its visibility timeout lapses
            # and then goes to the next worker.
            future.cancel()
            return []
        return future.result()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                messages = await self._receive()
            except Exception:
                log.exception("receiving from the voice queue failed; retrying in %.0fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            await self.process_batch(messages)

    async def process_batch(self, messages: list[dict[str, Any]]) -> None:
        """Guilds in parallel (one slow voice connect must not hold up other guilds), each guild in order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            group = message.get("Attributes", {}).get("MessageGroupId", "")
            groups.setdefault(group, []).append(message)
        await asyncio.gather(*(self._process_in_order(group) for group in groups.values()))

    async def _process_in_order(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if self._stopping.is_set():
                return  # left on the queue: visible again after the timeout
            await self.process(message)

    async def process(self, message: dict[str, Any]) -> None:
        try:
            keep = await self._process(message["Body"])
        except Exception:
            log.exception("voice request %s left for redelivery", message.get("MessageId"))
            return
        if keep:
            return
        try:
            await asyncio.to_thread(self._aws.sqs.delete_message, QueueUrl=self._queue_url,
                                    ReceiptHandle=message["ReceiptHandle"])
        except Exception:
            # The request was handled; its redelivery finds the claim in the ledger and is only deleted then.
            log.exception("could not delete voice request %s; its redelivery will be skipped",
                          message.get("MessageId"))
            return
        self.processed += 1

    async def _process(self, body: str) -> bool:
        """Handle one body; return True to leave the message on the queue."""
        try:
            request = VoiceRequest.from_json(body)
        except UnknownKind as exc:
            # A newer interactions function: say so rather than leave "thinking..." until the token expires.
            log.error("voice request %s: %s", exc.interaction.id, exc)
            await replies.edit_reply(self._replier, exc.interaction, replies.UNKNOWN_ACTION)
            return False
        except (ValueError, KeyError, TypeError) as exc:
            # Nothing to reply to without a valid interaction; never log the body (it holds a token).
            log.error("dropping a malformed voice request: %s", type(exc).__name__)
            return False
        ref = request.interaction
        if ref.guild_id is not None:
            expected = shard_for_guild(ref.guild_id, self._settings.voice_shard_count)
            if expected != self._settings.voice_shard_id:
                # Misrouted: another worker holds this guild. Say so rather than skip it silently.
                log.error("voice request for guild %s belongs to shard %d, this worker is shard %d",
                          ref.guild_id, expected, self._settings.voice_shard_id)
                await self._reply(request, replies.wrong_shard(self._settings.voice_shard_id, expected))
                return False
        # Raises on an infrastructure failure: the message stays for redelivery (bounded by the DLQ).
        claimed = await asyncio.to_thread(self._ledger.claim, ref.id, request.kind)
        if not claimed:
            log.info("voice request %s was delivered before; not acting twice", ref.id)
            return False
        try:
            reply = await self._handler(request)
        except asyncio.CancelledError:
            # Shutdown cut the request short (a join still connecting). The claim is written, so its redelivery
            # will be skipped: tell the user now rather than leave "thinking..." until the token expires.
            log.warning("voice request %s (%s) interrupted by shutdown", ref.id, request.kind)
            await self._reply(request, replies.SHUTTING_DOWN)
            raise
        except BotError as exc:
            log.warning("voice request %s (%s) failed: %s", ref.id, request.kind, exc)
            reply = exc.user_message
        except Exception:
            log.exception("voice request %s (%s) failed", ref.id, request.kind)
            reply = replies.GENERIC_FAILURE
        if reply is not None:
            await self._reply(request, reply)
        return False

    async def _reply(self, request: VoiceRequest, content: str) -> None:
        if request.kind == VoiceKind.SPEAK_ANSWER:
            # The /ask interaction's reply holds the model's answer; a voice status must never replace it.
            log.info("speak_answer for interaction %s not spoken: %s", request.interaction.id, content)
            return
        await replies.edit_reply(self._replier, request.interaction, content)
