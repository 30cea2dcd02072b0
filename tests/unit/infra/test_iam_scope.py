"""IAM both ways, read from template.yaml: each role may do what its code calls, on what it calls it on, and
no more."""

from __future__ import annotations

import fnmatch

import pytest

from infra.template import load_template
from shared.storage import keys

RESOURCES = load_template()["Resources"]


def statements(logical_id: str) -> list[dict]:
    resource = RESOURCES[logical_id]
    if resource["Type"] == "AWS::IAM::ManagedPolicy":
        found = resource["Properties"]["PolicyDocument"]["Statement"]
    else:
        found = [s for policy in resource["Properties"]["Policies"] if isinstance(policy, dict)
                 for s in policy.get("Statement", [])]
    return [s for s in found if isinstance(s, dict) and "Action" in s]


def allowing(logical_id: str, action: str) -> list[dict]:
    return [s for s in statements(logical_id) if s["Effect"] == "Allow" and action in s["Action"]]


def resources(statement: dict) -> list:
    value = statement["Resource"]
    return value if isinstance(value, list) else [value]


def test_the_worker_has_no_bedrock_action_on_every_resource():
    for statement in statements("WorkerFunction"):
        if any(a.startswith("bedrock:") for a in statement["Action"]):
            assert "*" not in resources(statement), statement["Action"]
    for action in ("bedrock:CreateModelCustomizationJob", "bedrock:GetModelCustomizationJob",
                   "bedrock:StopModelCustomizationJob", "bedrock:InvokeModel"):
        assert allowing("WorkerFunction", action), action
    # Nothing the code does not call.
    granted = {a for s in statements("WorkerFunction") for a in s["Action"]}
    assert "bedrock:ListModelCustomizationJobs" not in granted
    assert not any("*" in a.split(":", 1)[1] for a in granted if a.startswith("bedrock:"))


def test_the_worker_deletes_in_the_data_table_only_where_dataset_deletion_does():
    # /dataset_delete is the worker's one DeleteItem on the data table; the scan that would find any row is not
    # granted, so a delete needs the key the code builds.
    granted = {a for s in statements("WorkerFunction") for a in s["Action"]}
    assert "dynamodb:Scan" not in granted
    assert any({"Fn::GetAtt": ["DataTable", "Arn"]} in resources(s)
               for s in allowing("WorkerFunction", "dynamodb:DeleteItem"))


def test_the_watcher_may_list_the_bucket_for_bedrock_metrics():
    for logical_id in ("WatcherFunction", "OpenAIWebhookFunction"):
        (statement,) = allowing(logical_id, "s3:ListBucket")
        assert resources(statement) == [{"Fn::GetAtt": ["Bucket", "Arn"]}]
        assert statement["Condition"]["StringLike"]["s3:prefix"] == "guilds/*"
        for action in ("bedrock:GetModelCustomizationJob",):
            assert all("*" != r for s in allowing(logical_id, action) for r in resources(s))


def _may_write(action: str, pk: str) -> bool:
    return any(fnmatch.fnmatchcase(pk, pattern) for s in allowing("VoiceWorkerPolicy", action)
               for pattern in s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])


def test_the_voice_worker_writes_only_its_claims_and_its_presence():
    writes = [s for s in statements("VoiceWorkerPolicy")
              if {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} & set(s["Action"])]
    assert writes and all("Condition" in s for s in writes)
    claim_pk = keys.voice_request_pk("1300000000000000001")
    settings_pk = keys.guild_pk("200000000000000001")
    # The claim is taken and finished with UpdateItem (voice_worker/ledger.py); every shard's heartbeat and
    # stopped record is a PutItem (shared/storage/voice_presence.py), which /join reads before queueing.
    assert _may_write("dynamodb:UpdateItem", claim_pk)
    assert _may_write("dynamodb:PutItem", keys.voice_worker_pk())
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert not _may_write(action, settings_pk)
    assert not _may_write("dynamodb:DeleteItem", claim_pk)
    reads = allowing("VoiceWorkerPolicy", "dynamodb:GetItem")
    assert reads and all("Condition" in s for s in reads)
    assert not allowing("VoiceWorkerPolicy", "dynamodb:Query")


# -- the voice worker's answers to voice messages (VoiceTranscribeMessages) ---------------------------------------

ACCOUNT, REGION = "123456789012", "us-east-1"
GUILD, CHANNEL, USER, ANSWER_MESSAGE = "200000000000000001", "300000000000000001", "400000000000000001", "5000001"
DEPLOYMENT_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/abc123"


