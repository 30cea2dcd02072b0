"""/join, /leave, /say, /skip, /clear: a FIFO voice request per interaction, and a deferred reply."""

import dataclasses
import json
import time

import pytest

from functions.interactions.app import create_app
from infra import interactions as build
from shared.contracts.messages import VOICE_ARGS, VoiceKind, VoiceRequest
from shared.storage.stores import Stores
from shared.storage.table import DataTable
from shared.storage.voice_presence import STALE_AFTER_SECONDS, VoicePresence
from tests.conftest import APPLICATION_ID, InteractionClient

A = {"application_id": APPLICATION_ID}


def presence(aws, clock=None) -> VoicePresence:
    table = DataTable(aws.settings.data_table, aws.clients.dynamodb)
    return VoicePresence(table, clock=clock) if clock else VoicePresence(table)


@pytest.fixture(autouse=True)
def voice_worker_running(request, aws):
    """Voice requests are queued only while a voice worker reports itself; tests of that opt out."""
    if "no_voice_worker" not in request.keywords:
        for index in (0, 1):
            presence(aws).beat(index)


def voice_messages(aws, queue=None):
    queue = queue or aws.settings.voice_queue_url
    messages = aws.clients.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                               AttributeNames=["MessageGroupId", "MessageDeduplicationId"])
    return messages.get("Messages", [])


@pytest.mark.parametrize(("command", "options", "kind", "args"), [
    ("join", {}, "join", {}),
    ("join", {"channel": "500000000000000001"}, "join", {"channel_id": "500000000000000001"}),
    ("leave", {}, "leave", {}),
    ("say", {"text": "Hello <@123> everyone"}, "say", {"text": "Hello <@123> everyone"}),
    ("skip", {}, "skip", {}),
    ("clear", {}, "clear", {}),
])
def test_voice_commands_defer_and_queue_one_request(app_client, aws, command, options, kind, args):
    interaction = build.slash(command, options=options, **A)
    reply = app_client.send(interaction)
    assert reply == {"type": 5, "data": {"flags": 64}}
    [message] = voice_messages(aws)
    request = VoiceRequest.from_json(message["Body"])
    assert (request.kind, request.args) == (kind, VOICE_ARGS[VoiceKind(kind)](**args))
    assert request.interaction.id == interaction["id"]
    assert message["Attributes"]["MessageGroupId"] == build.DEFAULT_GUILD
    assert message["Attributes"]["MessageDeduplicationId"] == interaction["id"]


def test_a_replayed_interaction_is_queued_once(app_client, aws):
    interaction = build.slash("say", options={"text": "once"}, **A)
    app_client.send(interaction)
    app_client.send(interaction)
    assert len(voice_messages(aws)) == 1


def test_say_needs_text_and_voice_needs_a_server(app_client, aws):
    assert app_client.send(build.slash("say", options={"text": "  "}, **A))["data"]["content"] == \
        "Give me something to say."
    assert app_client.send(build.slash("join", guild_id=None, **A))["data"]["content"] == \
        "This only works in a server."
    assert voice_messages(aws) == []


def test_queue_failure_is_told_not_hidden(app_client, aws):
    aws.clients.sqs.delete_queue(QueueUrl=aws.settings.voice_queue_url)
    interaction = build.slash("leave", **A)
    reply = app_client.send(interaction)
    assert reply["type"] == 4 and reply["data"]["flags"] == 64
    assert "try again" in reply["data"]["content"]
    assert interaction["token"] not in json.dumps(reply)


