"""Named datasets of a guild, their examples, and the guild's training settings, in the data table.

Records (keys from :mod:`shared.storage.keys`):

- dataset: ``pk=GUILD#{guild}``, ``sk=DATASET#{name}``; ``example_count``, ``positive_count``,
  ``negative_count``, ``archive_version``, ``created_by``, ``created_at``, ``updated_at``;
- example: ``pk=DATASET#{guild}#{name}``, ``sk=EXAMPLE#{fingerprint}``; ``data`` (the example as JSON),
  ``positive``, ``upload_id``, ``added_at``;
- guild settings: ``pk=GUILD#{guild}``, ``sk=SETTINGS``; ``selected_dataset``, ``default_positive``,
  ``trainer_role_id`` (updated attribute by attribute: other parts keep their own attributes there).

An example is written in a transaction together with the dataset's counters, on the condition that it is not
there yet; so counts stay exact and a duplicate is never stored twice, even when two uploads race.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.errors import InvalidInput, NotFound, NotSaved
from shared.examples import Example
from shared.names import NAME_RULE, InvalidName, validate_dataset_name  # noqa: F401 - re-exported
from shared.settings import Settings
from shared.storage import keys

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "default"
# A transaction holds at most 100 actions and 4 MB: examples plus the counter update (bytes, as UTF-8).
MAX_EXAMPLES_PER_TRANSACTION = 99
TRANSACTION_BYTES = 3 * 1024 * 1024
AUTOCOMPLETE_LIMIT = 25


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    example_count: int = 0
    positive_count: int = 0
    negative_count: int = 0
    archive_version: int = 0
    created_by: str = ""
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class GuildTrainingSettings:
    selected_dataset: str = DEFAULT_DATASET
    default_positive: bool = True
    trainer_role_id: str | None = None


@dataclass
class AddResult:
    added: int = 0
    positive_added: int = 0
    negative_added: int = 0
    duplicates_existing: int = 0
    # Already stored by this same upload (a redelivered job): counted as added, not as duplicates.
    resumed: int = 0


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _n(item: dict[str, Any], name: str) -> int:
    value = item.get(name)
    return int(value["N"]) if value else 0


def _s(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return str(value["S"]) if value else ""


def _dataset_info(item: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        name=_s(item, "name"),
        example_count=_n(item, "example_count"),
        positive_count=_n(item, "positive_count"),
        negative_count=_n(item, "negative_count"),
        archive_version=_n(item, "archive_version"),
        created_by=_s(item, "created_by"),
        created_at=_s(item, "created_at"),
        updated_at=_s(item, "updated_at"),
    )


class DatasetStore:
    def __init__(self, settings: Settings, *, dynamodb_client: Any = None, table: str | None = None) -> None:
        self._settings = settings
        self._client = dynamodb_client
        self.table = table or settings.data_table

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "dynamodb",
                region_name=self._settings.aws_region,
                endpoint_url=self._settings.aws_endpoint_url or None,
            )
        return self._client

    # --- datasets -------------------------------------------------------------------------------------------

    def get_dataset(self, guild_id: str, name: str) -> DatasetInfo | None:
        name = validate_dataset_name(name)
        resp = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.dataset_sk(name)}},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return _dataset_info(item) if item else None

    def require_dataset(self, guild_id: str, name: str) -> DatasetInfo:
        info = self.get_dataset(guild_id, name)
        if info is None:
            raise NotFound(f"There is no dataset called `{validate_dataset_name(name)}` in this server.")
        return info

    def ensure_dataset(self, guild_id: str, name: str, *, created_by: str = "") -> DatasetInfo:
        """Create the dataset record if it does not exist; return it either way."""
        name = validate_dataset_name(name)
        now = now_iso()
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": keys.guild_pk(guild_id)},
                    "sk": {"S": keys.dataset_sk(name)},
                    "name": {"S": name},
                    "example_count": {"N": "0"},
                    "positive_count": {"N": "0"},
                    "negative_count": {"N": "0"},
                    "archive_version": {"N": "0"},
                    "created_by": {"S": created_by},
                    "created_at": {"S": now},
                    "updated_at": {"S": now},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise NotSaved(detail=f"create dataset: {exc}") from exc
        return self.require_dataset(guild_id, name)

    def list_datasets(
        self, guild_id: str, prefix: str = "", limit: int = AUTOCOMPLETE_LIMIT
    ) -> list[DatasetInfo]:
        """Datasets whose names start with ``prefix`` (autocomplete); an impossible prefix matches nothing."""
        prefix = unicodedata.normalize("NFKC", prefix or "").strip().lower()
        if prefix and not re.fullmatch(r"[a-z0-9_-]{1,32}", prefix):
            return []
        found: list[DatasetInfo] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.guild_pk(guild_id)},
                ":sk": {"S": keys.dataset_prefix_sk(prefix)},
            },
            "Limit": limit,
        }
        while len(found) < limit:
            resp = self.client.query(**kwargs)
            found.extend(_dataset_info(item) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return found[:limit]

    def next_archive_version(self, guild_id: str, name: str) -> int:
        """Reserve the next archive version number of a dataset (atomic counter: never handed out twice)."""
        name = validate_dataset_name(name)
        try:
            resp = self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.dataset_sk(name)}},
                UpdateExpression="ADD archive_version :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"There is no dataset called `{name}` in this server.") from exc
            raise NotSaved(detail=f"archive version: {exc}") from exc
        return int(resp["Attributes"]["archive_version"]["N"])

    # --- examples -------------------------------------------------------------------------------------------

    def add_examples(
        self, guild_id: str, name: str, examples: Iterable[Example], *, upload_id: str
    ) -> AddResult:
        """Store examples not yet in the dataset; the caller removes duplicates within one call's batch.

        ``upload_id`` (the interaction id) marks what this upload wrote, so a redelivered job counts its own
        earlier writes as added rather than as duplicates.
        """
        name = validate_dataset_name(name)
        pk = keys.examples_pk(guild_id, name)
        batch = [(ex.fingerprint(), ex) for ex in examples]
        result = AddResult()
        if not batch:
            return result
        existing = self._existing(pk, [fp for fp, _ in batch])
        fresh = []
        for fp, ex in batch:
            owner = existing.get(fp)
            if owner is None:
                fresh.append((fp, ex))
            elif owner == upload_id:
                result.resumed += 1
                result.added += 1
            else:
                result.duplicates_existing += 1
        chunk: list[tuple[str, Example, dict[str, Any]]] = []
        size = 0
        for fp, ex in fresh:
            item = self._example_item(pk, fp, ex, upload_id)
            item_size = len(item["data"]["S"].encode()) + 200
            if chunk and (len(chunk) >= MAX_EXAMPLES_PER_TRANSACTION or size + item_size > TRANSACTION_BYTES):
                self._write_chunk(guild_id, name, chunk, upload_id, result)
                chunk, size = [], 0
            chunk.append((fp, ex, item))
            size += item_size
        if chunk:
            self._write_chunk(guild_id, name, chunk, upload_id, result)
        return result

    @staticmethod
    def _example_item(pk: str, fp: str, ex: Example, upload_id: str) -> dict[str, Any]:
        return {
            "pk": {"S": pk},
            "sk": {"S": keys.example_sk(fp)},
            "data": {"S": json.dumps(ex.to_dict(), ensure_ascii=False, separators=(",", ":"))},
            "positive": {"BOOL": ex.positive},
            "upload_id": {"S": upload_id},
            "added_at": {"S": ex.added_at or now_iso()},
        }

    def _existing(self, pk: str, fingerprints: list[str]) -> dict[str, str]:
        """fingerprint → upload_id of the examples already stored."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(fingerprints))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": {"S": pk}, "sk": {"S": keys.example_sk(fp)}}
                        for fp in unique[start : start + 100]
                    ],
                    "ProjectionExpression": "sk, upload_id",
                    "ConsistentRead": True,
                }
            }
            for _attempt in range(8):
                resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    found[item["sk"]["S"].removeprefix("EXAMPLE#")] = _s(item, "upload_id")
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * (2**_attempt))
            else:
                raise NotSaved(detail="batch_get_item left keys unprocessed")
        return found

    def _write_chunk(
        self,
        guild_id: str,
        name: str,
        chunk: list[tuple[str, Example, dict[str, Any]]],
        upload_id: str,
        result: AddResult,
    ) -> None:
        pending = chunk
        for attempt in range(6):
            positive = sum(1 for _, ex, _ in pending if ex.positive)
            negative = len(pending) - positive
            actions: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for _, _, item in pending
            ]
            actions.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.dataset_sk(name)}},
                        "UpdateExpression": "ADD example_count :n, positive_count :p, negative_count :q "
                        "SET updated_at = :now",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {
                            ":n": {"N": str(len(pending))},
                            ":p": {"N": str(positive)},
                            ":q": {"N": str(negative)},
                            ":now": {"S": now_iso()},
                        },
                    }
                }
            )
            try:
                self.client.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code != "TransactionCanceledException":
                    raise NotSaved(detail=f"transact_write_items: {code}") from exc
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) == len(actions) and reasons[-1].get("Code") == "ConditionalCheckFailed":
                    raise NotFound(f"There is no dataset called `{name}` in this server.") from exc
                failed = {
                    i
                    for i, r in enumerate(reasons[: len(pending)])
                    if r.get("Code") == "ConditionalCheckFailed"
                }
                if failed:
                    # Written meanwhile by another upload (or by this one, on a redelivery): not added twice.
                    owners = self._existing(keys.examples_pk(guild_id, name), [pending[i][0] for i in failed])
                    for i in failed:
                        if owners.get(pending[i][0]) == upload_id:
                            result.resumed += 1
                            result.added += 1
                            result.positive_added += int(pending[i][1].positive)
                            result.negative_added += int(not pending[i][1].positive)
                        else:
                            result.duplicates_existing += 1
                    pending = [p for i, p in enumerate(pending) if i not in failed]
                    if not pending:
                        return
                else:
                    time.sleep(0.05 * (2**attempt))  # a transaction conflict: back off and retry
                continue
            result.added += len(pending)
            result.positive_added += positive
            result.negative_added += negative
            return
        raise NotSaved(detail="transact_write_items kept conflicting")

    def count(self, guild_id: str, name: str) -> DatasetInfo:
        return self.require_dataset(guild_id, name)

    def iter_examples(self, guild_id: str, name: str, *, page_size: int = 500) -> Iterator[Example]:
        """Every example of the dataset, one page of ``page_size`` at a time."""
        name = validate_dataset_name(name)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.examples_pk(guild_id, name)},
                ":sk": {"S": "EXAMPLE#"},
            },
            "ProjectionExpression": "#d",
            "ExpressionAttributeNames": {"#d": "data"},
            "Limit": page_size,
        }
        while True:
            resp = self.client.query(**kwargs)
            for item in resp.get("Items", []):
                yield Example.from_dict(json.loads(item["data"]["S"]))
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # --- guild settings -------------------------------------------------------------------------------------

    def guild_settings(self, guild_id: str) -> GuildTrainingSettings:
        resp = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.settings_sk()}},
            ProjectionExpression="selected_dataset, default_positive, trainer_role_id",
        )
        item = resp.get("Item") or {}
        return GuildTrainingSettings(
            selected_dataset=_s(item, "selected_dataset") or DEFAULT_DATASET,
            default_positive=item["default_positive"]["BOOL"] if "default_positive" in item else True,
            trainer_role_id=_s(item, "trainer_role_id") or None,
        )

    def select_dataset(
        self, guild_id: str, name: str, *, positive: bool | None = None, created_by: str = ""
    ) -> GuildTrainingSettings:
        """Make ``name`` the dataset /train and training use (created if new); optionally set ``positive``."""
        info = self.ensure_dataset(guild_id, name, created_by=created_by)
        names = {"#s": "selected_dataset"}
        values: dict[str, Any] = {":s": {"S": info.name}}
        expression = "SET #s = :s"
        if positive is not None:
            names["#p"] = "default_positive"
            values[":p"] = {"BOOL": positive}
            expression += ", #p = :p"
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.settings_sk()}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        return self.guild_settings(guild_id)

    def set_trainer_role(self, guild_id: str, role_id: str | None) -> None:
        key = {"pk": {"S": keys.guild_pk(guild_id)}, "sk": {"S": keys.settings_sk()}}
        if role_id is None:
            self.client.update_item(TableName=self.table, Key=key, UpdateExpression="REMOVE trainer_role_id")
            return
        if not str(role_id).isdigit():
            raise InvalidInput("That is not a role id.")
        self.client.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="SET trainer_role_id = :r",
            ExpressionAttributeValues={":r": {"S": str(role_id)}},
        )
