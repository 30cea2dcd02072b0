"""The voice worker's shards in template.yaml: one queue, task and service per shard (VoiceShardCount), each task
told its shard and polling its own queue, and the functions given every queue in shard order."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.template import (
    Provisioned,
    evaluate_conditions,
    function_environment,
    load_template,
    task_environment,
)
from shared.config import Settings

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
MAX_SHARDS = 4
# Shard 0 keeps the logical ids of the stack that had one shard, so an update replaces none of them.
SHARD_ZERO = {"queue": "VoiceQueue", "dlq": "VoiceDeadLetterQueue", "task": "VoiceTaskDefinition",
              "service": "VoiceService"}


def shard_ids(i: int) -> dict[str, str]:
    return SHARD_ZERO if i == 0 else {role: f"{lid}{i}" for role, lid in SHARD_ZERO.items()}


def parameters(**given: str) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in TEMPLATE["Parameters"].items()}
    values.update(DiscordPublicKey="0" * 64, DiscordApplicationId="100000000000000001", BotTokenSecretArn="arn:s")
    values.update(given)
    return values


def deployment(**given: str) -> Provisioned:
    """The template's conditions for these parameters, with every resource it creates given a fake id and ARN."""
    values = parameters(**given)
    conditions = evaluate_conditions(TEMPLATE, values)
    refs: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical_id, resource in RESOURCES.items():
        if conditions.get(resource.get("Condition", ""), "Condition" not in resource):
            refs[logical_id] = f"https://sqs.local/{logical_id}.fifo" if "Queue" in logical_id else logical_id
            arns[logical_id] = f"arn:aws:test:::{logical_id}"
    return Provisioned(refs=refs, arns=arns, parameters=values, conditions=conditions)


def created(deployed: Provisioned) -> set[str]:
    return set(deployed.refs)


def granted(deployed: Provisioned, statements: list[Any], action: str) -> set[str]:
    return {arn for s in deployed.resolve_list(statements) if action in s["Action"]
            for arn in deployed.resolve_list(s["Resource"])}


def test_the_shard_count_is_a_parameter_from_one_to_a_few():
    spec = TEMPLATE["Parameters"]["VoiceShardCount"]
    assert spec["Default"] == "1"
    assert spec["AllowedValues"] == [str(n) for n in range(1, MAX_SHARDS + 1)]
    assert "2,500" in spec["Description"]
    # Every allowed count has its shards' resources (no shard beyond the last is referenced anywhere).
    assert not any(f"VoiceQueue{MAX_SHARDS}" in lid for lid in RESOURCES)


@pytest.mark.parametrize("count", [1, 2, MAX_SHARDS])
def test_each_shard_has_its_own_queue_task_and_service(count):
    deployed = deployment(VoiceImageUri="1.dkr.ecr/voice:1", VoiceShardCount=str(count))
    for i in range(MAX_SHARDS):
        ids = shard_ids(i)
        assert (set(ids.values()) <= created(deployed)) is (i < count), (i, count)
        assert not (i >= count and set(ids.values()) & created(deployed)), (i, count)
    for i in range(count):
        ids = shard_ids(i)
        env = task_environment(deployed, ids["task"], TEMPLATE)
        assert env["VOICE_SHARD_ID"] == str(i) and env["VOICE_SHARD_COUNT"] == str(count)
        assert env["VOICE_QUEUE_URL"] == deployed.refs[ids["queue"]]
        # What the worker makes of it: it polls this queue and no other (voice_worker/consumer.py).
        worker = Settings.from_env(env)
        assert (worker.voice_shard_id, worker.voice_shard_count) == (i, count)
        assert worker.voice_queue_urls == (deployed.refs[ids["queue"]],)
        service = RESOURCES[ids["service"]]["Properties"]
        assert service["TaskDefinition"] == {"Ref": ids["task"]} and service["DesiredCount"] == 1
        assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        redrive = RESOURCES[ids["queue"]]["Properties"]["RedrivePolicy"]
        assert deployed.resolve(redrive["deadLetterTargetArn"]) == deployed.arns[ids["dlq"]]
    prefixes = [RESOURCES[shard_ids(i)["task"]]["Properties"]["ContainerDefinitions"][0]["LogConfiguration"]
                ["Options"]["awslogs-stream-prefix"] for i in range(MAX_SHARDS)]
    assert len(set(prefixes)) == MAX_SHARDS


