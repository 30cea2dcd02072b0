"""A transcribed voice message answered by the guild's active model (the voice worker's answerer)."""

import asyncio
import dataclasses

from infra.fakes.bedrock_server import BASE_RUNTIME_IDS, FakeBedrock
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


def test_each_guild_is_answered_by_its_own_models_provider(aws, settings, fake_openai):
    other = "200000000000000002"
    with FakeBedrock(s3_client=aws.clients.s3) as bedrock:
        both = dataclasses.replace(settings, aws_endpoint_url_bedrock=bedrock.url,
                                   aws_endpoint_url_bedrock_runtime=bedrock.url)
        answerer = ModelAnswerer(both, stores=Stores(both, AwsClients(both, dynamodb=aws.clients.dynamodb)))
        jobs = FineTuneJobStore(both.data_table, aws.clients.dynamodb)
        fake_openai.models.add("ft:custom")
        jobs.set_active_model(GUILD, "ft:custom", set_by="7", provider="openai")
        nova = sorted(BASE_RUNTIME_IDS)[0]
        jobs.set_active_model(other, nova, set_by="7", provider="bedrock", serving_id=nova)

        assert asyncio.run(answerer(GUILD, 7, "hi")) == ModelAnswer("(simulated ft:custom) You said: hi", "ft:custom")
        assert asyncio.run(answerer(other, 7, "hi")) == ModelAnswer(f"(simulated {nova}) You said: hi", nova)
        assert asyncio.run(answerer(GUILD, 7, "again")).text == "(simulated ft:custom) You said: again"
        assert [call["modelId"] for call in bedrock.converse_calls] == [nova]
