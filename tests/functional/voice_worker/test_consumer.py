"""The voice queue consumer against moto: a real SQS FIFO queue and the real data table for claims."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time

import pytest

from shared.aws import AwsClients
from shared.contracts.messages import VoiceRequest
from shared.contracts.sharding import shard_for_guild, voice_queue_url_for_guild
from shared.storage import keys
from tests.support.voice import ALICE, GUILD_ID, VOICE_ID, FakeGateway, RecordingReplier, make_service, request
from voice_worker.consumer import VoiceQueueConsumer
from voice_worker.errors import VoiceConnectRefused
from voice_worker.ledger import RequestLedger


def send(sqs, url, req: VoiceRequest, dedup: str | None = None, body: str | None = None) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=body or req.to_json(),
                     MessageGroupId=str(req.interaction.guild_id or "dm"),
                     MessageDeduplicationId=dedup or req.interaction.id)


def queue_depth(sqs, url) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def make_consumer(settings, voice_queue, handler, replier=None):
    sqs, _ = voice_queue
    replier = replier or RecordingReplier()
    ledger = RequestLedger(settings)
    return VoiceQueueConsumer(settings, handler, ledger, replier, aws=AwsClients(settings, sqs=sqs),
                              wait_seconds=0), replier


async def poll_once(consumer: VoiceQueueConsumer) -> int:
    """One receive and process cycle."""
    messages = await consumer._receive()
    await consumer.process_batch(messages)
    return len(messages)


async def test_join_is_acted_on_replied_and_deleted(settings, voice_queue, tmp_path):
    sqs, url = voice_queue
    gateway = FakeGateway(members={ALICE: VOICE_ID})
    service, _ = make_service(gateway, tmp_path=tmp_path)
    consumer, replier = make_consumer(settings, voice_queue, service.handle)
    send(sqs, url, request("join", "901"))
    assert await poll_once(consumer) == 1
    assert replier.edits == [("901", "Joined #General")]
    assert queue_depth(sqs, url) == 0


async def test_redelivered_request_does_not_act_twice(settings, voice_queue, data_table, tmp_path):
    sqs, url = voice_queue
    gateway = FakeGateway(members={ALICE: VOICE_ID})
    service, _ = make_service(gateway, tmp_path=tmp_path)
    consumer, replier = make_consumer(settings, voice_queue, service.handle)
    req = request("join", "902")
    send(sqs, url, req)
    await poll_once(consumer)
    await service.handle(request("leave", "903"))
    # The same interaction again, past FIFO's five-minute deduplication window (a new deduplication id).
    send(sqs, url, req, dedup="902-again")
    assert await poll_once(consumer) == 1
    assert gateway.connect_calls == 1 and gateway.bot_in is None
    assert replier.edits == [("902", "Joined #General")]
    assert queue_depth(sqs, url) == 0
    claim = data_table.get_item(Key={"pk": keys.voice_request_pk("902"), "sk": keys.voice_request_sk()})["Item"]
    assert claim["kind"] == "join" and int(claim["expires_at"]) > time.time() + 3600


async def test_a_failing_request_is_reported_and_deleted(settings, voice_queue, tmp_path):
    sqs, url = voice_queue

    async def explode(req):
        raise RuntimeError("bug")

    consumer, replier = make_consumer(settings, voice_queue, explode)
    send(sqs, url, request("join", "904"))
    await poll_once(consumer)
    assert replier.texts == ["Something went wrong with that voice request. Please try again"]
    assert queue_depth(sqs, url) == 0


async def test_a_bot_error_reaches_the_user(settings, voice_queue):
    sqs, url = voice_queue

    async def refuse(req):
        raise VoiceConnectRefused("Discord closed the voice connection (code 4014).")

    consumer, replier = make_consumer(settings, voice_queue, refuse)
    send(sqs, url, request("join", "905"))
    await poll_once(consumer)
    assert replier.texts == ["Discord closed the voice connection (code 4014)."]


async def test_malformed_and_unknown_requests_are_deleted(settings, voice_queue, tmp_path):
    sqs, url = voice_queue
    gateway = FakeGateway(members={ALICE: VOICE_ID})
    service, _ = make_service(gateway, tmp_path=tmp_path)
    consumer, replier = make_consumer(settings, voice_queue, service.handle)
    send(sqs, url, request("join", "906"), body='{"kind": "join"}')
    dance = json.loads(request("join", "907").to_json()) | {"kind": "dance"}
    send(sqs, url, request("join", "907"), body=json.dumps(dance))
    send(sqs, url, request("join", "908", guild_id=None))
    for _ in range(3):
        await poll_once(consumer)
    assert gateway.connect_calls == 0
    assert sorted(replier.edits) == [("907", "I do not know that voice action"),
                                     ("908", "Voice commands work only in a server")]
    assert queue_depth(sqs, url) == 0


async def test_a_misrouted_request_is_reported_not_skipped(settings, voice_queue):
    sqs, url = voice_queue
    sharded = dataclasses.replace(settings, voice_shard_count=2, voice_shard_id=0)
    assert shard_for_guild(GUILD_ID, 2) == 1

    async def handler(req):
        raise AssertionError("must not act on another shard's guild")

    consumer, replier = make_consumer(sharded, voice_queue, handler)
    send(sqs, url, request("join", "909"))
    await poll_once(consumer)
    assert replier.texts == [
        "This server's voice requests reached voice worker 0, but shard 1 holds it. Please tell the bot's operators"]
    assert queue_depth(sqs, url) == 0


async def test_claim_table_failure_leaves_the_message_for_redelivery(settings, voice_queue):
    sqs, url = voice_queue
    broken = dataclasses.replace(settings, data_table="missing-table")
    handled = []

    async def handler(req):
        handled.append(req)

    consumer, replier = make_consumer(broken, voice_queue, handler)
    send(sqs, url, request("join", "910"))
    await poll_once(consumer)
    assert handled == [] and replier.edits == []
    assert queue_depth(sqs, url) == 1


async def test_long_poll_does_not_block_the_loop_and_stop_is_prompt(settings, voice_queue):
    receiving, release, returned = threading.Event(), threading.Event(), threading.Event()

    class SlowSqs:
        """A receive that blocks like a long poll on an empty queue, until the test is over."""

        def receive_message(self, **kwargs):
            receiving.set()
            release.wait(timeout=10)
            returned.set()
            return {}

    consumer = VoiceQueueConsumer(settings, None, RequestLedger(settings), RecordingReplier(),
                                  aws=AwsClients(settings, sqs=SlowSqs()))
    run = asyncio.create_task(consumer.run())
    try:
        while not receiving.is_set():
            await asyncio.sleep(0.01)
        # The loop runs this coroutine while the receive is still blocked: it is not blocking the loop.
        await asyncio.sleep(0.05)
        assert not returned.is_set()
        consumer.stop()
        await asyncio.wait_for(run, 5)
        # Stopped without waiting for the long poll to come back.
        assert not returned.is_set()
    finally:
        consumer.stop()
        release.set()


def test_shard_routing():
    assert shard_for_guild(GUILD_ID, 1) == 0
    assert shard_for_guild(str(41771983423143937), 2) == (41771983423143937 >> 22) % 2
    assert voice_queue_url_for_guild(GUILD_ID, ["q0", "q1"]) == "q1"
    with pytest.raises(ValueError):
        shard_for_guild(1, 0)


def test_sqs_client_is_not_built_at_construction(settings):
    aws = AwsClients(settings)
    VoiceQueueConsumer(settings, None, RequestLedger(settings, aws), RecordingReplier(), aws=aws)
    assert aws._clients == {}


async def test_guilds_are_processed_in_parallel_each_in_order(settings, voice_queue):
    sqs, url = voice_queue
    other_guild = GUILD_ID + 1
    order = []
    slow_started = asyncio.Event()

    async def handler(req):
        if req.interaction.guild_id == str(GUILD_ID):
            slow_started.set()
            await asyncio.sleep(0.5)  # a slow voice connect in one guild
        order.append((req.interaction.guild_id, req.interaction.id))

    consumer, _ = make_consumer(settings, voice_queue, handler)
    send(sqs, url, request("join", "1"))
    send(sqs, url, request("say", "2"))
    send(sqs, url, request("join", "3", guild_id=other_guild))
    while await poll_once(consumer):
        pass
    assert order.index((str(other_guild), "3")) < order.index((str(GUILD_ID), "1"))
    assert order.index((str(GUILD_ID), "1")) < order.index((str(GUILD_ID), "2"))
    assert slow_started.is_set()


async def test_a_failed_delete_does_not_end_the_consumer(settings, voice_queue):
    sqs, url = voice_queue

    class FlakyDelete:
        """The real moto client, except that the first delete fails as SQS can (throttling, a network blip)."""

        def __init__(self) -> None:
            self.failed = False

        def __getattr__(self, name):
            return getattr(sqs, name)

        def delete_message(self, **kwargs):
            if not self.failed:
                self.failed = True
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url=url)
            return sqs.delete_message(**kwargs)

    handled = []

    async def handler(req):
        handled.append(req.interaction.id)
        return "done"

    flaky = FlakyDelete()
    consumer = VoiceQueueConsumer(settings, handler, RequestLedger(settings), RecordingReplier(),
                                  aws=AwsClients(settings, sqs=flaky), wait_seconds=0)
    run = asyncio.create_task(consumer.run())
    send(sqs, url, request("join", "920"))
    for _ in range(200):
        if handled:
            break
        await asyncio.sleep(0.02)
    # Another guild: FIFO holds back the first guild's group while its undeleted message is in flight.
    send(sqs, url, request("leave", "921", guild_id=GUILD_ID + 1))
    for _ in range(200):
        if "921" in handled:
            break
        await asyncio.sleep(0.02)
    assert flaky.failed and handled == ["920", "921"]
    assert not run.done()  # still consuming after the failed delete
    consumer.stop()
    await asyncio.wait_for(run, 2)


async def test_a_request_cut_short_by_shutdown_is_answered(settings, voice_queue):
    """The claim is written before acting, so the redelivery will be skipped: the user is told at once."""
    sqs, url = voice_queue
    started = asyncio.Event()

    async def connecting(req):
        started.set()
        await asyncio.Event().wait()  # a voice connect still in progress

    consumer, replier = make_consumer(settings, voice_queue, connecting)
    send(sqs, url, request("join", "930"))
    send(sqs, url, request("speak_answer", "931", guild_id=GUILD_ID + 1))
    run = asyncio.create_task(consumer.run())
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.1)
    consumer.stop()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(run, 0.2)  # as VoiceBot.shutdown does when the consumer does not stop in time
    assert replier.edits == [("930", "The voice worker is restarting. Please try again in a minute")]


async def test_a_request_whose_worker_died_after_claiming_is_not_lost(settings, voice_queue):
    sqs, url = voice_queue
    handled: list[str] = []

    async def handler(req):
        handled.append(req.interaction.id)
        return "done"

    # Another worker claimed it, then died before acting: its message came back after the visibility timeout.
    died_at = time.time() - 3600
    assert RequestLedger(settings, wall_clock=lambda: died_at).claim("940", "say")
    consumer, replier = make_consumer(settings, voice_queue, handler)
    send(sqs, url, request("say", "940"))
    assert await poll_once(consumer) == 1
    assert handled == ["940"] and replier.edits == [("940", "done")]
    assert queue_depth(sqs, url) == 0
    # And a redelivery of the handled request is skipped.
    send(sqs, url, request("say", "940"), dedup="940-again")
    assert await poll_once(consumer) == 1
    assert handled == ["940"]
