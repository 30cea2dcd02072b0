"""Read ``template.yaml`` and create its storage and queues on an AWS endpoint (moto, locally and in tests).

The local stack and the tests derive their resources from the template, so there is no second hand-kept list:
a table, bucket or queue added to the template exists locally on the next start.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) as their long forms."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass with tag constructors


@dataclass
class Provisioned:
    """What a local deployment resolved: ``refs[logical_id]`` (Ref value) and ``arns[logical_id]``."""

    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    # The template's Conditions, evaluated with ``parameters`` (empty: every Fn::If is unknown locally).
    conditions: dict[str, bool] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and "Fn::If" in value:
            name, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.conditions[name] else when_false)
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            if name in self.parameters:
                return self.parameters[name]
            return self.refs[name]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn":
                return self.arns[logical_id]
            if attribute == "QueueUrl":
                return self.refs[logical_id]
            raise KeyError(f"GetAtt {logical_id}.{attribute} is not known locally")
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, items = value["Fn::Join"]
            return separator.join(str(self.resolve(item)) for item in items)
        if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            # ${Name} is a Ref, ${Name.Attribute} a GetAtt (the voice shards' queue list is built this way).
            return _SUB_VARIABLE.sub(lambda m: str(self.resolve(_sub_reference(m.group(1)))), value["Fn::Sub"])
        return value

    def resolve_list(self, items: Any) -> list[Any]:
        """A list as CloudFormation reads it: each Fn::If picked, an item that comes to AWS::NoValue dropped, the
        others resolved (a single value is a list of one)."""
        resolved = []
        for item in items if isinstance(items, list) else [items]:
            while isinstance(item, dict) and "Fn::If" in item:
                name, when_true, when_false = item["Fn::If"]
                item = when_true if self.conditions[name] else when_false
            if item != {"Ref": "AWS::NoValue"}:
                resolved.append(self.resolve(item))
        return resolved


_SUB_VARIABLE = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


def _sub_reference(name: str) -> dict[str, Any]:
    if "." in name:
        return {"Fn::GetAtt": name.split(".", 1)}
    return {"Ref": name}


def _queue_attributes(props: dict[str, Any], provisioned: Provisioned) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
        if name in props:
            attributes[name] = str(props[name])
    if props.get("FifoQueue"):
        attributes["FifoQueue"] = "true"
        attributes["ContentBasedDeduplication"] = str(bool(props.get("ContentBasedDeduplication"))).lower()
    redrive = props.get("RedrivePolicy")
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": provisioned.resolve(redrive["deadLetterTargetArn"]),
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    return attributes


def _create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> str:
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    arn = dynamodb.create_table(**kwargs)["TableDescription"]["TableArn"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return str(arn)


def provision(
    clients: Any,
    *,
    prefix: str = "local",
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> Provisioned:
    """Create every DynamoDB table, S3 bucket and SQS queue of the template. ``clients`` has .dynamodb/.s3/.sqs."""
    template = template or load_template()
    values = _parameter_values(template, parameters or {})
    provisioned = Provisioned(parameters=values, conditions=evaluate_conditions(template, values))
    resources: dict[str, Any] = template["Resources"]
    # Queues others point at (dead-letter queues) first.
    order = sorted(resources, key=lambda lid: "RedrivePolicy" in (resources[lid].get("Properties") or {}))
    for logical_id in order:
        resource = resources[logical_id]
        props = resource.get("Properties") or {}
        kind = resource["Type"]
        if "Condition" in resource and not provisioned.conditions[resource["Condition"]]:
            continue
        name = f"{prefix}-{logical_id}".lower()
        if kind == "AWS::DynamoDB::Table":
            provisioned.arns[logical_id] = _create_table(clients.dynamodb, name, props)
            provisioned.refs[logical_id] = name
        elif kind == "AWS::S3::Bucket":
            clients.s3.create_bucket(Bucket=name)
            provisioned.refs[logical_id] = name
            provisioned.arns[logical_id] = f"arn:aws:s3:::{name}"
        elif kind == "AWS::SQS::Queue":
            queue_name = name + ".fifo" if props.get("FifoQueue") else name
            url = clients.sqs.create_queue(QueueName=queue_name, Attributes=_queue_attributes(props, provisioned))[
                "QueueUrl"
            ]
            provisioned.refs[logical_id] = url
            provisioned.arns[logical_id] = clients.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
    return provisioned


def evaluate_conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    """The template's Conditions for these parameter values (the intrinsic functions conditions may use)."""
    definitions: dict[str, Any] = template.get("Conditions") or {}
    done: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters[node["Ref"]]
        if isinstance(node, dict) and "Fn::Join" in node:
            separator, items = node["Fn::Join"]
            items = value(items)
            return separator.join(items.split(",") if isinstance(items, str) else [value(i) for i in items])
        return node

    def truth(node: Any) -> bool:
        if isinstance(node, dict) and ("Condition" in node or "Fn::Condition" in node):
            return condition(node.get("Condition") or node["Fn::Condition"])
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = node["Fn::Equals"]
            return str(value(left)) == str(value(right))
        if isinstance(node, dict) and "Fn::Not" in node:
            return not truth(node["Fn::Not"][0])
        if isinstance(node, dict) and "Fn::And" in node:
            return all(truth(item) for item in node["Fn::And"])
        if isinstance(node, dict) and "Fn::Or" in node:
            return any(truth(item) for item in node["Fn::Or"])
        raise ValueError(f"condition not understood locally: {node!r}")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = truth(definitions[name])
        return done[name]

    return {name: condition(name) for name in definitions}


def _parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    values.update(given)
    return values


def function_environment(provisioned: Provisioned, logical_id: str, template: dict[str, Any] | None = None) -> dict:
    """The environment variables the template gives a function (Globals merged with its own), resolved."""
    template = template or load_template()
    merged: dict[str, Any] = {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    merged.update(globals_env)
    own = template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    merged.update(own)
    environment: dict[str, str] = {}
    for name, value in merged.items():
        try:
            environment[name] = str(provisioned.resolve(value))
        except KeyError:
            continue  # a resource that only exists in the cloud (none today)
    return environment


def task_environment(provisioned: Provisioned, logical_id: str, template: dict[str, Any] | None = None) -> dict:
    """The environment variables the template gives the (one) container of an ECS task definition, resolved."""
    template = template or load_template()
    [container] = template["Resources"][logical_id]["Properties"]["ContainerDefinitions"]
    environment: dict[str, str] = {}
    for item in container.get("Environment", []):
        # A variable present only under a condition is an Fn::If whose other branch is AWS::NoValue.
        while isinstance(item, dict) and "Fn::If" in item:
            name, when_true, when_false = item["Fn::If"]
            item = when_true if provisioned.conditions[name] else when_false
        if item != {"Ref": "AWS::NoValue"}:
            environment[item["Name"]] = str(provisioned.resolve(item["Value"]))
    return environment


def function_timeout(logical_id: str, template: dict[str, Any] | None = None) -> int:
    """A function's timeout in seconds (its own, else the Globals')."""
    template = template or load_template()
    own = template["Resources"][logical_id]["Properties"].get("Timeout")
    return int(own if own is not None else template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
