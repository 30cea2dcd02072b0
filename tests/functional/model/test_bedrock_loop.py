"""The Bedrock loop with the real clients: boto3 against the local Bedrock fake (control plane and runtime) and
moto (table, bucket, queues), the interactions app with signed interactions, the worker and the watcher.

dataset → estimate (Nova) → Start → completion post with the loss chart and the held-out check → Make active
(the on-demand deployment) → /ask answered by the deployment → switching away deletes it.
"""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.interactions.app import create_app
from functions.watcher.watch import JobWatcher
from functions.worker import model_tasks
from functions.worker.handler import build_worker
from functions.worker.local_runner import LocalRunner
from functions.worker.services import WorkerServices
from infra import interactions as build
from infra.fakes.bedrock_server import FakeBedrock
from shared.aws import AwsClients
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.discord.rest import DiscordRest
from shared.finetune.catalog import load_catalog
from shared.finetune.exceptions import FineTuningUnavailable, ProviderRejected
from shared.finetune.exports import export_training
from shared.finetune.providers import BedrockProvider
from shared.storage.finetune_jobs import FineTuneJobStore
from shared.storage.stores import Stores
from tests.conftest import InteractionClient
from tests.functional.model.conftest import CHANNEL, GUILD, TRAINER, A, qa, send

NOVA = "amazon.nova-micro-v1:0:128k"
NOVA_2_LITE = "amazon.nova-2-lite-v1:0:256k"
ROLE = "arn:aws:iam::123456789012:role/bedrock-customization"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fake_bedrock(aws):
    with FakeBedrock(s3_client=aws.clients.s3, deploy_polls=1) as fake:
        yield fake


@pytest.fixture
def bsettings(aws, fake_bedrock, fake_discord):
    # Only the per-service endpoints point at the fake: S3, DynamoDB and SQS stay on moto.
    return dataclasses.replace(aws.settings,
        finetune_provider="bedrock", base_model=NOVA, bedrock_role_arn=ROLE,
        aws_endpoint_url_bedrock=fake_bedrock.url, aws_endpoint_url_bedrock_runtime=fake_bedrock.url,
        discord_api_base=fake_discord.api_base, discord_bot_token=fake_discord.bot_token,
        discord_application_id=A["application_id"], voice_queue_url="", openai_api_key="",
    )


@pytest.fixture
def ctx(aws, bsettings):
    # No provider passed in: the worker builds the Bedrock backend from the settings, as in Lambda.
    return WorkerServices(bsettings, aws=clients_for(aws, bsettings),
                         discord=DiscordRest(bsettings, sleep=lambda _s: None))


@pytest.fixture
def bclient(aws, bsettings, signer):
    app = create_app(bsettings, stores=Stores(bsettings, aws=clients_for(aws, bsettings)))
    return InteractionClient(app.test_client(), signer)


@pytest.fixture
def brunner(aws, bsettings, ctx):
    worker = build_worker(bsettings, ctx=ctx)
    return LocalRunner(worker.handle_batch, aws.clients.sqs, bsettings.jobs_queue_url, wait_seconds=0,
                       retry_visibility_timeout=0)


@pytest.fixture
def bjobs(aws, bsettings):
    return FineTuneJobStore(bsettings.data_table, aws.clients.dynamodb)


@pytest.fixture
def bwatcher(aws, bsettings, bjobs, ctx):
    return JobWatcher(bsettings, jobs=bjobs, provider_factory=ctx.provider_named,
                      discord=DiscordRest(bsettings, sleep=lambda _s: None), s3=aws.clients.s3)


def clients_for(aws, settings):
    """moto's S3, DynamoDB and SQS clients, and boto3 clients for the rest (Bedrock) built from ``settings``."""
    return AwsClients(settings, s3=aws.clients.s3, dynamodb=aws.clients.dynamodb, sqs=aws.clients.sqs)


def ref(user="9", interaction="1300000000000000801"):
    return InteractionRef(id=interaction, application_id=A["application_id"], token=f"itok-{interaction}",
                          guild_id=GUILD, channel_id=CHANNEL, user_id=user, member_permissions=1 << 5)


def estimate(ctx):
    return model_tasks.start_finetune(TaskRequest("start_finetune", ref(), {}), ctx)


