"""The local stack's undo-log TransactWriteItems (infra.moto_transactions) against moto's own.

Every scenario runs twice on a fresh moto, once with upstream's method and once with the patch, through the real
boto3 client; the outcome (error code, cancellation reasons) and the whole table afterwards must be the same.
The digest test fails when moto's method changes: then check the patch against the new upstream code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra import moto_transactions

TABLE = "data"


@pytest.fixture(autouse=True)
def _upstream_after() -> Iterator[None]:
    moto_transactions.remove()
    yield
    moto_transactions.remove()


def _client() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(3):
        client.put_item(TableName=TABLE, Item={"pk": {"S": "P"}, "sk": {"S": f"old{i}"}, "n": {"N": str(i)},
                                               "g": {"S": "G"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "C"}, "sk": {"S": "COUNT"}, "n": {"N": "3"}})
    return client


def _put(sk: str, *, condition: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Item": {"pk": {"S": "P"}, "sk": {"S": sk}, "g": {"S": "G"}}}
    if condition:
        op["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": op}


def _count(n: int, *, must_exist: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Key": {"pk": {"S": "C"}, "sk": {"S": "COUNT"}},
                          "UpdateExpression": "ADD n :n SET touched = :t",
                          "ExpressionAttributeValues": {":n": {"N": str(n)}, ":t": {"BOOL": True}}}
    if must_exist:
        op["ConditionExpression"] = "attribute_exists(pk)"
    return {"Update": op}


SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "all written": [_put("a"), _put("b"), _count(2)],
    "a duplicate cancels the rest": [_put("a"), _put("old1"), _put("b"), _count(3)],
    "the counter's condition cancels": [
        _put("a"), {"Update": {**_count(1)["Update"], "Key": {"pk": {"S": "C"}, "sk": {"S": "NONE"}}}}],
    "an update in place is undone": [_count(5), _put("old0")],
    "an update creating an item is undone": [
        {"Update": {**_count(1, must_exist=False)["Update"], "Key": {"pk": {"S": "C"}, "sk": {"S": "NEW"}}}},
        _put("old2")],
    "a delete is undone": [
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "P"}, "sk": {"S": "old0"}}}}, _put("old1")],
    "a condition check": [
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "P"}, "sk": {"S": "old0"}},
                            "ConditionExpression": "n = :z", "ExpressionAttributeValues": {":z": {"N": "7"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        _put("a")],
    "two actions on one item": [_put("a"), _put("b"), _put("a", condition=False)],
    "an unconditional overwrite": [_put("old0", condition=False), _count(1)],
}


def _run(client: Any, actions: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        client.transact_write_items(TransactItems=actions)
        outcome: dict[str, Any] = {"error": None}
    except ClientError as exc:
        outcome = {"error": exc.response["Error"]["Code"],
                   "reasons": exc.response.get("CancellationReasons")}
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    outcome["items"] = sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    outcome["index"] = sorted(i["sk"]["S"] for i in client.query(
        TableName=TABLE, IndexName="gsi", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "G"}})["Items"])
    arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    outcome["stream"] = [(r["eventName"], r["dynamodb"]["Keys"]["sk"]["S"]) for r in records]
    return outcome


def _outcome(actions: list[dict[str, Any]], setup: Callable[[], Any]) -> dict[str, Any]:
    with mock_aws():
        setup()
        return _run(_client(), actions)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_patched_transaction_behaves_as_upstream(name: str) -> None:
    actions = SCENARIOS[name]
    upstream = _outcome(actions, moto_transactions.remove)
    patched = _outcome(actions, lambda: moto_transactions.apply() or pytest.fail("patch not applied"))
    assert patched == upstream
    assert moto_transactions.apply()  # it was applied for the second run


def test_scenarios_cover_both_outcomes() -> None:
    outcomes = {name: _outcome(actions, moto_transactions.remove)["error"] for name, actions in SCENARIOS.items()}
    assert outcomes["all written"] is None
    assert outcomes["a duplicate cancels the rest"] == "TransactionCanceledException"
    assert outcomes["two actions on one item"] == "ValidationException"


def test_a_cancelled_transaction_leaves_no_trace_with_the_patch() -> None:
    """Spelled out for the case the datasets store relies on: 99 new examples + a counter, one already stored."""
    with mock_aws():
        assert moto_transactions.apply()
        client = _client()
        actions = [_put(f"new{i}") for i in range(98)] + [_put("old2"), _count(99)]
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=actions)
        reasons = caught.value.response["CancellationReasons"]
        assert [r["Code"] for r in reasons].count("ConditionalCheckFailed") == 1
        assert reasons[98]["Code"] == "ConditionalCheckFailed"
        assert client.scan(TableName=TABLE, Select="COUNT")["Count"] == 4
        count = client.get_item(TableName=TABLE, Key={"pk": {"S": "C"}, "sk": {"S": "COUNT"}})["Item"]
        assert count == {"pk": {"S": "C"}, "sk": {"S": "COUNT"}, "n": {"N": "3"}}


def test_upstream_code_is_the_version_the_patch_was_written_for() -> None:
    """Fails when moto's transact_write_items changes: compare the new code with the patch, then re-pin."""
    assert moto_transactions.upstream_digest() == moto_transactions.UPSTREAM_SOURCE_SHA256


