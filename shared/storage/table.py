"""A thin layer over the DynamoDB client for the data table: plain dicts in and out.

Numbers come back as :class:`decimal.Decimal` (as with boto3's type deserializer; the mapping is
:mod:`shared.storage.attribute_values`, so that botocore alone serves). Write failures become
:class:`~shared.errors.NotSaved`; a write whose condition did not hold becomes :class:`ConditionFailed`, so that
callers tell "not there / already there" from a failed service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from shared.errors import NotSaved
from shared.storage.attribute_values import deserialize, serialize

log = logging.getLogger(__name__)

# BatchGetItem takes at most 100 keys a request.
_BATCH_GET_KEYS = 100
_BATCH_GET_ATTEMPTS = 8


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (DynamoDB's ConditionalCheckFailedException)."""


class TransactionCancelled(Exception):
    """A transaction wrote nothing: a condition did not hold, or it conflicted with another write. ``reasons``
    holds DynamoDB's code for each action, in order ("None" for an action that was fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _projection(attributes: Iterable[str]) -> dict[str, Any]:
    """ProjectionExpression with every name as a placeholder (``data``, ``size`` and more are reserved)."""
    names = {f"#p{i}": name for i, name in enumerate(attributes)}
    if not names:
        return {}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


class DataTable:
    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    def encode(self, item: dict[str, Any]) -> dict[str, Any]:
        """Plain values → DynamoDB's typed form; None attributes are left out."""
        return {k: serialize(v) for k, v in item.items() if v is not None}

    def decode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: deserialize(v) for k, v in item.items()}

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write ``item`` unless its key exists. False means it was already there (a replay), not an error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_item(
                TableName=self.name,
                Item=self.encode(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            log.error("put_item failed on %s: %s", self.name, _error_code(exc))
            raise NotSaved(detail=str(exc)) from exc
        except BotoCoreError as exc:
            log.error("put_item failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc
        return True

    def put_action(self, item: dict[str, Any], *, condition: str | None = None) -> dict[str, Any]:
        """A Put for :meth:`transact`."""
        put: dict[str, Any] = {"TableName": self.name, "Item": self.encode(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def update_action(self, pk: str, sk: str, expression: str, *, values: dict[str, Any],
                      condition: str | None = None) -> dict[str, Any]:
        """An Update for :meth:`transact`: ``expression`` and ``condition`` use ``values``' placeholders."""
        update: dict[str, Any] = {"TableName": self.name, "Key": self._key(pk, sk), "UpdateExpression": expression,
                                  "ExpressionAttributeValues": self.encode(values)}
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def delete_action(self, pk: str, sk: str, *, condition: str | None = None) -> dict[str, Any]:
        """A Delete for :meth:`transact`."""
        delete: dict[str, Any] = {"TableName": self.name, "Key": self._key(pk, sk)}
        if condition:
            delete["ConditionExpression"] = condition
        return {"Delete": delete}

    def transact(self, actions: list[dict[str, Any]]) -> None:
        """All of ``actions`` (made by the ``*_action`` methods) or none of them (TransactWriteItems).

        Raises :class:`TransactionCancelled` with each action's reason when a condition did not hold or the
        transaction conflicted, :class:`NotSaved` on any other failure.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            code = _error_code(exc)
            if code == "TransactionCanceledException":
                reasons = [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons") or []]
                raise TransactionCancelled(reasons) from exc
            log.error("transact_write_items failed on %s: %s", self.name, code)
            raise NotSaved(detail=f"transact_write_items: {code}") from exc
        except BotoCoreError as exc:
            log.error("transact_write_items failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc

    def put(self, item: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_item(TableName=self.name, Item=self.encode(item))
        except (ClientError, BotoCoreError) as exc:
            log.error("put_item failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc

    def get(self, pk: str, sk: str, *, attributes: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """The item (only ``attributes``, when given), read consistently; None when there is none."""
        response = self.client.get_item(
            TableName=self.name, Key=self._key(pk, sk), ConsistentRead=True, **_projection(attributes)
        )
        item = response.get("Item")
        return self.decode(item) if item else None

    def get_many(self, pk: str, sks: Iterable[str], *, attributes: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        """The items of one partition that exist among ``sks`` (any order), read consistently.

        BatchGetItem may leave keys unprocessed under load; they are retried with backoff, and
        :class:`NotSaved` (retryable) is raised if some are still left.
        """
        unique = list(dict.fromkeys(sks))
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.name: {
                    "Keys": [self._key(pk, sk) for sk in unique[start : start + _BATCH_GET_KEYS]],
                    "ConsistentRead": True,
                    **_projection(attributes),
                }
            }
            for attempt in range(_BATCH_GET_ATTEMPTS):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.name, []):
                    yield self.decode(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * (2**attempt))
            else:
                raise NotSaved(detail="batch_get_item left keys unprocessed")

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: dict[str, Any] | None = None,  # named for the UpdateExpression clause it fills
        remove: tuple[str, ...] = (),
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
        add: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """UpdateItem: ``SET`` each of ``set``, ``ADD`` each of ``add`` (atomic counters), ``REMOVE`` ``remove``.

        Attribute names are passed as placeholders (``#set0``, ``:set0``, ``#add0``, ``#rm0``...), so reserved
        words are fine; ``condition`` uses the caller's own placeholders from ``values`` (plain values) and
        ``names``. Returns the item's attributes after the update (ALL_NEW). Raises :class:`ConditionFailed`
        when ``condition`` did not hold, :class:`NotSaved` on any other failure.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        all_names: dict[str, str] = dict(names or {})
        all_values: dict[str, Any] = dict(values or {})
        clauses = []
        for clause, prefix, attrs in (("SET", "set", set or {}), ("ADD", "add", add or {})):
            parts = []
            for i, (attr, value) in enumerate(attrs.items()):
                all_names[f"#{prefix}{i}"] = attr
                all_values[f":{prefix}{i}"] = value
                parts.append(f"#{prefix}{i} = :{prefix}{i}" if clause == "SET" else f"#{prefix}{i} :{prefix}{i}")
            if parts:
                clauses.append(f"{clause} {', '.join(parts)}")
        if remove:
            for i, attr in enumerate(remove):
                all_names[f"#rm{i}"] = attr
            clauses.append("REMOVE " + ", ".join(f"#rm{i}" for i in range(len(remove))))
        if not clauses:
            raise ValueError("update needs something to set, add or remove")
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": self._key(pk, sk),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": all_names,
            "ReturnValues": "ALL_NEW",
        }
        if all_values:
            kwargs["ExpressionAttributeValues"] = self.encode(all_values)
        if condition:
            kwargs["ConditionExpression"] = condition
        try:
            response = self.client.update_item(**kwargs)
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailed(condition or "") from exc
            log.error("update_item failed on %s: %s", self.name, _error_code(exc))
            raise NotSaved(detail=str(exc)) from exc
        except BotoCoreError as exc:
            log.error("update_item failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc
        attributes = response.get("Attributes")
        return self.decode(attributes) if attributes else None

    def query_prefix(
        self,
        pk: str,
        sk_prefix: str,
        *,
        newest_first: bool = False,
        limit: int | None = None,
        attributes: tuple[str, ...] = (),
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Items of ``pk`` whose sort key starts with ``sk_prefix``, page by page; at most ``limit`` of them."""
        yield from self._query(
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
                "ScanIndexForward": not newest_first,
                **_projection(attributes),
            },
            limit,
            page_size,
        )

    def query_index(
        self, index: str, pk_attr: str, pk: str, *, newest_first: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every item of a secondary index's partition ``pk_attr = pk`` (e.g. ``gsi1``/``gsi1pk``)."""
        yield from self._query(
            {
                "IndexName": index,
                "KeyConditionExpression": "#ipk = :ipk",
                "ExpressionAttributeNames": {"#ipk": pk_attr},
                "ExpressionAttributeValues": {":ipk": {"S": pk}},
                "ScanIndexForward": not newest_first,
            },
            None,
            None,
        )

    def _query(
        self, request: dict[str, Any], limit: int | None, page_size: int | None
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.name, **request}
        sizes = [n for n in (limit, page_size) if n is not None]
        if sizes:
            kwargs["Limit"] = min(sizes)  # a page holds no more than is wanted
        returned = 0
        while limit is None or returned < limit:
            response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                yield self.decode(item)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
