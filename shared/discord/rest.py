"""Discord's REST API, as every part of the bot uses it (worker, command registration, voice worker, watcher).

Synchronous on ``requests``. It follows Discord's rules for well-behaved clients: a ``DiscordBot (url,
version)`` user agent, 429 answers waited out (``Retry-After`` / ``retry_after``, global or per route), the
``X-RateLimit-*`` headers honoured before the next call on the same route, 5xx retried with backoff, and the
404 (Unknown Webhook / Unknown Message) that Discord sometimes answers right after a deferred response retried
a few times. Files go as ``multipart/form-data`` with ``payload_json`` and ``files[n]``.

An interaction token in a URL can post as the bot for 15 minutes and the bot token for ever: neither
appears in a log line or an exception this module produces, and urllib3's debug lines are scrubbed too.
"""

from __future__ import annotations

import json as jsonlib
import logging
import mimetypes
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from shared.discord.text import NO_MENTIONS
from shared.errors import ConfigError, UpstreamError

if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/discord-bot-trainer/discord-bot-trainer"
VERSION = "0.1.0"
USER_AGENT = f"DiscordBot ({PROJECT_URL}, {VERSION})"

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
EPHEMERAL = 1 << 6

# Discord error codes of the 404 it may answer just after a deferred response is acknowledged.
UNKNOWN_WEBHOOK = 10015
UNKNOWN_MESSAGE = 10008
DEFER_404_RETRIES = 3
DEFER_404_BACKOFF = 0.5  # seconds, doubled per retry
SERVER_ERROR_BACKOFF = 1.0  # seconds, doubled per retry
MAX_BACKOFF = 30.0
RETRY_AFTER_FALLBACK = 1.0

# Paths whose second segment is a token (webhook/interaction); redacted in anything this module writes.
_TOKEN_PATH = re.compile(r"(/(?:webhooks|interactions)/[^/?#]+/)([^/?#]+)")


def redact_path(text: str) -> str:
    """Replace every webhook or interaction token in a path or URL with ``{token}``."""
    return _TOKEN_PATH.sub(r"\1{token}", text)


