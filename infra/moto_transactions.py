"""Transactions the embedded AWS can afford: moto's ``TransactWriteItems`` with an undo log, for ``make run`` only.

moto 5.2.5 makes a transaction all-or-nothing by deep-copying every table it touches once *per action* before
running it (``DynamoDBBackend.transact_write_items``), so a 100-action transaction on a table of N items costs
100 copies of N items: adding examples to a dataset gets slower and larger with everything already stored
(about 2 s and 3.8 GB per transaction at 3,000 items). DynamoDB itself does no such thing, and production keeps
its transactions exactly as they are.

This module replaces that one method, in the local stack's process only, by one with the same semantics that
remembers only what it touches: before each action, a copy of the one item it may change (or "absent"); on any
failure, those items are put back in reverse order, and the tables' stream records written meanwhile are dropped,
as the table copies did. Cost per transaction: its own items, whatever the table holds.

moto's server also answers requests on many threads with no lock, and a query on a secondary index (or a scan)
walks the whole table: while a transaction writes into it, Python fails that walk with "dictionary changed size
during iteration" and the request with a 500. Here such walks go over a snapshot of the table's partitions (a copy
of references, a few milliseconds at 100,000 items) taken at once under the GIL; writes go on meanwhile. A global
lock would do the same and also isolate reads from a transaction in progress, but every secondary-index query on
moto sorts the whole table, so it would stall writes for seconds at a time.

A query on the table itself (no index) walks and sorts the whole table too, to keep the one partition it asked
for: each page of a dataset's examples cost a sort of every item stored (0.3 s at 6,000 items, so renaming a
dataset of 3,000 took 46 s, nearly all in those sorts). Here it runs upstream's query over a shallow copy of the
table that holds only that partition, its items listed in upstream's order: the same code, the same results and
pages, a cost that follows the partition's size. DynamoDB's own Query reads one partition.

The replacements are applied only over the exact upstream code it was written against (a digest of its source);
when moto changes that method, :func:`apply` leaves moto alone and logs why, and the test that pins the digest
fails, so someone looks at whether the patch is still right or still needed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import logging
from types import SimpleNamespace
from typing import Any

log = logging.getLogger(__name__)

# sha256 of the source of DynamoDBBackend.transact_write_items, Table.all_items, Table.has_idx_items and
# Table.query in moto 5.2.5.
UPSTREAM_SOURCE_SHA256 = "c0c250a468516808a08c4b6a9e4990890a30a04be09dd7a5d05674212eeff5ec"

_ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")
# Table methods that walk every item, run over a snapshot (see the module's docstring).
_WALKS = ("all_items", "has_idx_items")
# Table methods replaced by a wrapper around upstream's.
_WRAPPED = (*_WALKS, "query")


def upstream_digest() -> str:
    """sha256 over the source of every upstream method this module replaces or wraps."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    methods = [getattr(DynamoDBBackend, "_upstream_transact_write_items", DynamoDBBackend.transact_write_items)]
    methods += [getattr(Table, f"_upstream_{name}", getattr(Table, name)) for name in _WRAPPED]
    return hashlib.sha256("".join(inspect.getsource(m) for m in methods).encode()).hexdigest()


