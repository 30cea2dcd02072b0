"""The Bedrock backend through boto3 against moto (in-process), with botocore's Stubber for Converse."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from shared.config import Settings
from shared.finetune.exceptions import (
    FineTuningUnavailable,
    InferenceFailed,
    JobNotFound,
    NotConfigured,
    ProviderRejected,
)
from shared.finetune.exports import export_training
from shared.finetune.jobs import JobRequest
from shared.finetune.providers import BedrockProvider, build_provider
from shared.finetune.providers.bedrock_provider import job_name_for
from tests.support.examples import many

EPOCHS = 4  # the plan's choice, passed in: the provider sends it as it is
MODEL = "amazon.nova-micro-v1:0:128k"
NOVA_MICRO = "amazon.nova-micro-v1:0"  # what Bedrock's runtime calls that base model
ROLE = "arn:aws:iam::123456789012:role/bedrock-customization"


@pytest.fixture
def bedrock(aws):
    """The template's bucket and the Bedrock clients, on moto."""
    return {
        "bucket": aws.settings.bucket_name,
        "s3": aws.clients.s3,
        "bedrock": aws.clients.client("bedrock"),
        "runtime": aws.clients.client("bedrock-runtime"),
    }


@pytest.fixture
def bsettings(bedrock):
    return Settings(finetune_provider="bedrock", bucket_name=bedrock["bucket"], bedrock_role_arn=ROLE,
                    base_model=MODEL)


@pytest.fixture
def provider(bedrock, bsettings, catalog):
    return BedrockProvider(
        bsettings,
        bedrock_client=bedrock["bedrock"],
        runtime_client=bedrock["runtime"],
        s3_client=bedrock["s3"],
        catalog=catalog,
    )


@pytest.fixture
def export(catalog):
    return export_training(many(20), catalog.model("bedrock", MODEL), catalog)


def request(rid="req-1"):
    return JobRequest(request_id=rid, guild_id="111", dataset="faq", snapshot="v3", requested_by="222")


def moto_job(job_name):
    from moto.bedrock.models import bedrock_backends

    return bedrock_backends["123456789012"]["us-east-1"].model_customization_jobs[job_name]


def test_provider_is_chosen_by_settings(bsettings, bedrock):
    assert isinstance(build_provider(bsettings, aws_client={"bedrock": bedrock["bedrock"]}.get), BedrockProvider)


def test_job_names_are_unique_within_bedrocks_limit():
    # Request ids that differ only past Bedrock's 63 characters still get different names.
    long_a, long_b = "1" * 19 + "-" + "d" * 32 + "-aaaaaaaaaaaaaaaa", "1" * 19 + "-" + "d" * 32 + "-bbbbbbbbbbbbbbbb"
    a, b = job_name_for(long_a), job_name_for(long_b)
    assert a != b and len(a) <= 63 and len(b) <= 63
    assert job_name_for(long_a, "guild", "dataset") != job_name_for(long_b, "guild", "dataset")


def test_start_writes_export_to_bucket_and_creates_job(provider, export, bedrock):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    assert job.job_id == job_name_for("req-1") and job.status == "running" and job.request_id == "req-1"
    key = "guilds/111/finetune/req-1/train.jsonl"
    body = bedrock["s3"].get_object(Bucket=bedrock["bucket"], Key=key)["Body"].read()
    assert body == export.train_jsonl()
    first = json.loads(body.splitlines()[0])
    assert first["schemaVersion"] == "bedrock-conversation-2024" and first["messages"][0]["role"] == "user"
    data = bedrock["bedrock"].get_model_customization_job(jobIdentifier=job.job_id)
    assert data["trainingDataConfig"]["s3Uri"] == f"s3://{bedrock['bucket']}/{key}"
    assert data["validationDataConfig"]["validators"][0]["s3Uri"].endswith("validation.jsonl")
    assert data["hyperParameters"]["epochCount"] == str(EPOCHS)
    assert data["roleArn"] == ROLE and data["customizationType"] == "FINE_TUNING"
    tags = bedrock["bedrock"].list_tags_for_resource(resourceARN=data["jobArn"])["tags"]
    assert {"key": "request_id", "value": "req-1"} in tags


def test_start_is_idempotent_per_request(bedrock, bsettings, catalog, export):
    def fresh():
        return BedrockProvider(bsettings, bedrock_client=bedrock["bedrock"], s3_client=bedrock["s3"], catalog=catalog)

    first = fresh().start_job(export, request(), epochs=EPOCHS)
    again = fresh().start_job(export, request(), epochs=EPOCHS)  # a redelivered message, a new worker
    assert again.job_id == first.job_id
    assert len(bedrock["bedrock"].list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 1
    assert fresh().find_job_by_request("other") is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("InProgress", "running"),
        ("Stopping", "running"),
        ("Completed", "succeeded"),
        ("Failed", "failed"),
        ("Stopped", "cancelled"),
    ],
)
def test_status_mapping(provider, export, raw, status):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    moto_job(job.job_id).status = raw
    seen = provider.retrieve(job.job_id)
    assert seen.status == status and seen.raw_status == raw
    assert seen.is_terminal == (status in ("succeeded", "failed", "cancelled"))
    assert (seen.fine_tuned_model is not None) == (status == "succeeded")
    assert (seen.error is not None) == (status == "failed")