def start(ctx):
    shown = estimate(ctx)
    digest = shown.components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    model_tasks.start_finetune(TaskRequest("start_finetune", ref(), {"dataset": "faq", "confirm": digest}), ctx)
    return ctx.stores.finetune_jobs.get(GUILD, model_tasks.start_request_id(GUILD, "faq", digest))


def watch_until_posted(watcher, fake_discord, limit=12):
    for _ in range(limit):
        watcher.tick()
        posts = fake_discord.channel_messages(CHANNEL)
        if posts:
            return posts
    raise AssertionError("the watcher never posted")


def button_press(client, custom_id):
    return send(client, build.component(custom_id, message={"id": "1300000000000000999", "content": "done"},
                                        permissions=TRAINER["permissions"], **A))


# --- the training file -----------------------------------------------------------------------------------------


def test_export_lines_follow_the_documented_bedrock_conversation_format():
    catalog = load_catalog()
    examples = [qa(f"Question {i}?", f"Answer {i}.") for i in range(12)]
    export = export_training(examples, catalog.model("bedrock", NOVA), catalog)
    lines = [json.loads(line) for line in export.train_jsonl().splitlines()]
    assert lines
    for line in lines:
        # AWS's Nova guide: schemaVersion, optional system text blocks, turns that alternate starting with the
        # user and ending with the assistant, each content a list of text blocks.
        assert line["schemaVersion"] == "bedrock-conversation-2024"
        assert all(set(block) == {"text"} for block in line.get("system", []))
        roles = [m["role"] for m in line["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles[-1] == "assistant"
        assert all(isinstance(b["text"], str) for m in line["messages"] for b in m["content"])


# --- the loop --------------------------------------------------------------------------------------------------


def test_the_whole_bedrock_loop(ctx, dataset, bclient, brunner, bwatcher, bjobs, fake_bedrock, fake_discord):
    shown = estimate(ctx)
    assert f"**Estimate for {NOVA}** (bedrock, supervised)" in shown.content
    assert "Serving: on demand through a custom model deployment" in shown.content
    assert "The provider is simulated" in shown.content

    record = start(ctx)
    assert record.provider == "bedrock" and record.status in ("validating_files", "queued", "running")
    assert ("CreateModelCustomizationJob", "us-east-1") in fake_bedrock.calls

    posts = watch_until_posted(bwatcher, fake_discord)
    record = bjobs.get(GUILD, record.request_id)
    assert record.status == "succeeded" and ":custom-model/" in record.fine_tuned_model
    # The held-out check needed the model deployed: it is, and the post waited for it.
    assert record.deployment_status == "active" and record.deployment_arn in fake_bedrock.deployments
    post = posts[-1]
    assert "succeeded" in post["content"] and "Final training loss" in post["content"]
    assert post["attachments"] and post["attachments"][0]["filename"] == "loss.png"
    assert fake_discord.attachment_bytes(post["attachments"][0]["id"]).startswith(PNG)
    assert "Held-out check" in post["content"] and "word-overlap F1" in post["content"]
    # The new model answers the held-out questions (What is fact K?) with a trained answer ("Fact J is true.":
    # 3 of 4 words in common with "Fact K is true.", F1 0.75); the base echoes the prompt ("(simulated
    # amazon.nova-micro-v1:0) You said: What is fact K?": 3 common of 12 words, P 0.25, R 0.75, F1 0.375).
    assert "New model: **0.75** · active now (`amazon.nova-micro-v1:0:128k`): **0.38**" in post["content"]
    asked_models = {call["modelId"] for call in fake_bedrock.converse_calls}
    assert asked_models == {record.deployment_arn, "amazon.nova-micro-v1:0"}

    # Make active: the deployment is active already, so the guild switches at once.
    made = button_press(bclient, f"ft:use:{record.request_id}")
    assert made.reply["type"] == 5  # deferred to the worker: it talks to Bedrock
    brunner.poll_once()
    assert "Active model is now" in fake_discord.original(made.token)["content"]
    serving = bjobs.active_serving(GUILD)
    assert serving == (record.fine_tuned_model, "bedrock", record.deployment_arn)

    # /ask: Converse with the deployment's ARN.
    fake_bedrock.converse_calls.clear()
    asked = send(bclient, build.slash("ask", options={"prompt": "What is fact 3?"}, **A))
    brunner.poll_once()
    assert fake_bedrock.converse_calls == [{"modelId": record.deployment_arn, "prompt": "What is fact 3?"}]
    answer = fake_discord.original(asked.token)["content"]
    assert answer.startswith("Fact 3 is true.") and "The provider is simulated" in answer

    # /model shows the deployment state.
    shown_models = send(bclient, build.slash("model", permissions=TRAINER["permissions"], **A)).reply
    assert f"▶ `{record.fine_tuned_model}` · deployed (on demand)" in shown_models["data"]["content"]

    # Switching away (to the base model) deletes the deployment nothing uses any more.
    switched = send(bclient, build.slash("model", options={"name": NOVA}, permissions=TRAINER["permissions"], **A))
    assert switched.reply["type"] == 5
    brunner.poll_once()
    assert "Deleted 1 deployment(s)" in fake_discord.original(switched.token)["content"]
    assert record.deployment_arn not in fake_bedrock.deployments
    assert bjobs.get(GUILD, record.request_id).deployment_status == "deleted"
    assert bjobs.active_serving(GUILD)[0] == NOVA


def test_make_active_creates_the_deployment_and_the_watcher_switches(ctx, dataset, bclient, brunner, bwatcher,
                                                                     bjobs, fake_bedrock, fake_discord):
    record = start(ctx)
    watch_until_posted(bwatcher, fake_discord)
    record = bjobs.get(GUILD, record.request_id)
    # The held-out check's deployment is gone (say, tidied away): Make active must create one.
    BedrockProvider(ctx.settings, bedrock_client=ctx.aws.client("bedrock")).delete_deployment(record.deployment_arn)
    before = len(fake_discord.channel_messages(CHANNEL))
    made = button_press(bclient, f"ft:use:{record.request_id}")
    brunner.poll_once()
    assert "Deploying" in fake_discord.original(made.token)["content"]
    assert bjobs.active_serving(GUILD) is None  # not before the deployment is active
    pending = bjobs.get(GUILD, record.request_id)
    assert pending.deployment_status == "creating" and pending.deployment_arn != record.deployment_arn
    for _ in range(3):
        bwatcher.tick()
    told = fake_discord.channel_messages(CHANNEL)[before:]
    assert len(told) == 1 and "is deployed and is now this server's active model" in told[0]["content"]
    assert bjobs.active_serving(GUILD) == (record.fine_tuned_model, "bedrock", pending.deployment_arn)


def test_a_failed_deployment_is_reported_and_changes_nothing(ctx, dataset, bclient, brunner, bwatcher, bjobs,
                                                             fake_bedrock, fake_discord):
    record = start(ctx)
    watch_until_posted(bwatcher, fake_discord)
    record = bjobs.get(GUILD, record.request_id)
    BedrockProvider(ctx.settings, bedrock_client=ctx.aws.client("bedrock")).delete_deployment(record.deployment_arn)
    fake_bedrock.fail_next_deployment("Insufficient quota for on-demand deployments (simulated).")
    before = len(fake_discord.channel_messages(CHANNEL))
    button_press(bclient, f"ft:use:{record.request_id}")
    brunner.poll_once()
    for _ in range(3):
        bwatcher.tick()
    told = fake_discord.channel_messages(CHANNEL)[before:]
    assert len(told) == 1
    assert "did not become active (Insufficient quota" in told[0]["content"]
    assert f"keeps using `{NOVA}`" in told[0]["content"]
    assert bjobs.active_serving(GUILD) is None
    assert bjobs.get(GUILD, record.request_id).deployment_status == "failed"
    assert bjobs.active() == []  # nothing left for the watcher


# --- prerequisites, before anything is paid ---------------------------------------------------------------------


def test_a_missing_role_is_reported_with_what_to_do(aws, bsettings, ctx, dataset, fake_bedrock):
    digest = estimate(ctx).components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    no_role_settings = dataclasses.replace(bsettings, bedrock_role_arn="")
    no_role = WorkerServices(no_role_settings, aws=clients_for(aws, no_role_settings))
    shown = estimate(no_role)
    assert "BEDROCK_ROLE_ARN is not set" in shown.content and "BedrockCustomizationRoleArn" in shown.content
    assert not shown.components  # no Start button
    # A Start button from before the setting was lost is refused too, before anything is recorded or sent.
    with pytest.raises(FineTuningUnavailable, match="BEDROCK_ROLE_ARN"):
        model_tasks.start_finetune(TaskRequest("start_finetune", ref(), {"dataset": "faq", "confirm": digest}),
                                  no_role)
    assert fake_bedrock.jobs == {} and ctx.stores.finetune_jobs.recent(GUILD) == []


def test_an_unavailable_region_is_refused_before_and_by_bedrock(aws, bsettings, dataset, fake_bedrock):
    west = dataclasses.replace(bsettings, aws_region="us-west-2")
    ctx = WorkerServices(west, aws=clients_for(aws, west))
    shown = estimate(ctx)
    assert "Bedrock does not fine-tune Amazon Nova Micro in us-west-2: it does in us-east-1" in shown.content
    assert not shown.components
    # Bedrock itself says no, and the user reads its message, not a stack trace.
    bedrock = boto3.client("bedrock", region_name="us-west-2", endpoint_url=fake_bedrock.url)
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(
            jobName="j", customModelName="m", roleArn=ROLE, baseModelIdentifier=NOVA,
            trainingDataConfig={"s3Uri": "s3://b/t.jsonl"}, outputDataConfig={"s3Uri": "s3://b/o/"})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "not supported in us-west-2" in info.value.response["Error"]["Message"]


def test_no_on_demand_serving_is_said_before_paying(aws, bsettings, dataset):
    lite2 = dataclasses.replace(bsettings, base_model=NOVA_2_LITE)
    ctx = WorkerServices(lite2, aws=clients_for(aws, lite2))
    shown = estimate(ctx)
    assert "Amazon Nova 2 Lite custom models cannot be served on demand in us-east-1" in shown.content
    assert "Provisioned Throughput" in shown.content and "Amazon Nova Micro" in shown.content


def test_an_html_error_page_never_reaches_the_user(bsettings):
    from botocore.stub import Stubber

    bedrock = boto3.client("bedrock", region_name="us-east-1")
    provider = BedrockProvider(bsettings, bedrock_client=bedrock)
    page = "<!doctype html><html><body><h1>400 Bad Request</h1></body></html>"
    with Stubber(bedrock) as stub:
        stub.add_client_error("get_custom_model_deployment", "BadRequest", page, 400)
        with pytest.raises(ProviderRejected) as info:
            provider.deployment("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/x")
    assert info.value.user_message == "Bedrock rejected the request: the endpoint answered with an HTML error page"


def test_a_deployment_that_fails_after_training_does_not_hold_the_post(ctx, dataset, bwatcher, bjobs, fake_bedrock,
                                                                       fake_discord):
    fake_bedrock.fail_next_deployment("Deployment quota reached (simulated).")
    record = start(ctx)
    post = watch_until_posted(bwatcher, fake_discord)[-1]
    assert "succeeded" in post["content"] and post["attachments"][0]["filename"] == "loss.png"
    assert "No held-out check: the on-demand deployment failed (Deployment quota reached" in post["content"]
    assert "Make active" in json.dumps(post["components"])
    assert bjobs.get(GUILD, record.request_id).deployment_status == "failed"
    assert bjobs.active() == []


def test_an_active_deployment_that_is_gone_falls_back_to_the_base_model(ctx, dataset, bclient, brunner, bwatcher,
                                                                        bjobs, fake_bedrock, fake_discord):
    record = start(ctx)
    watch_until_posted(bwatcher, fake_discord)
    button_press(bclient, f"ft:use:{record.request_id}")
    brunner.poll_once()
    arn = bjobs.active_serving(GUILD)[2]
    # Deleted outside the bot (the console, a cleanup script): Converse refuses the ARN from now on.
    boto3.client("bedrock", region_name="us-east-1", endpoint_url=fake_bedrock.url).delete_custom_model_deployment(
        customModelDeploymentIdentifier=arn)
    asked = send(bclient, build.slash("ask", options={"prompt": "What is fact 3?"}, **A))
    assert brunner.poll_once()["failed"] == 0
    answer = fake_discord.original(asked.token)["content"]
    assert answer.startswith("(simulated amazon.nova-micro-v1:0) You said: What is fact 3?")
    assert f"so the base model `{NOVA}` did" in answer
