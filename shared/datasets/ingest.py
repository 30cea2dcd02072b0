"""Adding checked examples to a dataset: the work behind ``/train text:`` and ``/train file:``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.datasets.archive_load import ArchivedExample
from shared.datasets.chat_format import LineRejected
from shared.datasets.limits import DatasetFileRejected, DatasetLimits
from shared.datasets.parse import parse_upload
from shared.datasets.report import IngestReport, Rejection
from shared.datasets.text_syntax import SYNTAX_HELP, example_from_text
from shared.domain.examples import Example
from shared.domain.time import utc_now
from shared.errors import InvalidInput
from shared.storage.datasets import (
    MAX_EXAMPLES_PER_TRANSACTION,
    DatasetInfo,
    DatasetStore,
    validate_dataset_name,
)

logger = logging.getLogger(__name__)

# One write batch is one transaction: a larger batch would leave a small second transaction each time.
BATCH = MAX_EXAMPLES_PER_TRANSACTION


def ingest_examples(
    items: Iterable[Example | Rejection],
    *,
    store: DatasetStore,
    guild_id: str,
    dataset: str,
    upload_id: str,
    created_by: str = "",
    limits: DatasetLimits | None = None,
) -> IngestReport:
    """Store every example not yet in the dataset and report what happened.

    Duplicates inside the upload are found with a set of 64-bit fingerprint prefixes (about 60 bytes per
    example, bounded by ``limits.max_examples``); duplicates of stored examples by the store.

    The dataset is created with the first write, so a file refused before any example (wrong type, zip bomb,
    bad CSV header) leaves nothing behind. A file refused part way (the size cap) keeps what came before it,
    and the report says where and why it stopped.
    """
    limits = limits or DatasetLimits()
    name = validate_dataset_name(dataset)
    report = IngestReport(dataset=name, max_reasons=limits.max_reasons)
    seen: set[int] = set()
    batch: list[Example] = []
    info: DatasetInfo | None = None

    def flush() -> None:
        nonlocal info
        if info is None:
            info = store.ensure_dataset(guild_id, name, created_by=created_by)
        result = store.add_examples(guild_id, name, batch, upload_id=upload_id)
        report.added += result.added
        report.duplicates_existing += result.duplicates_existing
        batch.clear()

    try:
        for item in items:
            if isinstance(item, Rejection):
                report.reject(item)
                continue
            if isinstance(item, ArchivedExample):
                report.from_archive += 1
            marker = int(item.fingerprint()[:16], 16)
            if marker in seen:
                report.duplicates_in_file += 1
                continue
            if len(seen) >= limits.max_examples:
                report.reject(Rejection(0, f"stopped: an upload holds at most {limits.max_examples} examples"))
                break
            seen.add(marker)
            batch.append(item)
            if len(batch) >= BATCH:
                flush()
    except DatasetFileRejected as exc:
        if info is None and not batch:
            raise  # nothing read is usable: the file is refused whole, and nothing was written
        report.stopped_at = Rejection(exc.line, "", exc.member).where() if exc.line else (exc.member or "")
        report.stopped_reason = exc.user_message
    if batch or info is None:
        flush()
    final = store.require_dataset(guild_id, name)
    report.dataset_size = final.example_count
    report.positive_count = final.positive_count
    report.negative_count = final.negative_count
    logger.info(
        "ingested upload",
        extra={"dataset": name, "added": report.added, "rejected": report.rejected, "stopped": report.stopped_at},
    )
    return report


def add_upload(
    stream: Any,
    filename: str,
    *,
    store: DatasetStore,
    guild_id: str,
    dataset: str,
    upload_id: str,
    positive: bool = True,
    added_by: str = "",
    limits: DatasetLimits | None = None,
) -> IngestReport:
    """``/train file:`` — check the stored attachment (a binary stream, e.g. S3 ``Body``) and add it."""
    limits = limits or DatasetLimits()
    items = parse_upload(
        stream, filename, positive=positive, added_by=added_by, added_at=utc_now(), limits=limits
    )
    return ingest_examples(
        items,
        store=store,
        guild_id=guild_id,
        dataset=dataset,
        upload_id=upload_id,
        created_by=added_by,
        limits=limits,
    )


def add_text(
    text: str,
    *,
    store: DatasetStore,
    guild_id: str,
    dataset: str,
    upload_id: str,
    positive: bool = True,
    added_by: str = "",
) -> IngestReport:
    """``/train text:`` — one example in the Q:/A: syntax or one JSON line."""
    try:
        example = example_from_text(text, positive=positive, added_by=added_by, added_at=utc_now())
    except LineRejected as exc:
        hint = "" if SYNTAX_HELP in exc.reason else f" {SYNTAX_HELP}"
        raise InvalidInput(f"I could not read that example: {exc.reason}.{hint}") from None
    return ingest_examples(
        [example], store=store, guild_id=guild_id, dataset=dataset, upload_id=upload_id, created_by=added_by
    )
