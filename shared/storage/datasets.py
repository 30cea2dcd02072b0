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

import itertools
import json
import logging
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.domain.examples import Example
from shared.domain.names import NAME_RULE, InvalidName, is_name_prefix, validate_dataset_name  # noqa: F401 - re-exported
from shared.domain.time import utc_now
from shared.errors import InvalidInput, NotFound, NotSaved
from shared.storage import keys
from shared.storage.table import ConditionFailed, DataTable, TransactionCancelled

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "default"
# A transaction holds at most 100 actions and 4 MB: examples plus the counter update (bytes, as UTF-8).
MAX_EXAMPLES_PER_TRANSACTION = 99
# Told how far a long rename or delete is: ("copied" | "deleted", examples so far).
Progress = Callable[[str, int], None]
TRANSACTION_BYTES = 3 * 1024 * 1024
AUTOCOMPLETE_LIMIT = 25
# How much of an example's fingerprint /dataset_show prints as its id (and /dataset_remove takes).
EXAMPLE_ID_LENGTH = 10


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
    # Examples already stored by this same upload (a redelivered job) count as added, not as duplicates.
    added: int = 0
    duplicates_existing: int = 0


def _dataset_info(item: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        name=str(item.get("name", "")),
        example_count=int(item.get("example_count", 0)),
        positive_count=int(item.get("positive_count", 0)),
        negative_count=int(item.get("negative_count", 0)),
        archive_version=int(item.get("archive_version", 0)),
        created_by=str(item.get("created_by", "")),
        created_at=str(item.get("created_at", "")),
        updated_at=str(item.get("updated_at", "")),
    )


