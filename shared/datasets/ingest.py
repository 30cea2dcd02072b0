"""Adding checked examples to a dataset: the work behind ``/train text:`` and ``/train file:``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.datasets.chat_format import LineRejected
from shared.datasets.limits import DatasetLimits
from shared.datasets.parse import parse_upload
from shared.datasets.report import IngestReport, Rejection
from shared.datasets.text_syntax import SYNTAX_HELP, example_from_text
from shared.errors import InvalidInput
from shared.examples import Example
from shared.storage.datasets import DatasetStore, now_iso

logger = logging.getLogger(__name__)

BATCH = 100


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
    """
    limits = limits or DatasetLimits()
    info = store.ensure_dataset(guild_id, dataset, created_by=created_by)
    report = IngestReport(dataset=info.name, max_reasons=limits.max_reasons)
    seen: set[int] = set()
    batch: list[Example] = []

    def flush() -> None:
        result = store.add_examples(guild_id, info.name, batch, upload_id=upload_id)
        report.added += result.added
        report.duplicates_existing += result.duplicates_existing
        batch.clear()

    for item in items:
        if isinstance(item, Rejection):
            report.reject(item)
            continue
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
    if batch:
        flush()
    final = store.require_dataset(guild_id, info.name)
    report.dataset_size = final.example_count
    report.positive_count = final.positive_count
    report.negative_count = final.negative_count
    logger.info(
        "ingested upload",
        extra={"dataset": info.name, "added": report.added, "rejected": report.rejected},
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
        stream, filename, positive=positive, added_by=added_by, added_at=now_iso(), limits=limits
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
        example = example_from_text(text, positive=positive, added_by=added_by, added_at=now_iso())
    except LineRejected as exc:
        hint = "" if SYNTAX_HELP in exc.reason else f" {SYNTAX_HELP}"
        raise InvalidInput(f"I could not read that example: {exc.reason}.{hint}") from None
    return ingest_examples(
        [example], store=store, guild_id=guild_id, dataset=dataset, upload_id=upload_id, created_by=added_by
    )
