"""Files the bot stores for a guild (archives, exports, the corrections-and-feedback log), by opaque id.

A file record (``pk=GUILD#{guild}``, ``sk=FILE#{id}``) maps an id such as ``archive-mydata-v3`` to an S3 key
the server generated under ``guilds/{guild}/``. What a user types in ``/getfile`` is only ever looked up as an
id in their own guild's partition: it never becomes a path or a key, and one guild cannot name another's file.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from shared.config import Settings
from shared.domain.names import FILE_ID_RULE, is_name_prefix, validate_file_id  # noqa: F401 - re-exported
from shared.domain.time import file_stamp, utc_now
from shared.errors import NotFound, NotSaved
from shared.storage import keys
from shared.storage.table import DataTable

logger = logging.getLogger(__name__)

CORRECTIONS_LOG_ID = "corrections-log"
PRESIGN_SECONDS = 15 * 60
AUTOCOMPLETE_LIMIT = 25
_SPOOL_BYTES = 8 * 1024 * 1024
# Autocomplete reads at most this many file records (newest of them first).
_LIST_FILES_SCANNED = 2000


@dataclass(frozen=True)
class FileRecord:
    file_id: str
    guild_id: str
    key: str
    filename: str
    kind: str
    size: int
    sha256: str = ""
    content_type: str = "application/octet-stream"
    created_by: str = ""
    created_at: str = ""


_RECORD_FIELDS = tuple(FileRecord.__dataclass_fields__)


@dataclass(frozen=True)
class FileDelivery:
    """How to send a file: as an upload (``url`` is None; read it with :meth:`FileStore.open`) or a link."""

    record: FileRecord
    url: str | None = None
    expires_in: int = 0

    @property
    def as_link(self) -> bool:
        return self.url is not None


def _record(item: dict[str, Any]) -> FileRecord:
    return FileRecord(
        file_id=str(item["file_id"]),
        guild_id=str(item["guild_id"]),
        key=str(item["key"]),
        filename=str(item["filename"]),
        kind=str(item["kind"]),
        size=int(item["size"]),
        sha256=str(item.get("sha256", "")),
        content_type=str(item.get("content_type", "application/octet-stream")),
        created_by=str(item.get("created_by", "")),
        created_at=str(item.get("created_at", "")),
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError(type(value).__name__)


class FileStore:
    def __init__(self, settings: Settings, *, dynamodb_client: Any, s3_client: Any) -> None:
        self._settings = settings
        self._table = DataTable(settings.data_table, dynamodb_client)
        self.s3 = s3_client
        self.bucket = settings.bucket_name

    def register(self, record: FileRecord, *, overwrite: bool = False) -> FileRecord:
        """Store a file record; without ``overwrite`` an existing id is never replaced (archives)."""
        validate_file_id(record.file_id)
        if not record.key.startswith(keys.bucket_prefix(record.guild_id)):
            # Keys come from the server only; this guards against a caller mixing guilds up.
            raise ValueError("file key outside the guild's prefix")
        item = {
            "pk": keys.guild_pk(record.guild_id),
            "sk": keys.file_sk(record.file_id),
            **{name: getattr(record, name) for name in _RECORD_FIELDS},
        }
        if overwrite:
            self._table.put(item)
        elif not self._table.put_new(item):
            raise NotSaved(detail=f"file id {record.file_id} already exists")
        return record

    def get(self, guild_id: str, file_id: str) -> FileRecord:
        """The guild's file with this id; :class:`NotFound` for any other guild's id or an unknown one."""
        file_id = validate_file_id(file_id)
        item = self._table.get(keys.guild_pk(guild_id), keys.file_sk(file_id))
        if not item:
            raise NotFound(f"There is no file called `{file_id}` in this server. Pick one from the list.")
        record = _record(item)
        if record.guild_id != guild_id or not record.key.startswith(keys.bucket_prefix(guild_id)):
            logger.error("file record %s does not belong to guild partition", file_id)
            raise NotFound(f"There is no file called `{file_id}` in this server.")
        return record

    def list_files(
        self, guild_id: str, prefix: str = "", limit: int = AUTOCOMPLETE_LIMIT
    ) -> list[FileRecord]:
        """Newest first, for autocomplete; the corrections log is offered even before its first export."""
        prefix = (prefix or "").strip().lower()
        if not is_name_prefix(prefix, file_id=True):
            return []
        # A bounded read of the guild's files: autocomplete must answer within Discord's 3 seconds.
        items = self._table.query_prefix(
            keys.guild_pk(guild_id), keys.file_prefix_sk(prefix), limit=_LIST_FILES_SCANNED
        )
        records = [_record(i) for i in items]
        records.sort(key=lambda r: r.created_at, reverse=True)
        if CORRECTIONS_LOG_ID.startswith(prefix) and not any(
            r.file_id == CORRECTIONS_LOG_ID for r in records
        ):
            records.insert(
                0, FileRecord(CORRECTIONS_LOG_ID, guild_id, "", "corrections-log.jsonl", "corrections-log", 0)
            )
        return records[:limit]

    def open(self, record: FileRecord) -> Any:
        """The file's bytes as a stream (S3 ``Body``), for uploading it to Discord."""
        return self.s3.get_object(Bucket=self.bucket, Key=record.key)["Body"]

    def delivery(
        self,
        record: FileRecord,
        *,
        max_attachment_bytes: int | None = None,
        expires_in: int = PRESIGN_SECONDS,
    ) -> FileDelivery:
        """Attach when it fits Discord's limit, else a short-lived presigned link."""
        limit = (
            self._settings.discord_upload_limit_bytes
            if max_attachment_bytes is None
            else max_attachment_bytes
        )
        if record.size <= limit:
            return FileDelivery(record)
        url = self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": record.key,
                "ResponseContentDisposition": f'attachment; filename="{record.filename}"',
            },
            ExpiresIn=expires_in,
        )
        return FileDelivery(record, url=url, expires_in=expires_in)

    def resolve_for_getfile(self, guild_id: str, name: str, *, requested_by: str = "") -> FileRecord:
        """``/getfile name``: the stored file, or a fresh export for the corrections log."""
        file_id = validate_file_id(name)
        if file_id == CORRECTIONS_LOG_ID:
            return self.export_corrections_log(guild_id, created_by=requested_by)
        return self.get(guild_id, file_id)

    # --- the corrections and feedback log -------------------------------------------------------------------

    def iter_corrections_and_feedback(self, guild_id: str) -> Iterator[dict[str, Any]]:
        """Every correction and feedback record of the guild, attributes read generically."""
        for prefix, kind in ((keys.CORRECTION_PREFIX, "correction"), (keys.FEEDBACK_PREFIX, "feedback")):
            for record in self._table.query_prefix(keys.guild_pk(guild_id), prefix):
                sk = record.pop("sk")
                for internal in ("pk", "gsi1pk", "gsi1sk", "expires_at"):
                    record.pop(internal, None)
                yield {"type": kind, "id": str(sk)[len(prefix) :], **record}

    def export_corrections_log(self, guild_id: str, *, created_by: str = "") -> FileRecord:
        """Write the log as JSONL and point the ``corrections-log`` id at it.

        The log is a live export, not a snapshot: each export overwrites the one object (and its record), so
        repeated ``/getfile corrections-log`` leaves no orphaned copies behind.
        """
        import hashlib

        created_at = utc_now()
        key = keys.export_key(guild_id, CORRECTIONS_LOG_ID, "latest", ".jsonl")
        digest = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            for row in self.iter_corrections_and_feedback(guild_id):
                line = (
                    json.dumps(row, ensure_ascii=False, sort_keys=True, default=_json_default) + "\n"
                ).encode()
                digest.update(line)
                size += len(line)
                spool.write(line)
            spool.seek(0)
            try:
                self.s3.upload_fileobj(
                    spool, self.bucket, key, ExtraArgs={"ContentType": "application/jsonl"}
                )
            except ClientError as exc:
                raise NotSaved(detail=f"corrections log upload: {exc}") from exc
        record = FileRecord(
            file_id=CORRECTIONS_LOG_ID,
            guild_id=guild_id,
            key=key,
            filename=f"corrections-log-{file_stamp(created_at)}.jsonl",
            kind="corrections-log",
            size=size,
            sha256=digest.hexdigest(),
            content_type="application/jsonl",
            created_by=created_by,
            created_at=created_at,
        )
        return self.register(record, overwrite=True)
