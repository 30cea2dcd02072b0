"""``/archive``: an immutable, versioned snapshot of a dataset in S3.

The zip holds ``examples.jsonl`` (one example per line, in the neutral form of :meth:`Example.to_dict`) and
``manifest.json`` (dataset, version, counts, positive/negative split, sha256 of ``examples.jsonl``, created
by/at). It is built in a spooled temporary file (memory up to a few MB, then disk), never whole in memory.
Versions come from an atomic counter on the dataset record; the S3 object is written with ``If-None-Match: *``
and the file record with a condition, so a version is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import zipfile
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.domain.time import file_stamp, utc_now
from shared.errors import InvalidInput, NotSaved
from shared.storage import keys
from shared.storage.datasets import DatasetStore, validate_dataset_name
from shared.storage.files import FileRecord, FileStore

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = "discord-bot-trainer/archive@1"
_SPOOL_BYTES = 8 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024


def archive_file_id(dataset: str, version: int) -> str:
    return f"archive-{dataset}-v{version}"


def create_archive(
    guild_id: str,
    dataset: str,
    *,
    created_by: str,
    datasets: DatasetStore,
    files: FileStore,
    now: datetime | None = None,
) -> FileRecord:
    """Snapshot ``dataset`` into a new archive version and return its file record."""
    name = validate_dataset_name(dataset)
    info = datasets.require_dataset(guild_id, name)
    if info.example_count == 0:
        raise InvalidInput(f"The dataset `{name}` is empty; there is nothing to archive yet.")
    version = datasets.next_archive_version(guild_id, name)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    created_at = utc_now(moment)
    stamp = file_stamp(created_at)
    key = keys.archive_key(guild_id, name, version, stamp)
    date_time = moment.timetuple()[:6]

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        examples_sha = hashlib.sha256()
        total = positive = preference_pairs = 0
        examples_bytes = 0
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            entry = zipfile.ZipInfo("examples.jsonl", date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as out:
                for example in datasets.iter_examples(guild_id, name):
                    line = (json.dumps(example.to_dict(), ensure_ascii=False, sort_keys=True) + "\n").encode()
                    examples_sha.update(line)
                    examples_bytes += len(line)
                    out.write(line)
                    total += 1
                    positive += int(example.positive)
                    preference_pairs += int(example.is_preference_pair)
            manifest = {
                "format": MANIFEST_FORMAT,
                "guild_id": guild_id,
                "dataset": name,
                "version": version,
                "created_by": created_by,
                "created_at": created_at,
                "counts": {
                    "examples": total,
                    "positive": positive,
                    "negative": total - positive,
                    "preference_pairs": preference_pairs,
                },
                "files": {"examples.jsonl": {"sha256": examples_sha.hexdigest(), "bytes": examples_bytes}},
            }
            manifest_info = zipfile.ZipInfo("manifest.json", date_time=date_time)
            manifest_info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(manifest_info, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        size = spool.tell()
        spool.seek(0)
        zip_sha = hashlib.sha256()
        while chunk := spool.read(_COPY_CHUNK):
            zip_sha.update(chunk)
        spool.seek(0)
        _upload_once(files.s3, files.bucket, key, spool, size, zip_sha.hexdigest())

    record = FileRecord(
        file_id=archive_file_id(name, version),
        guild_id=guild_id,
        key=key,
        filename=f"{name}-v{version}-{stamp}.zip",
        kind="archive",
        size=size,
        sha256=zip_sha.hexdigest(),
        content_type="application/zip",
        created_by=created_by,
        created_at=created_at,
    )
    files.register(record)  # conditional: a version record is written once
    logger.info("archived dataset", extra={"dataset": name, "version": version, "examples": total})
    return record


def _upload_once(s3: Any, bucket: str, key: str, body: Any, size: int, sha256: str) -> None:
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            ContentType="application/zip",
            Metadata={"sha256": sha256},
            IfNoneMatch="*",
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise NotSaved(detail=f"archive key {key} already exists") from exc
        raise NotSaved(detail=f"archive upload: {code}") from exc
