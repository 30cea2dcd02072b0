"""Safe download of a Discord attachment into S3.

The worker fetches only URLs from the signed payload's ``resolved.attachments``, and only from the hosts in
``Settings.attachment_hosts`` over https (plain http only for a loopback host listed there, for local fakes).
Redirects are refused rather than followed, because a redirect could lead anywhere. The body is streamed:
bytes are counted as they arrive (Content-Length is only used to refuse early), hashed, and written to S3 in
parts, so a file is never held whole in memory.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from shared.errors import InvalidInput, NotSaved, UpstreamError
from shared.settings import Settings

logger = logging.getLogger(__name__)

# S3 needs parts of at least 5 MiB (except the last); 8 MiB keeps memory small and requests few.
PART_SIZE = 8 * 1024 * 1024
CHUNK_SIZE = 256 * 1024
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
# A slow server dribbling bytes would otherwise keep the worker busy until the Lambda timeout.
TOTAL_TIMEOUT = 180.0
USER_AGENT = "DiscordBotTrainer attachment fetcher"


class AttachmentRejected(InvalidInput):
    user_message = "I could not use that attachment."


class AttachmentHostNotAllowed(AttachmentRejected):
    user_message = "Attachments must come from Discord's CDN."


class AttachmentRedirected(AttachmentRejected):
    user_message = "The attachment link redirected elsewhere; I did not follow it. Please upload it again."


class AttachmentTooLarge(AttachmentRejected):
    user_message = "That file is too large."


class AttachmentGone(AttachmentRejected):
    user_message = "That attachment is gone (the link may have expired). Please upload it again."


class AttachmentUnavailable(UpstreamError):
    """Timeouts, connection failures and 5xx from the CDN: worth another try."""

    user_message = "Discord's CDN did not deliver the attachment in time. Please try again in a minute."


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"


def _format_mb(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 else f"{n} bytes"


def too_large(max_bytes: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(f"That file is larger than {_format_mb(max_bytes)}.")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_attachment_url(url: str, settings: Settings) -> str:
    """Return the URL if it may be fetched; raise :class:`AttachmentHostNotAllowed` otherwise."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError as exc:  # e.g. a port that is not a number
        raise AttachmentHostNotAllowed(detail=f"unparseable attachment URL: {exc}") from exc
    if parts.username is not None or parts.password is not None or not host:
        raise AttachmentHostNotAllowed(detail="attachment URL with credentials or without a host")
    allowed = {h.lower() for h in settings.attachment_hosts}
    host_port = f"{host}:{port}" if port is not None else host
    listed = host in allowed or host_port in allowed
    if not listed:
        raise AttachmentHostNotAllowed(detail=f"attachment host {host!r} is not in ATTACHMENT_HOSTS")
    if parts.scheme == "https":
        # A non-default port on a public CDN host is not something Discord produces.
        if port not in (None, 443) and not _is_loopback(host):
            raise AttachmentHostNotAllowed(detail=f"unexpected port {port} for {host!r}")
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise AttachmentHostNotAllowed(
        "Attachments must come from Discord's CDN over https.", detail=f"scheme {parts.scheme!r} refused"
    )


class _S3Writer:
    """Collects streamed bytes into parts; one PutObject for small files, a multipart upload otherwise."""

    def __init__(self, s3_client: Any, bucket: str, key: str, content_type: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.key = key
        self.content_type = content_type
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= PART_SIZE:
            self._flush_part()

    def _flush_part(self) -> None:
        if self.upload_id is None:
            created = self.s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        body = bytes(self.buffer)
        self.buffer.clear()
        resp = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        self.parts.append({"ETag": resp["ETag"], "PartNumber": number})

    def close(self) -> None:
        if self.upload_id is None:
            self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), ContentType=self.content_type
            )
            self.buffer.clear()
            return
        if self.buffer:
            self._flush_part()
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is None:
            return
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except Exception:  # the original failure matters more; S3 lifecycle rules clean up leftovers
            logger.warning("could not abort multipart upload of %s", self.key, exc_info=True)


def fetch_attachment_to_s3(
    url: str,
    *,
    settings: Settings,
    s3_client: Any,
    bucket: str,
    key: str,
    max_bytes: int | None = None,
    session: requests.Session | None = None,
    content_type: str = "application/octet-stream",
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
) -> StoredObject:
    """Stream ``url`` into ``s3://bucket/key`` and return its size and sha256.

    ``key`` must be generated by the server (see :func:`upload_key`), never taken from the user.
    """
    check_attachment_url(url, settings)
    limit = settings.max_attachment_bytes if max_bytes is None else max_bytes
    http = session or requests.Session()
    deadline = time.monotonic() + total_timeout
    try:
        response = http.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(connect_timeout, read_timeout),
            # Identity encoding: the bytes counted are the bytes stored, no decompression on our side.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )
    except requests.Timeout as exc:
        raise AttachmentUnavailable(detail=f"attachment connect timeout: {type(exc).__name__}") from exc
    except requests.RequestException as exc:
        raise AttachmentUnavailable(detail=f"attachment request failed: {type(exc).__name__}") from exc
    with response:
        status = response.status_code
        if 300 <= status < 400:
            raise AttachmentRedirected(detail=f"attachment URL answered {status} (redirect refused)")
        if status in (401, 403, 404, 410):
            raise AttachmentGone(detail=f"attachment URL answered {status}")
        if status != 200:
            if status >= 500 or status == 429:
                raise AttachmentUnavailable(detail=f"attachment URL answered {status}")
            raise AttachmentRejected(detail=f"attachment URL answered {status}")
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        if response.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            # Decoding would let a small body expand past the cap before we count it.
            raise AttachmentRejected(detail="attachment served with a content encoding")
        return _stream_to_s3(response, s3_client, bucket, key, limit, deadline, content_type)


def _stream_to_s3(
    response: requests.Response,
    s3_client: Any,
    bucket: str,
    key: str,
    limit: int,
    deadline: float,
    content_type: str,
) -> StoredObject:
    writer = _S3Writer(s3_client, bucket, key, content_type)
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            if time.monotonic() > deadline:
                raise AttachmentUnavailable(detail="attachment download exceeded the total time limit")
            digest.update(chunk)
            writer.write(chunk)
        writer.close()
    except (requests.RequestException, Urllib3Error, OSError) as exc:
        writer.abort()
        raise AttachmentUnavailable(detail=f"attachment download failed: {type(exc).__name__}") from exc
    except (ClientError, BotoCoreError) as exc:
        writer.abort()
        raise NotSaved("I could not store that file. Please try again.", detail=f"S3 write: {exc}") from exc
    except BaseException:
        writer.abort()
        raise
    logger.info("stored attachment", extra={"key": key, "size": size})
    return StoredObject(key=key, size=size, sha256=digest.hexdigest(), content_type=content_type)


def upload_key(guild_id: str, upload_id: str, filename: str) -> str:
    """Server-generated key for an uploaded attachment; only the extension of the user's filename survives."""
    ext = attachment_extension(filename)
    return f"guilds/{guild_id}/uploads/{upload_id}{ext}"


_KNOWN_EXTENSIONS = (".jsonl", ".json", ".csv", ".zip", ".txt")


def attachment_extension(filename: str) -> str:
    lowered = filename.lower().rsplit("/", 1)[-1]
    for ext in _KNOWN_EXTENSIONS:
        if lowered.endswith(ext):
            return ext
    return ""
