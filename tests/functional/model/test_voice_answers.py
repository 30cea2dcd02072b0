"""A transcribed voice message answered by the guild's active model (the voice worker's answerer)."""

import asyncio

from shared.aws import AwsClients
from shared.storage.finetune_jobs import FineTuneJobStore
from shared.storage.stores import Stores
from voice_worker.answers import ModelAnswer, ModelAnswerer

GUILD = "200000000000000001"


def test_answers_with_the_base_model_then_the_active_one(aws, settings, fake_openai):
    answerer = ModelAnswerer(settings, stores=Stores(settings, AwsClients(settings, dynamodb=aws.clients.dynamodb)))
    base = asyncio.run(answerer(int(GUILD), 7, "what is the capital of france"))
    assert base == ModelAnswer(f"(simulated {settings.base_model}) You said: what is the capital of france",
                               settings.base_model)

    fake_openai.models.add("ft:custom")
    FineTuneJobStore(settings.data_table, aws.clients.dynamodb).set_active_model(GUILD, "ft:custom", set_by="7")
    assert asyncio.run(answerer(GUILD, 7, "hi")) == ModelAnswer("(simulated ft:custom) You said: hi", "ft:custom")


def test_a_model_failure_means_no_answer_not_a_crash(aws, settings, fake_openai, caplog):
    answerer = ModelAnswerer(settings, stores=Stores(settings, AwsClients(settings, dynamodb=aws.clients.dynamodb)))
    FineTuneJobStore(settings.data_table, aws.clients.dynamodb).set_active_model(GUILD, "ft:gone", set_by="7")
    assert asyncio.run(answerer(GUILD, 7, "hi")) is None
    assert "no model answer" in caplog.text