def apply() -> bool:
    """Install the undo-log transaction on moto's DynamoDB backend; False (and moto untouched) if moto changed."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_upstream_transact_write_items", None) is not None:
        return True
    digest = upstream_digest()
    if digest != UPSTREAM_SOURCE_SHA256:
        log.warning(
            "moto's DynamoDB code is not the version this stack patches (source sha256 %s): "
            "left as it is, so large datasets will be slow locally", digest[:12]
        )
        return False
    from moto.dynamodb.models.table import Table

    DynamoDBBackend._upstream_transact_write_items = DynamoDBBackend.transact_write_items  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    for name in _WRAPPED:
        setattr(Table, f"_upstream_{name}", getattr(Table, name))
    for name in _WALKS:
        setattr(Table, name, _over_snapshot(getattr(Table, name)))
    Table.query = _within_partition(Table.query)  # type: ignore[method-assign]
    return True


def _over_snapshot(walk: Any) -> Any:
    """Run upstream's ``walk`` on a stand-in whose ``items`` are a snapshot of the table's partitions."""

    @functools.wraps(walk)
    def walk_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        # list() and dict() of a dict run in C without letting another thread in: each copy is consistent.
        partitions = list(self.items.items())
        if self.range_key_attr:
            partitions = [(key, dict(partition)) for key, partition in partitions]
        stand_in = SimpleNamespace(items=dict(partitions), range_key_attr=self.range_key_attr,
                                   get_index=self.get_index)
        return walk(stand_in, *args, **kwargs)

    return walk_snapshot


def _within_partition(query: Any) -> Any:
    """Run upstream's table ``query`` over a shallow copy of the table holding only the queried partition."""

    signature = inspect.signature(query)

    @functools.wraps(query)
    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's backend passes index_name by position.
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        partition = self.items.get(hash_key)  # .get: items is a defaultdict, and a read must not add to it
        if partition is None:
            items = []
        elif self.range_key_attr:
            # Already in upstream's order (DynamoType compares by cast_value), each key computed once: its two
            # sorts then find the list sorted in n steps instead of n log n slow comparisons.
            items = sorted(dict(partition).values(), key=lambda item: item.range_key.cast_value)
        else:
            items = [partition]
        stand_in = copy.copy(self)
        stand_in.items = {} if partition is None else {hash_key: partition}
        stand_in.all_items = lambda: list(items)
        return query(stand_in, hash_key, *args, **kwargs)

    return query_partition


def remove() -> None:
    """Put moto's own method back (tests)."""
    from moto.dynamodb.models import DynamoDBBackend

    upstream = getattr(DynamoDBBackend, "_upstream_transact_write_items", None)
    if upstream is not None:
        from moto.dynamodb.models.table import Table

        DynamoDBBackend.transact_write_items = upstream  # type: ignore[method-assign]
        del DynamoDBBackend._upstream_transact_write_items  # type: ignore[attr-defined]
        for name in _WRAPPED:
            setattr(Table, name, getattr(Table, f"_upstream_{name}"))
            delattr(Table, f"_upstream_{name}")


class _UndoLog:
    """The items a transaction touched, as they were before it, and each table's stream length."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.items: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item before or None)
        self.streams: dict[str, tuple[Any, int]] = {}

    def remember(self, table: Any, hash_value: Any, range_value: Any) -> None:
        if table.name not in self.streams:
            shard = table.stream_shard
            self.streams[table.name] = (shard, len(shard.items) if shard is not None else 0)
        before = table.get_item(hash_value, range_value)
        # UpdateItem changes the stored Item in place: keep a copy of this one item, never of the table.
        self.items.append((table, hash_value, range_value, copy.deepcopy(before)))

    def roll_back(self) -> None:
        for table, hash_value, range_value, before in reversed(self.items):
            if range_value is not None:
                partition = table.items[hash_value]
                if before is None:
                    partition.pop(range_value, None)
                else:
                    partition[range_value] = before
                if not partition:
                    table.items.pop(hash_value, None)
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        for shard, length in self.streams.values():
            if shard is not None:
                del shard.items[length:]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """``DynamoDBBackend.transact_write_items`` with the same checks, results and errors, and an undo log."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _UndoLog(self)
    targets: set[tuple[str, str]] = set()
    outcomes: list[tuple[Any, Any, Any]] = []  # (code, message, item) per action; (None, None, None) = fine
    for action in transact_items:
        if len(action) > 1:
            undo.roll_back()
            raise TransactWriteSingleOpException
        before_json = None
        try:
            op_type, op = next(iter(action.items()))
            if op_type not in _ACTIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)

            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            current = self.get_item(table_name, key)
            if condition is not None:
                if not get_filter_expression(condition, names, values).expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        before_json = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=before_json)

            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                undo.remember(table, *self.get_keys_value(table, key))
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition, expression_attribute_names=names,
                                 expression_attribute_values=values)
            outcomes.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.roll_back()
            raise
        except ConditionalCheckFailed as exc:
            outcomes.append(("ConditionalCheckFailed", str(exc.message), before_json))
        except Exception as exc:  # any other failure cancels the transaction with its name as the reason
            outcomes.append((type(exc).__name__, str(exc), before_json))
    if any(code is not None for code, _, _ in outcomes):
        undo.roll_back()
        raise TransactionCanceledException(outcomes)
