"""/test (JSON inputs, parser positions, per-item model errors), /ask's failure modes, and Bedrock as the one
setting that changes the provider."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.stub import Stubber

from functions.worker import model_tasks
from functions.worker.processor import retry_delay
from functions.worker.services import WorkerServices
from infra import interactions as build
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.errors import InvalidInput
from shared.finetune.providers import BedrockProvider
from shared.openai_api import OPENAI_MAX_RETRIES
from tests.functional.model.conftest import CHANNEL, GUILD, TRAINER, A, send
from tests.functional.worker.conftest import MAX_RECEIVES


def run_test(client, runner, fake_discord, data: str) -> str:
    sent = send(client, build.slash("test", options={"data": data}, **TRAINER, **A))
    assert sent.reply == {"type": 5}
    assert runner.poll_once() == {"received": 1, "failed": 0}
    return fake_discord.original(sent.token)["content"]


def test_invalid_json_names_the_position(client, runner, fake_discord, fake_openai):
    content = run_test(client, runner, fake_discord, '[{"prompt": "Hi"},\n {"prompt": "Bye",}]')
    # Python 3.13's json names a trailing comma as such (3.11 said "Expecting property name" one column later).
    assert content == "That is not valid JSON: Illegal trailing comma before end of object at line 2, column 18."
    assert fake_openai.counts["POST /chat/completions 200"] == 0


def test_one_object_or_a_list_with_expected_answers(client, runner, fake_discord, settings):
    model = settings.base_model
    one = run_test(client, runner, fake_discord, '{"prompt": "Hi"}')
    assert f"**1.** `Hi` → (simulated {model}) You said: Hi" in one
    many = run_test(client, runner, fake_discord, (
        '["plain text", {"prompt": "A", "expected": "(simulated ' + model + ') You said: A"},'
        ' {"messages": [{"role": "user", "content": "B"}, {"role": "assistant", "content": "no"}]}, 42]'
    ))
    assert "`plain text` → (simulated" in many
    assert "**2.** `A` → " in many and many.count("✅") == 1
    assert "**3.** `B` → " in many and "❌ (expected: no)" in many
    assert "**4.** ⚠️ invalid input" in many
    assert "Matched 1, differed 1, errors 1." in many


def test_model_errors_are_reported_per_item(client, runner, fake_discord, fake_openai):
    # Every try of the client's (production) retries fails, for two of the three items.
    fake_openai.fail_next(429, times=OPENAI_MAX_RETRIES + 1, path="/chat/completions")
    fake_openai.fail_next(500, times=OPENAI_MAX_RETRIES + 1, path="/chat/completions")
    content = run_test(client, runner, fake_discord, '["one", "two", "three"]')
    assert content.count("⚠️ error: The model did not answer. Please try again in a minute.") == 2
    assert "**3.** `three` → (simulated" in content and "errors 2" in content


def test_test_is_for_trainers(client):
    reply = send(client, build.slash("test", options={"data": "{}"}, **A)).reply
    assert "Manage Server" in reply["data"]["content"]


def test_parse_test_items_limits():
    with pytest.raises(InvalidInput, match="at most"):
        model_tasks.parse_test_items("[" + ",".join(['"x"'] * 21) + "]")
    with pytest.raises(InvalidInput, match="empty"):
        model_tasks.parse_test_items("[]")


def test_ask_failure_tells_the_user_after_the_last_try(client, runner, fake_discord, fake_openai, sqs_clock):
    fake_openai.fail_next(500, times=MAX_RECEIVES * (OPENAI_MAX_RETRIES + 1), path="/chat/completions")
    asked = send(client, build.slash("ask", options={"prompt": "Anyone there?"}, **A))
    for receive in range(1, MAX_RECEIVES + 1):
        assert runner.poll_once()["failed"] == 1
        sqs_clock.advance(retry_delay(receive))
    assert fake_discord.original(asked.token)["content"] == (
        "Sorry, that didn't work: The model did not answer. Please try again in a minute.")


def test_an_active_model_that_no_longer_answers_falls_back_to_the_base_model(client, runner, fake_discord, jobs):
    jobs.set_active_model(GUILD, "ft:gone:model", set_by="1", provider="openai")
    asked = send(client, build.slash("ask", options={"prompt": "Hi"}, **A))
    assert runner.poll_once()["failed"] == 0  # answered, not retried
    content = fake_discord.original(asked.token)["content"]
    assert content.startswith("(simulated gpt-4.1-mini-2025-04-14) You said: Hi")
    assert "The active model `ft:gone:model` did not answer, so the base model `gpt-4.1-mini-2025-04-14` did" \
        in content


def test_ask_refuses_a_non_audio_attachment(client):
    attachment = {"id": "1300000000000000902", "url": "https://cdn.discordapp.com/a/b/notes.pdf",
                  "filename": "notes.pdf", "content_type": "application/pdf", "size": 10}
    reply = send(client, build.slash("ask", options={"prompt": "x"}, attachments={"audio": attachment}, **A)).reply
    assert reply["data"]["content"].startswith("Attach an audio file")


# --- Bedrock: the same jobs, one setting changed --------------------------------------------------------------

NOVA = "amazon.nova-micro-v1:0:128k"


def test_bedrock_is_one_setting(aws, settings, dataset):
    bsettings = dataclasses.replace(settings, finetune_provider="bedrock", base_model=NOVA,
                                        bedrock_role_arn="arn:aws:iam::123456789012:role/bedrock-customization")
    # No provider injected: the worker builds the Bedrock backend from the setting, with boto3 clients (moto).
    ctx = WorkerServices(bsettings, aws=aws.clients)
    ref = InteractionRef(id="1300000000000000701", application_id=A["application_id"], token="itok-b",
                         guild_id=GUILD, channel_id=CHANNEL, user_id="9", member_permissions=1 << 5)
    estimate = model_tasks.start_finetune(TaskRequest("start_finetune", ref, {}), ctx)
    assert f"**Estimate for {NOVA}** (bedrock, supervised) (approximate" in estimate.content
    assert "simulated" not in estimate.content
    digest = estimate.components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    started = model_tasks.start_finetune(TaskRequest("start_finetune", ref, {"dataset": "faq", "confirm": digest}),
                                        ctx)
    assert "(bedrock, supervised)" in started.content
    assert isinstance(model_tasks.provider_for(ctx), BedrockProvider)
    record = ctx.stores.finetune_jobs.get(GUILD, model_tasks.start_request_id(GUILD, "faq", digest))
    assert record.provider == "bedrock" and record.job_id and record.status == "running"
    moto_job = ctx.aws.client("bedrock").get_model_customization_job(jobIdentifier=record.job_id)
    assert moto_job["jobName"] == record.job_id and moto_job["trainingDataConfig"]["s3Uri"].startswith(
        f"s3://{bsettings.bucket_name}/")

    # Converse answers /ask with the active model (moto lacks Converse: botocore's Stubber stands in).
    runtime = ctx.aws.client("bedrock-runtime")
    with Stubber(runtime) as stub:
        stub.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "Fact 1 is true."}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 4, "totalTokens": 9},
            "metrics": {"latencyMs": 10},
        }, {"modelId": "amazon.nova-micro-v1:0",  # the catalog's inference id of NOVA
            "messages": [{"role": "user", "content": [{"text": "What is fact 1?"}]}]})
        answer = model_tasks.provider_for(ctx).complete([{"role": "user", "content": "What is fact 1?"}], NOVA)
    assert answer == "Fact 1 is true."


def test_test_data_nested_deep_or_with_huge_numbers_is_refused_with_a_reason():
    with pytest.raises(InvalidInput, match="nested too deeply"):
        model_tasks.parse_test_items("[" * 3000 + "]" * 3000)
    with pytest.raises(InvalidInput, match="too many digits"):
        model_tasks.parse_test_items("[" + "9" * 5000 + "]")


def test_a_test_input_with_half_a_surrogate_pair_is_its_own_error(client, runner, fake_discord):
    content = run_test(client, runner, fake_discord, '["fine", "broken \\ud83d", "also fine"]')
    assert "**2.** ⚠️ invalid input: its text holds half a surrogate pair" in content
    assert "**1.** `fine` → (simulated" in content and "**3.** `also fine` → (simulated" in content


def test_a_long_test_report_keeps_its_summary_and_attaches_the_whole(client, runner, fake_discord):
    items = [{"prompt": f"question {n} " + "x" * 300, "expected": "no"} for n in range(12)]
    sent = send(client, build.slash("test", options={"data": json.dumps(items)}, **TRAINER, **A))
    assert runner.poll_once() == {"received": 1, "failed": 0}
    reply = fake_discord.original(sent.token)
    assert len(reply["content"]) <= 2000
    assert reply["content"].endswith("Matched 0, differed 12, errors 0.")
    assert "the whole of it is attached (test-report.md)" in reply["content"]
    assert [a["filename"] for a in reply["attachments"]] == ["test-report.md"]
