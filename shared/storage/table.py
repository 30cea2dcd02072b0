"""A thin layer over the DynamoDB client for the data table: plain dicts in and out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from shared.errors import NotSaved

log = logging.getLogger(__name__)


def _codecs() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


class DataTable:
    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self._client = client
        self._serializer, self._deserializer = _codecs()

    def _encode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items() if v is not None}

    def _decode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._deserializer.deserialize(v) for k, v in item.items()}

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write ``item`` unless its key exists. False means it was already there (a replay), not an error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_item(
                TableName=self.name,
                Item=self._encode(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            log.error("put_item failed on %s: %s", self.name, exc.response.get("Error", {}).get("Code"))
            raise NotSaved(detail=str(exc)) from exc
        except BotoCoreError as exc:
            log.error("put_item failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc
        return True

    def put(self, item: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_item(TableName=self.name, Item=self._encode(item))
        except (ClientError, BotoCoreError) as exc:
            log.error("put_item failed on %s: %s", self.name, type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._decode(item) if item else None

    def query_prefix(self, pk: str, sk_prefix: str, *, newest_first: bool = False) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            ScanIndexForward=not newest_first,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield self._decode(item)
