"""IAM both ways, read from template.yaml: each role may do what its code calls, on what it calls it on, and
no more."""

from __future__ import annotations

import fnmatch

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
