"""The held-out check's score (worked out by hand), OpenAI's dates and warnings, per-service AWS endpoints."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest
from openai import OpenAI

from shared.aws import AwsClients
from shared.config import Settings
from shared.errors import BotError
from shared.finetune.catalog import load_catalog
from shared.finetune.evaluation import compare_models, held_out_examples, overlap_f1
from shared.finetune.readiness import openai_readiness, openai_shutdown_date, retirement_warning, startup_report

MINI = "gpt-4.1-mini-2025-04-14"
NANO = "gpt-4.1-nano-2025-04-14"


# --- the score --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "reference", "expected"), [
    # 2 of 3 words shared each way: P = R = 2/3, F1 = 2/3.
    ("the cat sat", "the cat ran", 2 / 3),
    # Multisets: answer {a:2, b:1}, reference {a:1, b:2}; common = min(2,1) + min(1,2) = 2; P = R = 2/3.
    ("a a b", "a b b", 2 / 3),
    # Case and punctuation do not count: the same four words.
    ("Fact 3 is TRUE!", "fact 3 is true.", 1.0),
    # 3 common words, 12 in the answer, 4 in the reference: P = 1/4, R = 3/4, F1 = 2·(3/16)/1 = 0.375.
    ("(simulated amazon.nova-micro-v1:0) You said: What is fact 3?", "Fact 3 is true.", 0.375),
    ("nothing alike", "Fact 3 is true.", 0.0),
    ("", "", 1.0),
])
def test_word_overlap_f1(answer, reference, expected):
    assert overlap_f1(answer, reference) == pytest.approx(expected)


def test_compare_models_scores_each_item_and_overall():
    examples = [
        ([{"role": "user", "content": "Capital of France?"}], "Paris is the capital."),
        ([{"role": "user", "content": "Two plus two?"}], "Four."),
    ]
    new_answers = {"Capital of France?": "Paris is the capital.", "Two plus two?": "It is four."}

    def new(messages):
        return new_answers[messages[-1]["content"]]

    def active(messages):
        if messages[-1]["content"] == "Two plus two?":
            raise BotError("no answer")
        return "The capital is Lyon."

    comparison = compare_models(examples, new_model="ft:new", new=new, active_model="base", active=active)
    # Item 1: new identical (1.0); active "the capital is lyon" vs "paris is the capital": common the,
    # capital, is = 3 of 4 each way: 0.75. Item 2: new "it is four" vs "four": P 1/3, R 1, F1 0.5; active
    # failed, so it has no score and its overall is item 1's alone.
    assert [i.new_score for i in comparison.items] == pytest.approx([1.0, 0.5])
    assert comparison.items[0].active_score == pytest.approx(0.75) and comparison.items[1].active_score is None
    assert comparison.new_overall == pytest.approx(0.75)
    assert comparison.active_overall == pytest.approx(0.75)
    text = comparison.text()
    assert "New model: **0.75** · active now (`base`): **0.75**" in text
    assert "2. “Two plus two?” → new 0.50 · active error" in text and "word-overlap F1" in text


def test_held_out_examples_read_both_formats():
    bedrock = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "Be brief."}],
               "messages": [{"role": "user", "content": [{"text": "Hi?"}]},
                            {"role": "assistant", "content": [{"text": "Hello."}]}]}
    openai = {"messages": [{"role": "user", "content": "Yo?"}, {"role": "assistant", "content": "Hey."}]}
    found = held_out_examples("\n".join([json.dumps(bedrock), json.dumps(openai), "not json"]))
    assert found == [([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}], "Hello."),
                     ([{"role": "user", "content": "Yo?"}], "Hey.")]


# --- OpenAI's dates -----------------------------------------------------------------------------------------------


def test_the_models_api_date_wins_over_the_catalog(fake_openai):
    catalog = load_catalog()
    client = OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0)
    assert openai_shutdown_date(MINI, catalog, client) == date(2027, 1, 14)  # the API gives none: the catalog's
    fake_openai.shutdown_dates[MINI] = 1796601600  # 2026-12-07
    assert openai_shutdown_date(MINI, catalog, client) == date(2026, 12, 7)
    # A fine-tune of a base stops with the base; the catalog knows the base.
    assert openai_shutdown_date(f"ft:{MINI}:org::abc123", catalog) == date(2027, 1, 14)
    assert openai_shutdown_date(NANO, catalog) is None


def test_warnings_within_thirty_days_and_a_closed_path():
    catalog = load_catalog()
    spec = catalog.model("openai", MINI)
    assert retirement_warning(MINI, date(2027, 1, 14), on=date(2026, 12, 14)) is None  # 31 days
    assert "(30 days)" in retirement_warning(MINI, date(2027, 1, 14), on=date(2026, 12, 15))
    early = openai_readiness(spec, catalog, on=date(2026, 11, 30))
    assert early.ok and not early.warnings  # 37 and 45 days away
    soon = openai_readiness(spec, catalog, on=date(2026, 12, 20))
    assert soon.ok
    assert any("stops creating fine-tuning jobs on 2027-01-06 (17 days)" in w for w in soon.warnings)
    assert any("shuts down on 2027-01-14 (25 days)" in w for w in soon.warnings)
    closed = openai_readiness(spec, catalog, on=date(2027, 1, 6))
    assert not closed.ok and "FINETUNE_PROVIDER=bedrock" in closed.problems[0]
    assert "Amazon Nova" in closed.problems[0]


def test_openai_start_on_a_closed_path_is_refused(monkeypatch, aws, fake_openai):
    from functions.worker import model_tasks
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import InteractionRef, TaskRequest
    from shared.domain.examples import ChatMessage, Example
    from shared.finetune.exceptions import FineTuningUnavailable
    from shared.storage.datasets import DatasetStore

    settings = dataclasses.replace(aws.settings, finetune_provider="openai", openai_api_key="sk-test",
                                   openai_base_url=fake_openai.url)
    assert settings.base_model == MINI
    store = DatasetStore(settings, dynamodb_client=aws.clients.dynamodb)
    store.select_dataset("5", "faq", created_by="seed")
    store.add_examples("5", "faq", [Example(messages=(ChatMessage("user", f"Q{i}?"), ChatMessage("assistant", "A.")))
                                    for i in range(12)], upload_id="seed")
    ctx = WorkerServices(settings, aws=aws.clients,
                        openai=OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0))
    ref = InteractionRef(id="1300000000000000901", application_id="1", token="t", guild_id="5", channel_id="6",
                         user_id="7", member_permissions=1 << 5)
    monkeypatch.setattr(model_tasks, "today", lambda: date(2026, 12, 20))
    warned = model_tasks.start_finetune(TaskRequest("start_finetune", ref, {}), ctx)
    assert "shuts down on 2027-01-14 (25 days)" in warned.content and warned.components
    digest = warned.components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    monkeypatch.setattr(model_tasks, "today", lambda: date(2027, 1, 7))
    refused = model_tasks.start_finetune(TaskRequest("start_finetune", ref, {}), ctx)
    assert "OpenAI stopped creating fine-tuning jobs on 2027-01-06" in refused.content and not refused.components
    with pytest.raises(FineTuningUnavailable, match="FINETUNE_PROVIDER=bedrock"):
        model_tasks.start_finetune(TaskRequest("start_finetune", ref, {"dataset": "faq", "confirm": digest}), ctx)
    assert not fake_openai.jobs


# --- configuration ----------------------------------------------------------------------------------------------


def test_bedrock_is_the_default_and_each_provider_has_its_default_model():
    assert (Settings().finetune_provider, Settings().base_model) == ("bedrock", "amazon.nova-micro-v1:0:128k")
    assert Settings.from_env({"FINETUNE_PROVIDER": "openai"}).base_model == MINI
    assert dataclasses.replace(Settings(), finetune_provider="openai").base_model == MINI
    chosen = Settings.from_env({"BASE_MODEL": "amazon.nova-lite-v1:0:300k"})
    assert dataclasses.replace(chosen, log_level="DEBUG").base_model == "amazon.nova-lite-v1:0:300k"


def test_service_specific_endpoints_win_and_others_keep_aws_endpoint_url():
    settings = Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
                                  "AWS_ENDPOINT_URL_BEDROCK": "http://127.0.0.1:7000",
                                  "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "http://127.0.0.1:7001"})
    clients = AwsClients(settings)
    assert clients.client("bedrock").meta.endpoint_url == "http://127.0.0.1:7000"
    assert clients.client("bedrock-runtime").meta.endpoint_url == "http://127.0.0.1:7001"
    assert clients.client("s3").meta.endpoint_url == "http://127.0.0.1:5000"
    plain = AwsClients(Settings(aws_region="us-east-1"))
    assert plain.client("bedrock-runtime").meta.endpoint_url == "https://bedrock-runtime.us-east-1.amazonaws.com"


def test_startup_report_names_what_is_missing():
    report = startup_report(Settings(aws_region="eu-west-1"), load_catalog())
    assert any("does not fine-tune Amazon Nova Micro in eu-west-1" in line for line in report)
    assert any("BEDROCK_ROLE_ARN is not set" in line for line in report)
    assert startup_report(Settings(bedrock_role_arn="arn:aws:iam::123456789012:role/r", bucket_name="b"),
                          load_catalog()) == []