class _RedactTokens(logging.Filter):
    """Scrubs tokens from urllib3's debug lines, which print the request line with its path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


_urllib3_filter_installed = False
_urllib3_filter_lock = threading.Lock()


def _install_urllib3_filter() -> None:
    global _urllib3_filter_installed
    with _urllib3_filter_lock:
        if not _urllib3_filter_installed:
            logging.getLogger("urllib3.connectionpool").addFilter(_RedactTokens())
            _urllib3_filter_installed = True


class DiscordHTTPError(UpstreamError):
    """Discord answered with an error, or could not be reached. The text never contains a token.

    ``retryable`` is true for what another delivery may cure (429, 5xx, network, a webhook still unknown) and
    false for client errors (400 invalid form body, 401/403, 404 of a real missing thing).
    """

    def __init__(self, detail: str, *, status: int | None = None, code: int | None = None,
                 retryable: bool = True) -> None:
        super().__init__(detail=detail)
        self.status = status
        self.code = code
        self.retryable = retryable


@dataclass
class _Bucket:
    remaining: int | None = None
    reset_at: float = 0.0


class DiscordRest:
    """A small client of Discord's REST API (v10).

    ``bot_token`` overrides ``settings.discord_bot_token``; when neither is set, the token is resolved from
    ``settings.discord_bot_token_secret`` on the first call that needs it. Interaction webhooks need no bot
    token, so the worker can run without one.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        bot_token: str | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 5,
        clock: Callable[[], float] = time.monotonic,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._base = settings.discord_api_base.rstrip("/")
        self._bot_token = bot_token or settings.discord_bot_token or None
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self.max_retries = max_retries
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0
        self._lock = threading.Lock()
        _install_urllib3_filter()

    # -- interaction webhooks (no bot token) -------------------------------------------------------------

    def edit_original(
        self,
        application_id: str,
        token: str,
        *,
        content: str | None = None,
        embeds: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        files: Sequence[tuple[str, bytes]] | None = None,
        allowed_mentions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Edit the interaction's original (possibly deferred) response."""
        payload = _message_payload(content=content, embeds=embeds, components=components,
                                   allowed_mentions=allowed_mentions)
        path = f"/webhooks/{application_id}/{token}/messages/@original"
        return self.request("PATCH", path, json=payload, files=files, auth=False) or {}

    def followup(
        self,
        application_id: str,
        token: str,
        *,
        content: str | None = None,
        ephemeral: bool = False,
        files: Sequence[tuple[str, bytes]] | None = None,
        components: list[dict[str, Any]] | None = None,
        allowed_mentions: dict[str, Any] | None = None,
        embeds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Send a follow-up message to an interaction; returns the created message."""
        payload = _message_payload(content=content, embeds=embeds, components=components,
                                   allowed_mentions=allowed_mentions)
        if ephemeral:
            payload["flags"] = EPHEMERAL
        # wait=true makes Discord return the message instead of 204 (ordinary webhooks default to no body).
        path = f"/webhooks/{application_id}/{token}?wait=true"
        return self.request("POST", path, json=payload, files=files, auth=False) or {}

    # -- bot endpoints ------------------------------------------------------------------------------------

    def create_message(
        self,
        channel_id: str,
        *,
        content: str | None = None,
        files: Sequence[tuple[str, bytes]] | None = None,
        components: list[dict[str, Any]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        allowed_mentions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Post a message in a channel as the bot."""
        payload = _message_payload(content=content, embeds=embeds, components=components,
                                   allowed_mentions=allowed_mentions)
        return self.request("POST", f"/channels/{channel_id}/messages", json=payload, files=files) or {}

    # -- generic ------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Sequence[tuple[str, bytes]] | None = None,
        auth: bool = True,
    ) -> Any:
        """Call ``method path`` (relative to the API base); return the decoded JSON body, or None for 204.

        Raises :class:`DiscordHTTPError` (an :class:`UpstreamError`) once retries are spent, or on a
        client error.
        """
        method = method.upper()
        if not path.startswith("/"):
            path = "/" + path
        safe_path = redact_path(path)
        url = self._base + path
        headers = {"User-Agent": USER_AGENT}
        if auth:
            headers["Authorization"] = f"Bot {self._token()}"
        body_kwargs, is_json = _body(json, files)
        if is_json:
            headers["Content-Type"] = "application/json"
        route = _route_key(method, path)

        rate_limited = server_errors = unknown_after_defer = network_errors = 0
        while True:
            self._wait_for_route(route, safe_path)
            try:
                response = self._http().request(method, url, headers=headers, timeout=self._timeout,
                                                allow_redirects=False, **body_kwargs)
            except requests.RequestException as exc:
                network_errors += 1
                if network_errors > self.max_retries:
                    # The exception text holds the URL (and so the token): keep only its type.
                    raise DiscordHTTPError(
                        f"Discord {method} {safe_path}: {type(exc).__name__} after {network_errors} attempts"
                    ) from None
                delay = _backoff(SERVER_ERROR_BACKOFF, network_errors)
                logger.warning("Discord %s %s: %s; retrying in %.2fs", method, safe_path,
                               type(exc).__name__, delay)
                self._sleep(delay)
                continue

            self._note_rate_limit(route, response)
            status = response.status_code
            if status == 429:
                rate_limited += 1
                delay, is_global = _retry_after(response)
                if rate_limited > self.max_retries:
                    raise self._error(method, safe_path, response, retryable=True)
                logger.warning("Discord %s %s rate limited (%s); waiting %.2fs", method, safe_path,
                               "global" if is_global else "route", delay)
                # The wait itself happens in _wait_for_route: a global limit holds every route.
                with self._lock:
                    until = self._clock() + delay
                    if is_global:
                        self._global_until = max(self._global_until, until)
                    else:
                        self._buckets[route] = _Bucket(remaining=0, reset_at=until)
                continue
            if status >= 500:
                server_errors += 1
                if server_errors > self.max_retries:
                    raise self._error(method, safe_path, response, retryable=True)
                delay = _backoff(SERVER_ERROR_BACKOFF, server_errors)
                logger.warning("Discord %s %s answered %d; retrying in %.2fs",
                               method, safe_path, status, delay)
                self._sleep(delay)
                continue
            if status == 404 and path.startswith("/webhooks/"):
                code = _error_code(response)
                if code in (UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE) and unknown_after_defer < DEFER_404_RETRIES:
                    unknown_after_defer += 1
                    delay = DEFER_404_BACKOFF * 2 ** (unknown_after_defer - 1)
                    logger.info("Discord %s %s: unknown webhook/message (%s), likely just deferred; "
                                "retrying in %.2fs", method, safe_path, code, delay)
                    self._sleep(delay)
                    continue
                if code in (UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE):
                    raise self._error(method, safe_path, response, retryable=True)
            if status >= 400:
                raise self._error(method, safe_path, response, retryable=False)
            if 300 <= status < 400:
                raise self._error(method, safe_path, response, retryable=False)
            logger.debug("Discord %s %s -> %d", method, safe_path, status)
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise DiscordHTTPError(f"Discord {method} {safe_path}: answer {status} is not JSON") from None

    # -- internals ----------------------------------------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _token(self) -> str:
        if self._bot_token is None:
            if not self._settings.discord_bot_token_secret:
                # The deployment's fault, not Discord's: nobody should be told to try again in a minute.
                raise ConfigError("no bot token configured (DISCORD_BOT_TOKEN or DISCORD_BOT_TOKEN_SECRET)")
            from shared.config import resolve_secret

            self._bot_token = resolve_secret(self._settings.discord_bot_token_secret, settings=self._settings)
        return self._bot_token

    def _wait_for_route(self, route: str, safe_path: str) -> None:
        now = self._clock()
        with self._lock:
            wait_global = self._global_until - now
            bucket = self._buckets.get(route)
            wait_route = 0.0
            if bucket is not None and bucket.remaining == 0:
                wait_route = bucket.reset_at - now
                # Once waited (or expired), the next answer's headers tell the new state.
                bucket.remaining = None
            # The global limit stays set until it expires: every caller meanwhile waits it out too.
        delay = max(wait_global, wait_route)
        if delay > 0:
            logger.info("Discord %s: rate-limit bucket empty; waiting %.2fs", safe_path, delay)
            self._sleep(delay)

    def _note_rate_limit(self, route: str, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_after = response.headers.get("X-RateLimit-Reset-After")
        if remaining is None or reset_after is None:
            return
        now = self._clock()
        try:
            bucket = _Bucket(remaining=int(float(remaining)), reset_at=now + float(reset_after))
        except ValueError:
            return
        with self._lock:
            # Interaction webhook routes are bucketed per webhook id *and* token (Discord's rate-limit docs),
            # so each interaction is a route of its own: drop buckets whose window is over, or a warm
            # process would keep one per token it ever answered.
            for key in [key for key, old in self._buckets.items() if old.reset_at <= now]:
                del self._buckets[key]
            self._buckets[route] = bucket

    def _error(self, method: str, safe_path: str, response: requests.Response, *,
               retryable: bool) -> DiscordHTTPError:
        code = _error_code(response)
        message = ""
        try:
            data = response.json()
            if isinstance(data, dict):
                message = str(data.get("message") or "")[:200]
        except ValueError:
            pass
        detail = f"Discord {method} {safe_path} answered {response.status_code}"
        if message:
            detail += f": {redact_path(message)}"
        if code is not None:
            detail += f" (code {code})"
        return DiscordHTTPError(detail, status=response.status_code, code=code, retryable=retryable)


def _message_payload(*, content: str | None, embeds: Any, components: Any,
                     allowed_mentions: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if content is not None:
        payload["content"] = content
        # Nobody gets pinged by text the bot echoes unless the caller says so.
        payload["allowed_mentions"] = (NO_MENTIONS if allowed_mentions is None
                                       else allowed_mentions)
    elif allowed_mentions is not None:
        payload["allowed_mentions"] = allowed_mentions
    if embeds is not None:
        payload["embeds"] = embeds
    if components is not None:
        payload["components"] = components
    return payload


def _body(payload: Any, files: Sequence[tuple[str, bytes]] | None) -> tuple[dict[str, Any], bool]:
    """Keyword arguments for ``requests`` and whether the body is JSON."""
    if not files:
        if payload is None:
            return {}, False
        return {"data": jsonlib.dumps(payload).encode("utf-8")}, True
    payload = dict(payload or {})
    attachments = list(payload.get("attachments") or [])
    parts: list[tuple[str, tuple[str | None, Any, str]]] = []
    for index, (filename, data) in enumerate(files):
        attachments.append({"id": index, "filename": filename})
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        parts.append((f"files[{index}]", (filename, data, content_type)))
    payload["attachments"] = attachments
    parts.insert(0, ("payload_json", (None, jsonlib.dumps(payload), "application/json")))
    return {"files": parts}, False


def _route_key(method: str, path: str) -> str:
    # Buckets are per route; the query string never changes the bucket. A webhook's token stays in the key:
    # Discord counts webhook limits per webhook id and token. The key is never logged.
    return method + " " + path.split("?", 1)[0]


def _retry_after(response: requests.Response) -> tuple[float, bool]:
    delay: float | None = None
    is_global = response.headers.get("X-RateLimit-Global", "").lower() == "true"
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("retry_after") is not None:
            try:
                delay = float(data["retry_after"])
            except (TypeError, ValueError):
                delay = None
        is_global = is_global or bool(data.get("global"))
    header = response.headers.get("Retry-After")
    if delay is None and header is not None:
        # The header is whole seconds; the body's retry_after is more precise, so it wins when present.
        try:
            delay = float(header)
        except ValueError:
            delay = None
    if delay is None:
        delay = RETRY_AFTER_FALLBACK
    return max(0.0, min(delay, MAX_BACKOFF * 10)), is_global


def _error_code(response: requests.Response) -> int | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("code"), int):
        return int(data["code"])
    return None


def _backoff(base: float, attempt: int) -> float:
    return min(MAX_BACKOFF, base * 2 ** (attempt - 1))