def test_validation_stage_maps_to_validating_files(provider):
    data = {
        "jobName": "j",
        "status": "InProgress",
        "statusDetails": {"validationDetails": {"status": "InProgress"}},
    }
    assert provider._job(data).status == "validating_files"
    data["statusDetails"] = {
        "validationDetails": {"status": "Completed"},
        "dataProcessingDetails": {"status": "InProgress"},
    }
    assert provider._job(data).status == "queued"


def test_cancel(provider, export):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    assert provider.cancel(job.job_id).status == "cancelled"
    with pytest.raises(JobNotFound):
        provider.cancel("dbt-missing")


def test_metrics_from_the_job_output_in_s3(provider, export, bedrock):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    moto_job(job.job_id).status = "Completed"
    done = provider.retrieve(job.job_id)
    assert provider.metrics(done) == []  # nothing written yet
    job_id = done.extra["job_arn"].rsplit("/", 1)[-1]
    base = f"guilds/111/finetune/req-1/output/model-customization-job-{job_id}/"
    bedrock["s3"].put_object(
        Bucket=bedrock["bucket"],
        Key=base + "training_artifacts/step_wise_training_metrics.csv",
        Body=b"step_number,epoch_number,training_loss,perplexity\n0,0,2.0,7.3\n1,0,1.0,2.7\n",
    )
    bedrock["s3"].put_object(
        Bucket=bedrock["bucket"],
        Key=base + "validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
        Body=b"step_number,epoch_number,validation_loss,perplexity\n1,0,1.2,3.3\n",
    )
    points = provider.metrics(done)
    assert [(p.step, p.train_loss, p.valid_loss) for p in points] == [(0, 2.0, None), (1, 1.0, 1.2)]


def test_not_configured(bedrock, catalog, export):
    provider = BedrockProvider(
        Settings(finetune_provider="bedrock", bucket_name=bedrock["bucket"]),
        bedrock_client=bedrock["bedrock"],
        s3_client=bedrock["s3"],
        catalog=catalog,
    )
    with pytest.raises(NotConfigured):
        provider.start_job(export, request(), epochs=EPOCHS)


def test_access_denied_on_create_is_a_refusal(bsettings, catalog, export, bedrock):
    client = bedrock["bedrock"]
    provider = BedrockProvider(bsettings, bedrock_client=client, s3_client=bedrock["s3"], catalog=catalog)
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_model_customization_job", "ResourceNotFoundException", http_status_code=404
        )
        stub.add_client_error(
            "create_model_customization_job",
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            403,
        )
        with pytest.raises(FineTuningUnavailable) as info:
            provider.start_job(export, request(), epochs=EPOCHS)
        stub.assert_no_pending_responses()
    assert "access denied" in info.value.user_message


def converse_response(text):
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
        "metrics": {"latencyMs": 12},
    }


def test_a_base_model_is_called_by_its_inference_id(provider, bedrock):
    # The catalog's base model is a customization id; Converse is called with the model's inference id.
    with Stubber(bedrock["runtime"]) as stub:
        stub.add_response("converse", converse_response("Hi!"), {
            "modelId": NOVA_MICRO, "messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
        assert provider.complete([{"role": "user", "content": "Hi"}], MODEL) == "Hi!"
        stub.assert_no_pending_responses()


def test_converse_inference(provider, bedrock):
    model_arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123"
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "there"},
    ]
    with Stubber(bedrock["runtime"]) as stub:
        stub.add_response(
            "converse",
            converse_response("Hello!"),
            {
                "modelId": model_arn,
                "messages": [{"role": "user", "content": [{"text": "Hi"}, {"text": "there"}]}],
                "system": [{"text": "Be brief."}],
            },
        )
        assert provider.complete(messages, model_arn) == "Hello!"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ThrottlingException", InferenceFailed),
        ("ModelTimeoutException", InferenceFailed),
        ("ValidationException", ProviderRejected),
        ("ResourceNotFoundException", ProviderRejected),
    ],
)
def test_converse_errors(provider, bedrock, code, error):
    with Stubber(bedrock["runtime"]) as stub:
        stub.add_client_error("converse", code, "simulated", 400, expected_params={
            "modelId": NOVA_MICRO, "messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
        with pytest.raises(error):
            provider.complete([{"role": "user", "content": "Hi"}], MODEL)