@pytest.mark.parametrize("i", range(1, MAX_SHARDS))
def test_every_shard_is_shard_zero_but_for_its_number(i):
    """Shards 1 and up are copies of shard 0 (the real numbers: retention, visibility, receives, health check,
    circuit breaker, network), differing only in what names the shard."""
    ids = shard_ids(i)

    def without(logical_id: str, *paths: tuple[str, ...]) -> dict[str, Any]:
        resource = copy.deepcopy(RESOURCES[logical_id])
        resource.pop("Condition", None)
        for path in paths:
            node = resource
            for key in path[:-1]:
                node = node[key]
            node.pop(path[-1])
        return resource

    assert RESOURCES[ids["queue"]]["Condition"] == f"HasVoiceShard{i}"
    redrive = ("Properties", "RedrivePolicy", "deadLetterTargetArn")
    assert without(ids["queue"], redrive) == without("VoiceQueue", redrive)
    assert without(ids["dlq"]) == without("VoiceDeadLetterQueue")
    assert without(ids["service"], ("Properties", "TaskDefinition")) == \
        without("VoiceService", ("Properties", "TaskDefinition"))

    def task(logical_id: str) -> dict[str, Any]:
        resource = without(logical_id, ("Properties", "Family"))
        container = resource["Properties"]["ContainerDefinitions"][0]
        container["LogConfiguration"]["Options"].pop("awslogs-stream-prefix")
        container["Environment"] = [e for e in container["Environment"]
                                    if e.get("Name") not in ("VOICE_SHARD_ID", "VOICE_QUEUE_URL")]
        return resource

    assert task(ids["task"]) == task("VoiceTaskDefinition")
    assert RESOURCES[ids["task"]]["Properties"]["Family"] != RESOURCES["VoiceTaskDefinition"]["Properties"]["Family"]


@pytest.mark.parametrize("count", [1, 2, MAX_SHARDS])
def test_the_functions_get_every_shards_queue_in_shard_order(count):
    deployed = deployment(VoiceImageUri="1.dkr.ecr/voice:1", VoiceShardCount=str(count))
    queues = [deployed.refs[shard_ids(i)["queue"]] for i in range(count)]
    for function in ("InteractionsFunction", "WorkerFunction"):
        value = function_environment(deployed, function, TEMPLATE)["VOICE_QUEUE_URL"]
        assert value == ",".join(queues)  # one shard: the single URL, exactly as before there were shards
        assert Settings.from_env({"VOICE_QUEUE_URL": value}).voice_queue_urls == tuple(queues)
    output = TEMPLATE["Outputs"]["VoiceQueueUrls"]
    assert deployed.resolve(output["Value"]) == ",".join(queues)


@pytest.mark.parametrize("count", [1, MAX_SHARDS])
def test_the_policies_cover_every_shards_queue_and_no_other(count):
    deployed = deployment(VoiceImageUri="1.dkr.ecr/voice:1", VoiceShardCount=str(count))
    voice_arns = {deployed.arns[shard_ids(i)["queue"]] for i in range(count)}
    for function in ("InteractionsFunction", "WorkerFunction"):
        statements = RESOURCES[function]["Properties"]["Policies"][0]["Statement"]
        assert granted(deployed, statements, "sqs:SendMessage") == voice_arns | {deployed.arns["JobsQueue"]}
    worker = RESOURCES["VoiceWorkerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert granted(deployed, worker, action) == voice_arns


def test_without_an_image_uri_no_shard_exists_whatever_the_count():
    deployed = deployment(VoiceImageUri="", VoiceShardCount=str(MAX_SHARDS))
    voice = {lid for lid in created(deployed) if lid.startswith("Voice")}
    assert voice == {"VoiceQueue", "VoiceDeadLetterQueue", "VoiceWorkerPolicy", "VoiceRepository"}
    for function in ("InteractionsFunction", "WorkerFunction"):
        assert function_environment(deployed, function, TEMPLATE)["VOICE_QUEUE_URL"] == ""
    worker = RESOURCES["VoiceWorkerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert granted(deployed, worker, "sqs:ReceiveMessage") == {deployed.arns["VoiceQueue"]}


def test_one_shard_is_the_stack_as_it_was():
    """VoiceShardCount=1 creates exactly the voice resources of the single-shard stack, under the same ids."""
    one = deployment(VoiceImageUri="1.dkr.ecr/voice:1")
    assert one.parameters["VoiceShardCount"] == "1"
    assert {lid for lid in created(one) if lid.startswith("Voice")} == {
        "VoiceQueue", "VoiceDeadLetterQueue", "VoiceWorkerPolicy", "VoiceRepository", "VoiceCluster",
        "VoiceLogGroup", "VoiceTaskRole", "VoiceExecutionRole", "VoiceTaskDefinition", "VoiceService",
        "VoiceSecurityGroup", "VoiceVpc", "VoiceSubnet", "VoiceInternetGateway", "VoiceGatewayAttachment",
        "VoiceRouteTable", "VoiceDefaultRoute", "VoiceSubnetRouteTableAssociation"}
    env = task_environment(one, "VoiceTaskDefinition", TEMPLATE)
    assert (env["VOICE_SHARD_ID"], env["VOICE_SHARD_COUNT"]) == ("0", "1")
    assert "Condition" not in RESOURCES["VoiceQueue"] and "Condition" not in RESOURCES["VoiceDeadLetterQueue"]
    prefix = RESOURCES["VoiceTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["LogConfiguration"]
    assert prefix["Options"]["awslogs-stream-prefix"] == "voice"