def test_each_guild_goes_to_its_shards_queue(aws, signer):
    """VOICE_QUEUE_URL as a list: shard i's queue at index i, the shard being Discord's (guild_id >> 22) % n."""
    second = aws.clients.sqs.create_queue(QueueName="voice-shard-1.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "false"})["QueueUrl"]
    first = aws.settings.voice_queue_url
    sharded = dataclasses.replace(aws.settings, voice_queue_url=f"{first}, {second}")
    assert sharded.voice_queue_urls == (first, second)
    client = InteractionClient(create_app(sharded, stores=Stores(sharded, aws=aws.clients)).test_client(), signer)
    shard_one_guild = str(int(build.DEFAULT_GUILD) + (1 << 22))
    client.send(build.slash("leave", **A))  # DEFAULT_GUILD is on shard 0 of 2
    client.send(build.slash("skip", guild_id=shard_one_guild, **A))
    [on_first] = voice_messages(aws, first)
    [on_second] = voice_messages(aws, second)
    assert VoiceRequest.from_json(on_first["Body"]).interaction.guild_id == build.DEFAULT_GUILD
    assert VoiceRequest.from_json(on_second["Body"]).interaction.guild_id == shard_one_guild


def test_join_says_voice_is_not_deployed_without_the_voice_worker(aws, stores, signer):
    # The template leaves VOICE_QUEUE_URL empty when the stack has no voice worker image.
    from tests.conftest import InteractionClient

    settings = dataclasses.replace(aws.settings, voice_queue_url="")
    client = InteractionClient(create_app(settings, stores=stores).test_client(), signer)
    for command, options in (("join", {}), ("say", {"text": "hello"})):
        reply = client.send(build.slash(command, options=options, **A))
        assert reply["type"] == 4 and reply["data"]["flags"] == 64
        assert reply["data"]["content"].startswith("Voice is not deployed")
        assert "make voice-image" in reply["data"]["content"]
    assert voice_messages(aws) == []


@pytest.mark.no_voice_worker
def test_voice_is_off_at_once_when_no_voice_worker_runs(app_client, aws):
    reply = app_client.send(build.slash("join", **A))
    assert (reply["type"], reply["data"]["flags"]) == (4, 64)
    assert reply["data"]["content"] == "Voice is off: no voice worker has connected to Discord."
    presence(aws).stopped(0, "Discord refused the bot token (DISCORD_BOT_TOKEN) at https://discord.com/api/v10")
    reply = app_client.send(build.slash("say", options={"text": "hello"}, **A))
    assert reply["data"]["content"] == ("Voice is off: Discord refused the bot token (DISCORD_BOT_TOKEN) at "
                                        "https://discord.com/api/v10.")
    # A worker that stopped reporting (killed without a word) counts as off too.
    long_ago = presence(aws, clock=lambda: time.time() - STALE_AFTER_SECONDS - 5)
    long_ago.beat(0)
    assert app_client.send(build.slash("leave", **A))["data"]["content"].startswith(
        "Voice is off: the voice worker has not been heard from for")
    presence(aws).beat(0)
    assert app_client.send(build.slash("leave", **A)) == {"type": 5, "data": {"flags": 64}}
    assert len(voice_messages(aws)) == 1


def test_trainers_set_the_voice_settings_the_worker_reads(app_client, aws):
    from voice_worker.guild_settings import VoiceSettingsStore

    def settings_reply(permissions=build.MANAGE_GUILD, **options):
        reply = app_client.send(build.slash("voice_settings", options=options, permissions=permissions, **A))
        assert reply["type"] == 4 and reply["data"]["flags"] == 64
        return reply["data"]["content"]

    assert "permission" in settings_reply(permissions=0, engine="espeak").lower()
    assert settings_reply().startswith("Voice settings here:")
    saved = settings_reply(engine="espeak", language="fr-FR", idle_minutes=10, transcribe_add="300000000000000001")
    assert saved.startswith("Voice settings saved") and "<#300000000000000001>" in saved
    worker_view = VoiceSettingsStore(aws.settings, table=DataTable(aws.settings.data_table, aws.clients.dynamodb))
    voice = worker_view.get_sync(build.DEFAULT_GUILD)
    assert (voice.engine, voice.language, voice.idle_timeout_seconds, voice.transcribe_channels) == \
        ("espeak", "fr-FR", 600, ("300000000000000001",))
    assert settings_reply(language="not a language!") == "Give the language as a tag like en-US, fr or pt-BR."
    settings_reply(transcribe_remove="300000000000000001", engine="default")
    voice = VoiceSettingsStore(aws.settings, table=DataTable(aws.settings.data_table, aws.clients.dynamodb)
                               ).get_sync(build.DEFAULT_GUILD)
    assert (voice.engine, voice.language, voice.transcribe_channels) == (None, "fr-FR", ())
