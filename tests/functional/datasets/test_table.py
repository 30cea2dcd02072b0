"""DataTable's update, index query, batch read and bounded prefix query, against moto."""

from __future__ import annotations

import pytest

from shared.storage.table import ConditionFailed, DataTable, TransactionCancelled


@pytest.fixture
def table(storage) -> DataTable:
    return DataTable(storage.table, storage.dynamodb)


def test_update_sets_adds_removes_and_returns_the_new_item(table):
    table.put({"pk": "P", "sk": "S", "size": 1, "gone": "x"})
    item = table.update("P", "S", set={"status": "done", "size": 5}, remove=("gone",), add={"count": 2})
    assert item == {"pk": "P", "sk": "S", "status": "done", "size": 5, "count": 2}
    assert table.update("P", "S", set={}, add={"count": 1})["count"] == 3


def test_update_condition_failure_is_distinct(table):
    with pytest.raises(ConditionFailed):
        table.update("P", "missing", set={"a": 1}, condition="attribute_exists(pk)")
    assert table.get("P", "missing") is None
    table.put({"pk": "P", "sk": "S", "status": "running"})
    with pytest.raises(ConditionFailed):
        table.update(
            "P", "S", set={"status": "done"}, condition="#st = :want", names={"#st": "status"},
            values={":want": "queued"},
        )
    updated = table.update(
        "P", "S", set={"status": "done"}, condition="#st = :want", names={"#st": "status"},
        values={":want": "running"},
    )
    assert updated is not None and updated["status"] == "done"


def test_update_needs_a_change(table):
    with pytest.raises(ValueError):
        table.update("P", "S", set={})


def test_query_index_reads_one_gsi_partition_in_order(table):
    for i, sk in enumerate(("b", "a", "c")):
        table.put({"pk": f"P{i}", "sk": "S", "gsi1pk": "JOB#x", "gsi1sk": sk})
    table.put({"pk": "P9", "sk": "S", "gsi1pk": "JOB#y", "gsi1sk": "a"})
    assert [i["gsi1sk"] for i in table.query_index("gsi1", "gsi1pk", "JOB#x")] == ["a", "b", "c"]
    newest = table.query_index("gsi1", "gsi1pk", "JOB#x", newest_first=True)
    assert [i["pk"] for i in newest] == ["P2", "P0", "P1"]


def test_query_prefix_limit_projection_and_get_many(table):
    for i in range(7):
        table.put({"pk": "P", "sk": f"X#{i}", "data": str(i), "other": "o"})
    got = list(table.query_prefix("P", "X#", limit=5, attributes=("sk", "data"), page_size=2))
    assert got == [{"sk": f"X#{i}", "data": str(i)} for i in range(5)]
    # More keys than one BatchGetItem takes, with repeats: each stored item once.
    found = table.get_many("P", [f"X#{i}" for i in range(250)] + ["X#3"], attributes=("sk",))
    assert sorted(i["sk"] for i in found) == [f"X#{i}" for i in range(7)]


def test_a_transaction_writes_all_or_nothing_and_says_which_action_failed(table):
    table.put({"pk": "P", "sk": "taken", "n": 1})
    table.put({"pk": "P", "sk": "counter", "n": 5})
    with pytest.raises(TransactionCancelled) as cancelled:
        table.transact([
            table.put_action({"pk": "P", "sk": "new"}, condition="attribute_not_exists(pk)"),
            table.put_action({"pk": "P", "sk": "taken", "n": 2}, condition="attribute_not_exists(pk)"),
            table.update_action("P", "counter", "ADD n :one", values={":one": 1}),
        ])
    assert cancelled.value.reasons == ["None", "ConditionalCheckFailed", "None"]
    assert table.get("P", "new") is None and table.get("P", "taken")["n"] == 1 and table.get("P", "counter")["n"] == 5

    table.transact([table.delete_action("P", "taken", condition="attribute_exists(pk)"),
                    table.update_action("P", "counter", "ADD n :one", values={":one": -1},
                                        condition="attribute_exists(pk)")])
    assert table.get("P", "taken") is None and table.get("P", "counter")["n"] == 4
