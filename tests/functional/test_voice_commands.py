"""/join, /leave, /say, /skip, /clear: a FIFO voice request per interaction, and a deferred reply."""

import json

import pytest

from infra import interactions as build
from shared.queue_messages import VoiceRequest
from tests.conftest import APPLICATION_ID

A = {"application_id": APPLICATION_ID}


def voice_messages(aws):
    queue = aws.settings.voice_queue_url
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
    assert (request.kind, request.args) == (kind, args)
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
    reply = app_client.send(build.slash("leave", **A))
    assert reply["type"] == 4 and reply["data"]["flags"] == 64
    assert "try again" in reply["data"]["content"]
    assert json.dumps(reply).count("token") == 0
