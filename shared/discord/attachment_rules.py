"""Which attachment URLs may be fetched, and the errors a refused attachment gives the user.

Kept apart from :mod:`shared.discord.attachments` (which streams with requests and boto3) so that the interactions
function can check a URL at once without importing either.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shared.config import Settings
from shared.errors import InvalidInput, UpstreamError


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


def _format_mb(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 1 else f"{n} bytes"


def too_large(max_bytes: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(f"That file is larger than {_format_mb(max_bytes)}.")


# Audio that /ask and voice-message transcription accept: OpenAI's transcription upload cap.
MAX_AUDIO_BYTES = 25 * 1024 * 1024
AUDIO_EXTENSIONS = (".ogg", ".oga", ".opus", ".mp3", ".wav", ".m4a", ".flac", ".webm")


def is_audio(content_type: str | None, filename: str = "") -> bool:
    """An audio (or audio-in-video) attachment by its content type, else by its file name."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith(("audio/", "video/")):
        return True
    return filename.lower().endswith(AUDIO_EXTENSIONS)


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