def test_a_changed_upstream_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    monkeypatch.setattr(moto_transactions, "UPSTREAM_SOURCE_SHA256", "0" * 64)
    original = DynamoDBBackend.transact_write_items
    assert moto_transactions.apply() is False
    assert DynamoDBBackend.transact_write_items is original


def _concurrent_run(rounds: int) -> tuple[set[int], list[str]]:
    """Transactions of 99 puts on one thread, GSI queries on another: what the reader saw, and its errors."""
    import threading

    seen: set[int] = set()
    errors: list[str] = []
    with mock_aws():
        client = _client()
        reader = boto3.client("dynamodb", region_name="us-east-1")
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                try:
                    items = reader.query(TableName=TABLE, IndexName="gsi", KeyConditionExpression="g = :g",
                                         ExpressionAttributeValues={":g": {"S": "G"}}, Select="COUNT")
                    seen.add(int(items["Count"]) - 3)
                except Exception as exc:
                    errors.append(type(exc).__name__)

        thread = threading.Thread(target=read)
        thread.start()
        try:
            for r in range(rounds):
                client.transact_write_items(TransactItems=[_put(f"r{r}-{i}") for i in range(99)])
        finally:
            done.set()
            thread.join()
    return seen, errors


def test_index_queries_during_transactions_do_not_fail() -> None:
    """Upstream, a GSI query walking the table while a transaction writes into it fails (500)."""
    assert moto_transactions.apply()
    seen, errors = _concurrent_run(rounds=15)
    assert not errors
    assert len(seen) > 1  # the reader ran while the writes went on


def test_a_walk_goes_over_a_snapshot_while_writes_go_on() -> None:
    """The wrapped walks see a copy of the partitions: a write during the walk cannot break it."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    with mock_aws():
        _client()
        table = dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]
        live = table.items

        def walk_during_writes(self: Any) -> list[Any]:
            for _ in self.items:
                live[DynamoType({"S": f"new{len(live)}"})] = {}  # another request's write, mid-walk
            return []

        assert moto_transactions._over_snapshot(walk_during_writes)(table) == []
        with pytest.raises(RuntimeError, match="changed size during iteration"):
            walk_during_writes(table)


# --- table queries: one partition, the same answers ---------------------------------------------------------

QUERIES: dict[str, dict[str, Any]] = {
    "a partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P"}}},
    "a page": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P"}}, "Limit": 4},
    "backwards": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P"}},
                  "ScanIndexForward": False, "Limit": 5},
    "a prefix": {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                 "ExpressionAttributeValues": {":p": {"S": "P"}, ":s": {"S": "e1"}}},
    "a range": {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": {":p": {"S": "P"}, ":a": {"S": "e03"}, ":b": {"S": "e12"}}},
    "filtered and projected": {"KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n",
                               "ProjectionExpression": "sk, n",
                               "ExpressionAttributeValues": {":p": {"S": "P"}, ":n": {"N": "10"}}},
    "counted": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P"}},
                "Select": "COUNT"},
    "an empty partition": {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
    "an index": {"IndexName": "gsi", "KeyConditionExpression": "g = :g",
                 "ExpressionAttributeValues": {":g": {"S": "G"}}},
}


def _all_pages(setup: Callable[[], Any], query: dict[str, Any]) -> list[dict[str, Any]]:
    with mock_aws():
        setup()
        client = _client()
        for i in (7, 15, 2, 11, 0, 19, 4, 13, 9, 1, 17, 6, 12, 3, 18, 8, 14, 5, 16, 10):  # stored out of order
            client.put_item(TableName=TABLE, Item={"pk": {"S": "P"}, "sk": {"S": f"e{i:02d}"}, "n": {"N": str(i)},
                                                   "g": {"S": "G"}})
            client.put_item(TableName=TABLE, Item={"pk": {"S": "Q"}, "sk": {"S": f"e{i:02d}"}, "n": {"N": str(i)}})
        pages, start = [], None
        while True:
            page = client.query(TableName=TABLE, **query, **({"ExclusiveStartKey": start} if start else {}))
            page.pop("ResponseMetadata")
            pages.append(page)
            start = page.get("LastEvaluatedKey")
            if not start:
                return pages


@pytest.mark.parametrize("name", list(QUERIES))
def test_patched_query_answers_as_upstream(name: str) -> None:
    upstream = _all_pages(moto_transactions.remove, QUERIES[name])
    patched = _all_pages(lambda: moto_transactions.apply() or pytest.fail("patch not applied"), QUERIES[name])
    assert patched == upstream
    # Each query but the empty partition's finds something, so the comparison is not of two empty answers.
    assert any(page["Count"] for page in upstream) == (name != "an empty partition")


def test_a_table_query_reads_only_its_partition() -> None:
    """Upstream sorts every item of the table for each query; the patch never walks the table."""
    from moto.dynamodb.models.table import Table

    with mock_aws():
        assert moto_transactions.apply()
        client = _client()
        walks: list[int] = []
        walk = Table.all_items

        def counting_walk(self: Any) -> Any:
            walks.append(1)
            return walk(self)

        Table.all_items = counting_walk  # type: ignore[method-assign]
        try:
            items = client.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                                 ExpressionAttributeValues={":p": {"S": "P"}})["Items"]
        finally:
            Table.all_items = walk  # type: ignore[method-assign]
        assert [i["sk"]["S"] for i in items] == ["old0", "old1", "old2"]
        assert walks == []