def _voice_deployment(**given: str):
    from infra.template import Provisioned, evaluate_conditions, load_template

    template = load_template()
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(DiscordPublicKey="0" * 64, DiscordApplicationId="100000000000000001", BotTokenSecretArn="arn:bot",
                  VoiceImageUri="1.dkr.ecr/voice:1")
    values.update(given)
    # CloudFormation's pseudo parameters, which the policies' !Sub ARNs name.
    values.update({"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT})
    conditions = evaluate_conditions(template, values)
    refs = {lid: lid for lid, r in RESOURCES.items() if conditions.get(r.get("Condition", ""), "Condition" not in r)}
    return Provisioned(refs=refs, arns={lid: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{lid}" for lid in refs},
                       parameters=values, conditions=conditions)


def _task_role_statements(deployed) -> list[dict]:
    """Every statement of the managed policies the voice task role holds in this deployment, resolved."""
    found = []
    for policy in deployed.resolve_list(RESOURCES["VoiceTaskRole"]["Properties"]["ManagedPolicyArns"]):
        for statement in deployed.resolve_list(RESOURCES[policy]["Properties"]["PolicyDocument"]["Statement"]):
            resolved = dict(statement)
            resolved["Resource"] = deployed.resolve_list(statement["Resource"])
            found.append(resolved)
    return found


def _table_call_allowed(statements: list[dict], action: str, pk: str, attributes: set[str] | None,
                        table_arn: str) -> bool:
    for statement in statements:
        if statement["Effect"] != "Allow" or action not in statement["Action"]:
            continue
        if not any(fnmatch.fnmatchcase(table_arn, r) for r in statement["Resource"]):
            continue
        condition = dict(statement.get("Condition", {}))
        leading = condition.pop("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        allowed_attributes = condition.pop("ForAllValues:StringEquals", {}).get("dynamodb:Attributes")
        assert not condition, f"a condition this check does not evaluate: {condition}"
        if leading is not None and not any(fnmatch.fnmatchcase(pk, p) for p in leading):
            continue
        if allowed_attributes is not None and not (attributes or set()) <= set(allowed_attributes):
            continue
        return True
    return False


def _invoke_allowed(statements: list[dict], model_arn: str) -> bool:
    return any(statement["Effect"] == "Allow" and "bedrock:InvokeModel" in statement["Action"]
               and any(fnmatch.fnmatchcase(model_arn, r) for r in statement["Resource"]) for statement in statements)


def _model_arn(model_id: str) -> str:
    """The resource Converse is authorised on: the ARN itself, an inference profile, or a foundation model."""
    if model_id.startswith("arn:"):
        return model_id
    if model_id.split(".", 1)[0] in ("us", "eu", "apac", "global"):
        return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{model_id}"
    return f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}"


def _answer_a_voice_message(base_model: str, active: tuple[str, str] | None):
    """What the worker does for one transcribed voice message in a guild with transcription on, against moto:
    read the guild's voice settings, ask the active model (Converse, stubbed), record the exchange. Returns the
    data-table calls (action, pk, attribute names) and the model ids Converse was called with."""
    import asyncio
    from types import SimpleNamespace

    import boto3
    from botocore.stub import Stubber
    from moto import mock_aws

    from shared.aws import AwsClients
    from shared.config import Settings
    from shared.storage.stores import Stores
    from voice_worker.answers import ModelAnswerer
    from voice_worker.cogs.transcription import Transcription
    from voice_worker.guild_settings import VoiceSettingsStore

    settings = Settings(data_table="data", aws_region=REGION, base_model=base_model, voice_transcribe_messages=True)
    calls: list[tuple[str, str, set[str] | None]] = []
    model_ids: list[str] = []

    def record(params, model, **_kwargs):
        key = params.get("Key") or params.get("Item") or {}
        attributes = None
        if model.name == "PutItem":
            attributes = set(params["Item"])
        elif "ProjectionExpression" in params:
            names = params.get("ExpressionAttributeNames", {})
            attributes = {names.get(n.strip(), n.strip()) for n in params["ProjectionExpression"].split(",")}
        calls.append((f"dynamodb:{model.name}", key["pk"]["S"], attributes))

    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name=REGION)
        session.client("dynamodb").create_table(
            TableName="data", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        if active is not None:  # a trainer made a model active earlier (the worker function's write, not this one)
            Stores(settings, AwsClients(settings, session=session)).finetune_jobs.set_active_model(
                GUILD, active[0], set_by="1", provider="bedrock", serving_id=active[1])
        aws = AwsClients(settings, session=session)
        aws.dynamodb.meta.events.register("provide-client-params.dynamodb", record)
        runtime = aws.client("bedrock-runtime")
        stubber = Stubber(runtime)
        stubber.add_response("converse", {
            "output": {"message": {"role": "assistant", "content": [{"text": "an answer"}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            "metrics": {"latencyMs": 1}})
        runtime.meta.events.register("before-parameter-build.bedrock-runtime.Converse",
                                     lambda params, **_: model_ids.append(params["modelId"]))
        stores = Stores(settings, aws)
        with stubber:
            VoiceSettingsStore(settings, aws).get_sync(GUILD)
            answer = ModelAnswerer(settings, stores=stores).answer(GUILD, "what is the plan")
            bot = SimpleNamespace(exchanges=stores.exchanges)
            message = SimpleNamespace(guild=SimpleNamespace(id=int(GUILD)), channel=SimpleNamespace(id=int(CHANNEL)),
                                      author=SimpleNamespace(id=int(USER)))
            asyncio.run(Transcription(bot).record_exchange(message, SimpleNamespace(id=int(ANSWER_MESSAGE)),
                                                           "what is the plan", answer))
        made = list(calls)
        assert stores.exchanges.get(GUILD, ANSWER_MESSAGE) is not None
    return made, model_ids


@pytest.mark.parametrize(("base_model", "active", "model_id"), [
    ("amazon.nova-micro-v1:0:128k", None, "amazon.nova-micro-v1:0"),
    # A base model served through a cross-Region inference profile.
    ("amazon.nova-2-lite-v1:0:256k", None, "us.amazon.nova-2-lite-v1:0"),
    # A fine-tuned model made active: answered through its on-demand deployment.
    ("amazon.nova-micro-v1:0:128k", (f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/m1", DEPLOYMENT_ARN),
     DEPLOYMENT_ARN),
])
def test_the_voice_worker_may_answer_a_voice_message_only_with_transcription_on(base_model, active, model_id):
    import dataclasses

    from shared.storage.exchanges import Exchange

    calls, model_ids = _answer_a_voice_message(base_model, active)
    assert model_ids == [model_id]
    guild_pk = keys.guild_pk(GUILD)
    # Voice settings and the active model (both GetItem on the guild), then the exchange.
    assert [(action, pk) for action, pk, _ in calls] == [
        ("dynamodb:GetItem", guild_pk), ("dynamodb:GetItem", guild_pk), ("dynamodb:PutItem", guild_pk)]

    on, off = _voice_deployment(VoiceTranscribeMessages="true"), _voice_deployment()
    table = on.arns["DataTable"]
    statements_on, statements_off = _task_role_statements(on), _task_role_statements(off)
    for action, pk, attributes in calls:
        assert _table_call_allowed(statements_on, action, pk, attributes, table), (action, pk, attributes)
    assert _invoke_allowed(statements_on, _model_arn(model_id))
    # Off, the role is today's: reads, but neither the exchange nor the model.
    put = calls[-1]
    assert not _table_call_allowed(statements_off, put[0], put[1], put[2], table)
    assert not _invoke_allowed(statements_off, _model_arn(model_id))

    # Nothing beyond: the exchange's attributes exactly, on GUILD# only, and no other table action.
    [put_statement] = [s for s in statements_on if "dynamodb:PutItem" in s["Action"]
                       and "GUILD#*" in s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]]
    assert set(put_statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == put[2]
    assert put[2] == {"pk", "sk", "type"} | {f.name for f in dataclasses.fields(Exchange)}
    transcription = [s for s in _task_role_statements(on) if s not in statements_off]
    table_actions = {a for s in transcription for a in s["Action"] if a.startswith("dynamodb:")}
    assert table_actions == {"dynamodb:PutItem"}
    for pk, attributes in ((guild_pk, put[2] | {"active_model"}), (keys.examples_pk(GUILD, "d"), put[2]),
                           (keys.voice_request_pk("1"), put[2])):
        assert not _table_call_allowed(transcription, "dynamodb:PutItem", pk, attributes, table), pk


def test_the_voice_transcription_policy_grants_converse_and_the_openai_key_only():
    on = _voice_deployment(VoiceTranscribeMessages="true")
    with_key = _voice_deployment(VoiceTranscribeMessages="true", OpenAIKeySecretArn="arn:openai-key")
    base = _task_role_statements(_voice_deployment())
    for deployed, secrets in ((on, set()), (with_key, {"arn:openai-key"})):
        added = [s for s in _task_role_statements(deployed) if s not in base]
        actions = {a for s in added for a in s["Action"]}
        assert actions == {"dynamodb:PutItem", "bedrock:InvokeModel"} | (
            {"secretsmanager:GetSecretValue"} if secrets else set())
        assert all("*" not in s["Resource"] for s in added)
        granted_secrets = {r for s in added if "secretsmanager:GetSecretValue" in s["Action"] for r in s["Resource"]}
        assert granted_secrets == secrets
    # The OpenAI key is read only when transcription is on, whatever the functions hold.
    off_with_key = _task_role_statements(_voice_deployment(OpenAIKeySecretArn="arn:openai-key"))
    assert not any("arn:openai-key" in s["Resource"] for s in off_with_key)