class DatasetStore:
    def __init__(self, settings: Settings, *, dynamodb_client: Any) -> None:
        self._table = DataTable(settings.data_table, dynamodb_client)

    # --- datasets -------------------------------------------------------------------------------------------

    def get_dataset(self, guild_id: str, name: str) -> DatasetInfo | None:
        item = self._table.get(keys.guild_pk(guild_id), keys.dataset_sk(validate_dataset_name(name)))
        return _dataset_info(item) if item else None

    def require_dataset(self, guild_id: str, name: str) -> DatasetInfo:
        info = self.get_dataset(guild_id, name)
        if info is None:
            raise NotFound(f"There is no dataset called `{validate_dataset_name(name)}` in this server.")
        return info

    def ensure_dataset(self, guild_id: str, name: str, *, created_by: str = "") -> DatasetInfo:
        """Create the dataset record if it does not exist; return it either way."""
        name = validate_dataset_name(name)
        now = utc_now()
        self._table.put_new(
            {
                "pk": keys.guild_pk(guild_id),
                "sk": keys.dataset_sk(name),
                "name": name,
                "example_count": 0,
                "positive_count": 0,
                "negative_count": 0,
                "archive_version": 0,
                "created_by": created_by,
                "created_at": now,
                "updated_at": now,
            }
        )  # False: it was there already, which is as good
        return self.require_dataset(guild_id, name)

    def list_datasets(
        self, guild_id: str, prefix: str = "", limit: int = AUTOCOMPLETE_LIMIT
    ) -> list[DatasetInfo]:
        """Datasets whose names start with ``prefix`` (autocomplete); an impossible prefix matches nothing."""
        prefix = unicodedata.normalize("NFKC", prefix or "").strip().lower()
        if not is_name_prefix(prefix):
            return []
        items = self._table.query_prefix(keys.guild_pk(guild_id), keys.dataset_prefix_sk(prefix), limit=limit)
        return [_dataset_info(item) for item in items]

    def next_archive_version(self, guild_id: str, name: str) -> int:
        """Reserve the next archive version number of a dataset (atomic counter: never handed out twice)."""
        name = validate_dataset_name(name)
        try:
            item = self._table.update(
                keys.guild_pk(guild_id),
                keys.dataset_sk(name),
                set={},
                add={"archive_version": 1},
                condition="attribute_exists(pk)",
            )
        except ConditionFailed as exc:
            raise NotFound(f"There is no dataset called `{name}` in this server.") from exc
        return int((item or {})["archive_version"])

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
                result.added += 1
            else:
                result.duplicates_existing += 1
        chunk: list[tuple[str, Example, dict[str, Any]]] = []
        size = 0
        for fp, ex in fresh:
            item = self._example_item(pk, fp, ex, upload_id)
            item_size = len(item["data"].encode()) + 200
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
            "pk": pk,
            "sk": keys.example_sk(fp),
            "data": json.dumps(ex.to_dict(), ensure_ascii=False, separators=(",", ":")),
            "positive": ex.positive,
            "upload_id": upload_id,
            "added_at": ex.added_at or utc_now(),
        }

    def _existing(self, pk: str, fingerprints: list[str]) -> dict[str, str]:
        """fingerprint → upload_id of the examples already stored."""
        items = self._table.get_many(pk, map(keys.example_sk, fingerprints), attributes=("sk", "upload_id"))
        return {str(i["sk"]).removeprefix(keys.example_sk("")): str(i.get("upload_id", "")) for i in items}

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
            actions = [self._table.put_action(item, condition="attribute_not_exists(pk)") for _, _, item in pending]
            actions.append(self._table.update_action(
                keys.guild_pk(guild_id), keys.dataset_sk(name),
                "ADD example_count :n, positive_count :p, negative_count :q SET updated_at = :now",
                values={":n": len(pending), ":p": positive, ":q": negative, ":now": utc_now()},
                condition="attribute_exists(pk)"))
            try:
                # The examples and the counters in one transaction.
                self._table.transact(actions)
            except TransactionCancelled as exc:
                reasons = exc.reasons
                if len(reasons) == len(actions) and reasons[-1] == "ConditionalCheckFailed":
                    raise NotFound(f"There is no dataset called `{name}` in this server.") from exc
                failed = {i for i, code in enumerate(reasons[: len(pending)]) if code == "ConditionalCheckFailed"}
                if failed:
                    # Written meanwhile by another upload (or by this one, on a redelivery): not added twice.
                    owners = self._existing(keys.examples_pk(guild_id, name), [pending[i][0] for i in failed])
                    for i in failed:
                        if owners.get(pending[i][0]) == upload_id:
                            result.added += 1
                        else:
                            result.duplicates_existing += 1
                    pending = [p for i, p in enumerate(pending) if i not in failed]
                    if not pending:
                        return
                else:
                    time.sleep(0.05 * (2**attempt))  # a transaction conflict: back off and retry
                continue
            result.added += len(pending)
            return
        raise NotSaved(detail="transact_write_items kept conflicting")

    def iter_examples(self, guild_id: str, name: str, *, page_size: int = 500) -> Iterator[Example]:
        """Every example of the dataset, one page of ``page_size`` at a time."""
        items = self._table.query_prefix(
            keys.examples_pk(guild_id, validate_dataset_name(name)),
            keys.example_sk(""),
            attributes=("data",),
            page_size=page_size,
        )
        for item in items:
            yield Example.from_dict(json.loads(item["data"]))

    # --- guild settings -------------------------------------------------------------------------------------

    def guild_settings(self, guild_id: str) -> GuildTrainingSettings:
        item = self._table.get(
            keys.guild_pk(guild_id),
            keys.settings_sk(),
            attributes=("selected_dataset", "default_positive", "trainer_role_id"),
        ) or {}
        return GuildTrainingSettings(
            selected_dataset=str(item.get("selected_dataset") or DEFAULT_DATASET),
            default_positive=bool(item.get("default_positive", True)),
            trainer_role_id=str(item.get("trainer_role_id") or "") or None,
        )

    def select_dataset(
        self, guild_id: str, name: str, *, positive: bool | None = None, created_by: str = ""
    ) -> GuildTrainingSettings:
        """Make ``name`` the dataset /train and training use (created if new); optionally set ``positive``."""
        info = self.ensure_dataset(guild_id, name, created_by=created_by)
        changes: dict[str, Any] = {"selected_dataset": info.name}
        if positive is not None:
            changes["default_positive"] = positive
        # Attribute by attribute: other parts keep their own attributes on the settings record.
        self._table.update(keys.guild_pk(guild_id), keys.settings_sk(), set=changes)
        return self.guild_settings(guild_id)

    def set_trainer_role(self, guild_id: str, role_id: str | None) -> None:
        if role_id is None:
            self._table.update(keys.guild_pk(guild_id), keys.settings_sk(), remove=("trainer_role_id",))
            return
        if not str(role_id).isdigit():
            raise InvalidInput("That is not a role id.")
        self._table.update(keys.guild_pk(guild_id), keys.settings_sk(), set={"trainer_role_id": str(role_id)})

    # --- managing datasets (/datasets, /dataset_*) ---------------------------------------------------------

    def page_of_examples(self, guild_id: str, name: str, page: int, *, page_size: int = 10
                         ) -> list[tuple[str, Example]]:
        """Page ``page`` (from 1) of the dataset's examples, each with its id (the first characters of its
        fingerprint, which :meth:`remove_example` takes)."""
        pk = keys.examples_pk(guild_id, validate_dataset_name(name))
        items = self._table.query_prefix(pk, keys.example_sk(""), attributes=("sk", "data"),
                                         limit=page * page_size, page_size=page_size * page)
        found = list(items)[(page - 1) * page_size :]
        return [(str(i["sk"]).removeprefix(keys.example_sk(""))[:EXAMPLE_ID_LENGTH],
                 Example.from_dict(json.loads(i["data"]))) for i in found]

    def remove_example(self, guild_id: str, name: str, example_id: str) -> Example:
        """Remove the one example whose id starts with ``example_id``, and count it out, in one transaction."""
        name = validate_dataset_name(name)
        example_id = example_id.strip().lower()
        if len(example_id) < 6 or not all(c in "0123456789abcdef" for c in example_id):
            raise InvalidInput("Give the example's id as `/dataset_show` lists it (at least 6 characters).")
        pk = keys.examples_pk(guild_id, name)
        matches = list(self._table.query_prefix(pk, keys.example_sk(example_id), limit=2, attributes=("sk", "data")))
        if not matches:
            raise NotFound(f"Dataset `{name}` has no example `{example_id}`.")
        if len(matches) > 1:
            raise InvalidInput(f"More than one example starts with `{example_id}`: give more of its id.")
        item = matches[0]
        example = Example.from_dict(json.loads(item["data"]))
        try:
            self._table.transact([
                self._table.delete_action(pk, item["sk"], condition="attribute_exists(pk)"),
                self._table.update_action(
                    keys.guild_pk(guild_id), keys.dataset_sk(name),
                    "ADD example_count :n, positive_count :p, negative_count :q SET updated_at = :now",
                    values={":n": -1, ":p": -int(example.positive), ":q": -int(not example.positive),
                            ":now": utc_now()},
                    condition="attribute_exists(pk)"),
            ])
        except TransactionCancelled as exc:
            raise NotFound(f"Dataset `{name}` has no example `{example_id}` any more.") from exc
        return example

    def _delete_examples(self, guild_id: str, name: str, progress: Progress | None = None) -> int:
        """Delete every example of a dataset, 25 a request (BatchWriteItem); how many. ``progress("deleted",
        n)`` is told after each request.

        The keys are read a page of 1,000 at a time, and the pages go on past what was deleted (a start key need
        not exist any more): one query per 1,000 examples, not one per 25. A last look from the start finds any
        example written meanwhile behind the pages.
        """
        pk = keys.examples_pk(guild_id, name)
        deleted = 0
        while True:
            found = 0
            pages = self._table.query_prefix(pk, keys.example_sk(""), attributes=("sk",), page_size=1000)
            for batch in itertools.batched(pages, 25, strict=False):  # the last batch may be short
                self._delete_batch(pk, batch)
                found += len(batch)
                deleted += len(batch)
                if progress is not None:
                    progress("deleted", deleted)
            if not found:
                return deleted

    def _delete_batch(self, pk: str, batch: Sequence[dict[str, Any]]) -> None:
        request = {self._table.name: [{"DeleteRequest": {"Key": self._table.encode({"pk": pk, "sk": i["sk"]})}}
                                      for i in batch]}
        for attempt in range(8):
            response = self._table.client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(0.05 * (2**attempt))
        raise NotSaved(detail="batch_write_item left items unprocessed")

    def _unselect(self, guild_id: str, name: str, replacement: str = DEFAULT_DATASET) -> None:
        try:
            self._table.update(keys.guild_pk(guild_id), keys.settings_sk(), set={"selected_dataset": replacement},
                               condition="selected_dataset = :old", values={":old": name})
        except ConditionFailed:
            pass  # another dataset is selected: nothing to change

    def delete_dataset(self, guild_id: str, name: str, *, progress: Progress | None = None) -> int:
        """Delete the dataset and its examples (archives in the bucket are kept); how many examples went.
        Safe to repeat: a redelivered delete finds less, or nothing, left. ``progress(step, n)``: see
        :data:`Progress`."""
        name = validate_dataset_name(name)
        if self.get_dataset(guild_id, name) is None:
            raise NotFound(f"There is no dataset called `{name}` in this server.")
        deleted = self._delete_examples(guild_id, name, progress)
        self._table.client.delete_item(TableName=self._table.name, Key=self._table.encode(
            {"pk": keys.guild_pk(guild_id), "sk": keys.dataset_sk(name)}))
        self._unselect(guild_id, name)
        return deleted

    def rename_dataset(self, guild_id: str, old: str, new: str, *, created_by: str = "",
                       progress: Progress | None = None) -> DatasetInfo:
        """Move every example to a dataset called ``new`` (which must not exist yet), then delete ``old``.
        A redelivered rename carries on where it stopped: the examples are keyed by content. ``progress(step,
        n)`` is told after each write ("copied", then "deleted")."""
        old, new = validate_dataset_name(old), validate_dataset_name(new)
        if old == new:
            raise InvalidInput("That is already its name.")
        source = self.get_dataset(guild_id, old)
        target = self.get_dataset(guild_id, new)
        if source is None:
            if target is not None:
                return target  # done already
            raise NotFound(f"There is no dataset called `{old}` in this server.")
        if target is not None and target.created_by != f"rename:{old}":
            raise InvalidInput(f"There is already a dataset called `{new}`. Pick another name, or delete it first.")
        self.ensure_dataset(guild_id, new, created_by=f"rename:{old}")
        batch: list[Example] = []
        copied = 0
        for example in self.iter_examples(guild_id, old):
            batch.append(example)
            if len(batch) >= MAX_EXAMPLES_PER_TRANSACTION:
                self.add_examples(guild_id, new, batch, upload_id=f"rename-{old}")
                copied += len(batch)
                batch = []
                if progress is not None:
                    progress("copied", copied)
        if batch:
            self.add_examples(guild_id, new, batch, upload_id=f"rename-{old}")
        selected = self.guild_settings(guild_id).selected_dataset == old
        self.delete_dataset(guild_id, old, progress=progress)
        if selected:
            self._unselect(guild_id, DEFAULT_DATASET, new)  # the renamed dataset stays the selected one
        return self.require_dataset(guild_id, new)
