"""Several voice shards, deployed as template.yaml deploys them (VoiceShardCount at its maximum, on moto): /join in
a guild lands on that guild's shard queue, and each shard's worker, configured from its own task definition,
sees only its own guilds' requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from functions.interactions.app import create_app
from infra import interactions as build
from infra.template import Provisioned, function_environment, provision, task_environment
from shared.aws import AwsClients
from shared.config import Settings
from shared.contracts.messages import VoiceRequest
from shared.contracts.sharding import shard_for_guild
from shared.storage.stores import Stores
from tests.conftest import APPLICATION_ID, InteractionClient
from tests.functional.voice_worker.test_consumer import poll_once, queue_depth
from tests.functional.voice_worker.test_local_voice import (
    _restore_discord_endpoints,  # noqa: F401 - an autouse fixture: discord.py's endpoints put back after each test
    bot_side,
    live_settings,
    running_bot,
    start_gateway,
)
from tests.support.voice import RecordingReplier
from voice_worker.bot import presence_index
from voice_worker.consumer import VoiceQueueConsumer
from voice_worker.ledger import RequestLedger

SHARDS = len(__import__("infra.template", fromlist=["load_template"]).load_template()
             ["Parameters"]["VoiceShardCount"]["AllowedValues"])


def task_of(shard: int) -> str:
    return "VoiceTaskDefinition" if shard == 0 else f"VoiceTaskDefinition{shard}"


def guild_on(shard: int) -> str:
    """A guild id that Discord puts on ``shard`` of SHARDS: the shard is (guild_id >> 22) % shard_count."""
    guild = ((1100000000000000000 >> 22) // SHARDS * SHARDS + shard) << 22 | 12345
    assert shard_for_guild(guild, SHARDS) == shard
    return str(guild)


@pytest.fixture
def sharded(signer, template, boto_session) -> Iterator[tuple[AwsClients, Provisioned]]:
    with mock_aws():
        clients = AwsClients(Settings(), session=boto_session)
        provisioned = provision(clients, template=template, parameters={
            "DiscordPublicKey": signer.public_key_hex, "DiscordApplicationId": APPLICATION_ID,
            "VoiceImageUri": "voice-worker-image", "VoiceShardCount": str(SHARDS)})
        yield clients, provisioned


@pytest.fixture
def local_gateway(fake_discord):
    gateway = start_gateway(fake_discord)
    yield gateway
    gateway.stop()


def worker_settings(provisioned: Provisioned, template: dict[str, Any], shard: int) -> Settings:
    return Settings.from_env(task_environment(provisioned, task_of(shard), template))


@pytest.mark.parametrize("given", ["own queue", "every queue"])
async def test_join_reaches_only_the_worker_of_the_guilds_shard(sharded, signer, template, given):
    """Each task gets its own queue's URL (template.yaml); a worker hosted by hand may be given the whole list."""
    clients, provisioned = sharded
    assert SHARDS > 2
    environment = function_environment(provisioned, "InteractionsFunction", template)
    environment["IDEMPOTENCY_TABLE"] = provisioned.refs["IdempotencyTable"]
    settings = Settings.from_env(environment)
    queues = [provisioned.refs["VoiceQueue" if i == 0 else f"VoiceQueue{i}"] for i in range(SHARDS)]
    assert settings.voice_queue_urls == tuple(queues) and len(set(queues)) == SHARDS
    workers = [worker_settings(provisioned, template, i) for i in range(SHARDS)]
    assert [w.voice_queue_urls for w in workers] == [(url,) for url in queues]
    if given == "every queue":
        workers = [dataclasses.replace(w, voice_queue_url=",".join(queues)) for w in workers]
    stores = Stores(settings, aws=clients)
    for worker in workers:
        # Each worker's heartbeat, under the index the interactions function looks its queue up by.
        stores.voice_presence.beat(presence_index(worker))
    client = InteractionClient(create_app(settings, stores=stores).test_client(), signer)

    # The last shard first: a queue is picked by the guild, never by order.
    guilds = [guild_on(i) for i in reversed(range(SHARDS))]
    for guild in guilds:
        reply = client.send(build.slash("join", guild_id=guild, application_id=APPLICATION_ID))
        assert reply == {"type": 5, "data": {"flags": 64}}
    assert [queue_depth(clients.sqs, url) for url in queues] == [1] * SHARDS

    for shard, worker in enumerate(workers):
        seen: list[VoiceRequest] = []

        async def handler(request: VoiceRequest, seen: list[VoiceRequest] = seen) -> str:
            seen.append(request)
            return "Joined"

        replier = RecordingReplier()
        consumer = VoiceQueueConsumer(worker, handler, RequestLedger(worker, clients), replier,
                                      aws=clients, wait_seconds=0)
        assert await poll_once(consumer) == 1
        assert [(r.kind, r.interaction.guild_id) for r in seen] == [("join", guild_on(shard))]
        assert replier.texts == ["Joined"]  # not the misrouted-request reply
        # Its own queue is done; the shards after it still hold their one request each.
        assert [queue_depth(clients.sqs, url) for url in queues] == [0] * (shard + 1) + [1] * (SHARDS - shard - 1)


@pytest.mark.parametrize(("shard", "count"), [(0, 1), (2, SHARDS)])
async def test_the_worker_connects_as_its_shard_and_reports_itself_under_it(settings, voice_queue, fake_discord,
                                                                            local_gateway, shard, count):
    """The real VoiceBot against the local gateway: IDENTIFY carries [shard_id, shard_count] when sharded (none
    when not, as Discord's unsharded session), and its heartbeat lands where /join looks for that shard."""
    live = dataclasses.replace(live_settings(settings, fake_discord, local_gateway), voice_shard_id=shard,
                               voice_shard_count=count)
    async with running_bot(live, voice_queue) as bot:
        identify = local_gateway.identifies[-1]
        assert identify["token_ok"]
        assert identify.get("shard") == ([shard, count] if count > 1 else None)
        assert (bot.shard_id, bot.shard_count) == ((shard, count) if count > 1 else (None, None))
        presence = Stores(live, aws=AwsClients(live)).voice_presence
        await bot_side(lambda: presence.status(shard).running)
        assert count == 1 or not presence.status(0).running
