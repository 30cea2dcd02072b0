"""A local fake of Discord's REST API and CDN, for tests and the local stack.

It speaks Discord's wire format on 127.0.0.1 (a random port): interaction webhooks (edit/get/delete the
original response, follow-ups, JSON or ``multipart/form-data`` with ``payload_json`` + ``files[n]``), the
interaction callback endpoint, channel messages (bot token required), and application commands (GET, PUT bulk
overwrite, POST, global and per guild). What the bot sent is kept per interaction token and per channel, so a
test or the local command-line client can read it back, in Python or over HTTP::

    GET  /_fake/messages?token=T          the original response and the follow-ups of one interaction
    GET  /_fake/messages?channel_id=C     the bot's messages in a channel
    GET  /_fake/commands[?guild_id=G]     registered application commands
    GET  /_fake/requests                  method, path (tokens redacted) and user agent of every API call
    GET  /_fake/attachments/{id}          the bytes of an uploaded file
    POST /_fake/faults                    {"status": 429|404|5xx, "times": n, "method", "path_contains",
                                           "retry_after", "global", "code"}: answer the next n matching
                                           calls so
    POST /_fake/defer_404                 {"times": n}: each new token's first n webhook calls get 404 10015
    POST /_fake/cdn                       {"path", "size" | "data_b64", "content_type", "redirect_to"}
    POST /_fake/reset                     forget everything

The CDN serves files registered with :meth:`FakeDiscord.add_cdn_file` under ``/attachments/...`` (the query
string is ignored, like Discord's signed ``ex``/``is``/``hm`` parameters): bytes, or a generated stream of a
given size written in chunks so that a 200 MB file never sits in memory; optionally a redirect, or no
Content-Length (chunked).

Use it as a context manager::

    with FakeDiscord() as discord:
        settings = Settings(discord_api_base=discord.api_base, discord_bot_token=discord.bot_token)
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.fakes.discord_application import FakeApplication
from infra.fakes.loopback import LoopbackServer

API_PREFIX = "/api/v10"
MAX_CONTENT = 2000  # Discord answers 400 Invalid Form Body beyond this
UNKNOWN_WEBHOOK = 10015
CHUNK = 64 * 1024

_TOKEN_PATH = re.compile(r"(/(?:webhooks|interactions)/[^/?#]+/)([^/?#]+)")


def generated_chunks(size: int, seed: str = "cdn", chunk: int = CHUNK) -> Iterator[bytes]:
    """Deterministic bytes of a given size, produced a chunk at a time (the CDN's generated files)."""
    block = hashlib.sha256(seed.encode()).digest() * (chunk // 32 + 1)
    block = block[:chunk]
    remaining = size
    while remaining > 0:
        piece = block[: min(chunk, remaining)]
        remaining -= len(piece)
        yield piece


def generated_sha256(size: int, seed: str = "cdn") -> str:
    digest = hashlib.sha256()
    for piece in generated_chunks(size, seed):
        digest.update(piece)
    return digest.hexdigest()


@dataclass
class Fault:
    status: int
    times: int = 1
    method: str | None = None
    path_contains: str | None = None
    retry_after: float | None = None
    is_global: bool = False
    code: int | None = None
    message: str | None = None
    retry_after_header: bool = True

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.path_contains and self.path_contains not in path)


@dataclass
class CdnFile:
    data: bytes | None = None
    size: int = 0
    seed: str = "cdn"
    chunks: Callable[[], Iterable[bytes]] | None = None
    content_type: str = "application/octet-stream"
    redirect_to: str | None = None
    send_length: bool = True

    def body(self) -> Iterable[bytes]:
        if self.data is not None:
            return [self.data]
        if self.chunks is not None:
            return self.chunks()
        return generated_chunks(self.size, self.seed)


@dataclass
class _State:
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)
    edits: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    followups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callbacks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "" = global
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    defer_404: int = 0
    defer_404_seen: dict[str, int] = field(default_factory=dict)
    rate_limit_headers: list[tuple[int, float]] = field(default_factory=list)
    cdn: dict[str, CdnFile] = field(default_factory=dict)


class FakeDiscord:
    """Discord's REST API and CDN on loopback. Thread-safe; start/stop or use ``with``."""

    def __init__(self, *, bot_token: str = "fake-bot-token",  # noqa: S107 - the fake's own token
                 application_id: str = "100000000000000001", host: str = "127.0.0.1", port: int = 0) -> None:
        self.bot_token = bot_token
        self.application_id = application_id
        self._http = LoopbackServer("fake-discord", host=host, port=port)
        self._lock = threading.RLock()
        self._state = _State()
        self._ids = itertools.count(1)
        # GET/PATCH /applications/@me (infra/fakes/discord_application.py).
        self.application = FakeApplication(application_id)

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        self._http.start(_make_handler(self))
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self._http.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """The value for ``DISCORD_API_BASE``."""
        return self.url + API_PREFIX

    @property
    def cdn_host(self) -> str:
        """The host for ``ATTACHMENT_HOSTS`` (with its port)."""
        return f"{self._http.host}:{self.port}"

    # -- reading back ---------------------------------------------------------------------------------------

    def messages(self, token: str) -> list[dict[str, Any]]:
        """The original response (if any), then the follow-ups of one interaction, in order."""
        with self._lock:
            result = []
            if token in self._state.originals:
                result.append(_copy(self._state.originals[token]))
            result.extend(_copy(m) for m in self._state.followups.get(token, []))
            return result

    def original(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            message = self._state.originals.get(token)
            return _copy(message) if message else None

    def edits(self, token: str) -> list[dict[str, Any]]:
        """Every PATCH body received for the original response, in order."""
        with self._lock:
            return _copy(self._state.edits.get(token, []))

    def followups(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(self._state.followups.get(token, []))

    def callbacks(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(self._state.callbacks.get(token, []))

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(self._state.channels.get(channel_id, []))

    def commands(self, guild_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(self._state.commands.get(guild_id or "", []))

    def attachment_bytes(self, attachment_id: str) -> bytes:
        with self._lock:
            return self._state.files[str(attachment_id)]

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return _copy(self._state.requests)

    # -- fault injection ------------------------------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, method: str | None = None,
                  path_contains: str | None = None, retry_after: float | None = None,
                  is_global: bool = False, code: int | None = None, message: str | None = None,
                  retry_after_header: bool = True) -> None:
        """Answer the next ``times`` matching API calls with ``status`` (a 429 carries its retry-after)."""
        with self._lock:
            self._state.faults.append(Fault(status, times, method, path_contains, retry_after, is_global,
                                            code, message, retry_after_header))

    def not_found_after_defer(self, times: int) -> None:
        """Each token's first ``times`` webhook calls get 404 Unknown Webhook, as right after a defer."""
        with self._lock:
            self._state.defer_404 = times

    def exhaust_bucket(self, *, times: int = 1, reset_after: float = 0.25) -> None:
        """The next ``times`` answers say ``X-RateLimit-Remaining: 0`` with ``reset_after`` seconds to go."""
        with self._lock:
            self._state.rate_limit_headers.extend([(0, reset_after)] * times)

    def add_cdn_file(self, path: str, data: bytes | None = None, *, size: int | None = None,
                     seed: str = "cdn",
                     chunks: Callable[[], Iterable[bytes]] | None = None,
                     content_type: str = "application/octet-stream", redirect_to: str | None = None,
                     send_length: bool = True) -> str:
        """Serve a file at ``/attachments/{path}``; return its URL.

        ``data``: the bytes. ``size`` alone: generated bytes (:func:`generated_chunks`).
        ``chunks`` + ``size``: a factory of chunks (called per request). ``redirect_to``: answer 302 to
        that URL instead.
        ``send_length=False``: no Content-Length (chunked transfer), so a client must count bytes itself.
        """
        path = path.lstrip("/")
        if data is None and size is None and redirect_to is None:
            raise ValueError("give data, size or redirect_to")
        entry = CdnFile(data=data, size=len(data) if data is not None else (size or 0), seed=seed,
                        chunks=chunks, content_type=content_type, redirect_to=redirect_to,
                        send_length=send_length)
        with self._lock:
            self._state.cdn[path] = entry
        return f"{self.url}/attachments/{path}"

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    # -- request handling (called from server threads) ------------------------------------------------

    def _next_id(self) -> str:
        return str(1_300_000_000_000_000_000 + next(self._ids))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._state.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._state.faults.remove(fault)
                    return fault
        return None

    def _take_defer_404(self, token: str) -> bool:
        with self._lock:
            seen = self._state.defer_404_seen.get(token, 0)
            if seen < self._state.defer_404:
                self._state.defer_404_seen[token] = seen + 1
                return True
            return False

    def _take_rate_limit_headers(self) -> dict[str, str]:
        with self._lock:
            if not self._state.rate_limit_headers:
                return {}
            remaining, reset_after = self._state.rate_limit_headers.pop(0)
        return {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset-After": f"{reset_after:.3f}", "X-RateLimit-Bucket": "fakebucket"}

    def _store_message(self, payload: dict[str, Any], files: list[tuple[str, str, bytes]], *,
                       channel_id: str, message_id: str | None = None,
                       previous: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = dict(previous or {})
        message.setdefault("id", message_id or self._next_id())
        message["channel_id"] = channel_id
        for key in ("content", "embeds", "components", "flags", "allowed_mentions", "tts", "poll"):
            if key in payload:
                message[key] = payload[key]
        message.setdefault("content", "")
        message.setdefault("embeds", [])
        message.setdefault("components", [])
        if files or "attachments" in payload:
            kept = []
            declared = {str(a.get("id")): a for a in payload.get("attachments") or []}
            # Existing attachments listed by their snowflake id are kept, as Discord does on edit.
            for old in message.get("attachments", []):
                if old["id"] in declared:
                    kept.append(old)
            for index, (part_name, filename, data) in enumerate(files):
                part_index = part_name[len("files["):-1]
                meta = declared.get(part_index, {})
                attachment_id = self._next_id()
                with self._lock:
                    self._state.files[attachment_id] = data
                kept.append({
                    "id": attachment_id,
                    "filename": meta.get("filename") or filename or f"file{index}",
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "url": f"{self.url}/_fake/attachments/{attachment_id}",
                    "description": meta.get("description"),
                })
            message["attachments"] = kept
        message.setdefault("attachments", [])
        return message


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _redact(path: str) -> str:
    return _TOKEN_PATH.sub(r"\1{token}", path)


def _check_limits(payload: dict[str, Any]) -> None:
    content = payload.get("content")
    if content is not None and (not isinstance(content, str) or len(content) > MAX_CONTENT):
        raise ValueError("content: Must be 2000 or fewer in length.")


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """``payload_json`` and ``files[n]`` parts of a multipart/form-data body."""
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not message.is_multipart():
        raise ValueError("not multipart")
    payload: dict[str, Any] = {}
    files: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        raw_data = part.get_payload(decode=True)
        data = raw_data if isinstance(raw_data, bytes) else b""
        if name == "payload_json":
            payload = json.loads(data)
        elif isinstance(name, str) and re.fullmatch(r"files\[\d+\]", name):
            files.append((name, part.get_filename() or "", data))
        else:
            raise ValueError(f"unexpected form field {name!r}")
    return payload, files


def _make_handler(fake: FakeDiscord) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeDiscord/1"

        def log_message(self, format: str, *args: Any) -> None:  # the request line holds tokens: stay quiet
            return

        # -- plumbing --

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            body = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            if data is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, message: str, code: int = 0,
                   headers: dict[str, str] | None = None) -> None:
            self._send_json(status, {"message": message, "code": code}, headers)

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_PUT(self) -> None:
            self._dispatch()

        def do_PATCH(self) -> None:
            self._dispatch()

        def do_DELETE(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            split = urlsplit(self.path)
            path, query = split.path, parse_qs(split.query)
            body = self._read_body()
            try:
                if path.startswith("/_fake/"):
                    self._control(path, query, body)
                elif path.startswith("/attachments/"):
                    self._cdn(path[len("/attachments/"):])
                elif path.startswith(API_PREFIX + "/"):
                    self._api(path[len(API_PREFIX):], query, body)
                else:
                    self._error(404, "404: Not Found")
            except (ValueError, KeyError, TypeError) as exc:
                self._error(400, f"Invalid Form Body: {type(exc).__name__}", 50035)

        # -- Discord API --

        def _api(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
            method = self.command
            with fake._lock:
                fake._state.requests.append({"method": method, "path": _redact(path),
                                             "user_agent": self.headers.get("User-Agent", ""),
                                             "authorization": bool(self.headers.get("Authorization"))})
            fault = fake._take_fault(method, path)
            if fault is not None:
                self._fault(fault)
                return
            extra = fake._take_rate_limit_headers()

            parts = path.strip("/").split("/")
            if parts[0] == "webhooks" and len(parts) >= 3:
                self._webhook(parts[1], parts[2], parts[3:], query, body, extra)
            elif parts[0] == "interactions" and len(parts) == 4 and parts[3] == "callback":
                self._callback(parts[1], parts[2], body, extra)
            elif parts[0] == "channels" and len(parts) == 3 and parts[2] == "messages":
                if self._authorized():
                    self._channel_message(parts[1], body, extra)
            elif parts == ["applications", "@me"]:
                if self._authorized():
                    status, data = fake.application.handle(method, body)
                    self._send_json(status, data, extra)
            elif parts in (["users", "@me"], ["oauth2", "applications", "@me"]):
                if self._authorized():
                    self._login(parts[0], extra)
            elif parts[0] == "applications" and "commands" in parts:
                if self._authorized():
                    self._commands(parts, body, extra)
            else:
                self._error(404, "404: Not Found")

        def _login(self, what: str, extra: dict[str, str]) -> None:
            # What discord.py's login reads; the bot user's id is the application's, as on Discord.
            bot = {"id": fake.application_id, "username": "trainer_bot", "discriminator": "0",
                   "global_name": "Trainer Bot", "avatar": None, "bot": True, "flags": 0}
            if what == "users":
                self._send_json(200, {**bot, "verified": True, "mfa_enabled": False}, extra)
            else:
                self._send_json(200, {"id": fake.application_id, "name": "Trainer Bot", "icon": None,
                                      "description": "", "bot_public": False, "bot_require_code_grant": False,
                                      "verify_key": "00" * 32, "flags": 0, "bot": bot, "team": None,
                                      "owner": {**bot, "bot": False, "id": "400000000000000001"}}, extra)

        def _fault(self, fault: Fault) -> None:
            if fault.status == 429:
                retry_after = 0.05 if fault.retry_after is None else fault.retry_after
                headers = {"X-RateLimit-Scope": "global" if fault.is_global else "user"}
                if fault.retry_after_header:
                    headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
                if fault.is_global:
                    headers["X-RateLimit-Global"] = "true"
                else:
                    headers.update({"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                                    "X-RateLimit-Reset-After": f"{retry_after:.3f}"})
                self._send_json(429, {"message": fault.message or "You are being rate limited.",
                                      "retry_after": retry_after, "global": fault.is_global,
                                      **({"code": fault.code} if fault.code is not None else {})}, headers)
            elif fault.status >= 500:
                body = (fault.message or "upstream connect error").encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._error(fault.status, fault.message or f"{fault.status}: error", fault.code or 0)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") != f"Bot {fake.bot_token}":
                self._error(401, "401: Unauthorized", 0)
                return False
            return True

        def _payload(self, body: bytes) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                payload, files = _parse_multipart(content_type, body)
                _check_limits(payload)
                return payload, files
            if not body:
                return {}, []
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("body is not an object")
            _check_limits(data)
            return data, []

        def _webhook(self, application_id: str, token: str, rest: list[str], query: dict[str, list[str]],
                     body: bytes, extra: dict[str, str]) -> None:
            if application_id != fake.application_id:
                self._error(404, "Unknown Webhook", UNKNOWN_WEBHOOK)
                return
            if fake._take_defer_404(token):
                self._error(404, "Unknown Webhook", UNKNOWN_WEBHOOK, extra)
                return
            method = self.command
            if not rest and method == "POST":
                payload, files = self._payload(body)
                message = fake._store_message(payload, files, channel_id="fake-channel")
                with fake._lock:
                    fake._state.followups.setdefault(token, []).append(message)
                wait = query.get("wait", ["false"])[0].lower() == "true"
                if wait:
                    self._send_json(200, message, extra)
                else:
                    self._send_json(204, None, extra)
                return
            if len(rest) == 2 and rest[0] == "messages":
                target = rest[1]
                with fake._lock:
                    if target == "@original":
                        current = fake._state.originals.get(token)
                    else:
                        current = next((m for m in fake._state.followups.get(token, []) if m["id"] == target),
                                       None)
                if method == "GET":
                    if current is None:
                        self._error(404, "Unknown Message", 10008, extra)
                    else:
                        self._send_json(200, _copy(current), extra)
                    return
                if method == "DELETE":
                    with fake._lock:
                        if target == "@original":
                            fake._state.originals.pop(token, None)
                    self._send_json(204, None, extra)
                    return
                if method == "PATCH":
                    payload, files = self._payload(body)
                    message = fake._store_message(payload, files, channel_id="fake-channel", previous=current)
                    with fake._lock:
                        if target == "@original":
                            fake._state.originals[token] = message
                            fake._state.edits.setdefault(token, []).append(
                                {**payload, "files": [{"filename": f, "size": len(d)} for _, f, d in files]})
                        elif current is not None:
                            current.clear()
                            current.update(message)
                        else:
                            self._error(404, "Unknown Message", 10008, extra)
                            return
                    self._send_json(200, message, extra)
                    return
            self._error(405, "405: Method Not Allowed", 0, extra)

        def _callback(self, interaction_id: str, token: str, body: bytes, extra: dict[str, str]) -> None:
            payload, files = self._payload(body)
            kind = int(payload["type"])
            data = payload.get("data") or {}
            with fake._lock:
                entry = {"interaction_id": interaction_id, **payload}
                fake._state.callbacks.setdefault(token, []).append(entry)
            if kind in (4, 5):  # channel message, deferred channel message
                message = fake._store_message(data if kind == 4 else {"flags": data.get("flags", 0)}, files,
                                              channel_id="fake-channel")
                if kind == 5:
                    message["deferred"] = True
                with fake._lock:
                    fake._state.originals[token] = message
            self._send_json(204, None, extra)

        def _channel_message(self, channel_id: str, body: bytes, extra: dict[str, str]) -> None:
            if self.command != "POST":
                self._error(405, "405: Method Not Allowed", 0, extra)
                return
            payload, files = self._payload(body)
            message = fake._store_message(payload, files, channel_id=channel_id)
            with fake._lock:
                fake._state.channels.setdefault(channel_id, []).append(message)
            self._send_json(200, message, extra)

        def _commands(self, parts: list[str], body: bytes, extra: dict[str, str]) -> None:
            # /applications/{app}/commands[/{id}] or /applications/{app}/guilds/{guild}/commands[/{id}]
            if parts[1] != fake.application_id:
                self._error(403, "Missing Access", 50001, extra)
                return
            guild = parts[3] if len(parts) >= 5 and parts[2] == "guilds" else ""
            tail = parts[parts.index("commands") + 1:]
            method = self.command
            with fake._lock:
                current = fake._state.commands.setdefault(guild, [])
                if method == "GET" and not tail:
                    self._send_json(200, _copy(current), extra)
                elif method == "PUT" and not tail:
                    data = json.loads(body or b"[]")
                    if not isinstance(data, list):
                        raise ValueError("bulk overwrite takes a list")
                    by_name = {c["name"]: c for c in current}
                    fresh = [self._command(c, guild, by_name.get(c.get("name", ""))) for c in data]
                    fake._state.commands[guild] = fresh
                    self._send_json(200, _copy(fresh), extra)
                elif method == "POST" and not tail:
                    data = json.loads(body)
                    old = next((c for c in current if c["name"] == data.get("name")), None)
                    command = self._command(data, guild, old)
                    if old is not None:
                        current.remove(old)
                    current.append(command)
                    self._send_json(201 if old is None else 200, _copy(command), extra)
                elif method == "DELETE" and len(tail) == 1:
                    fake._state.commands[guild] = [c for c in current if c["id"] != tail[0]]
                    self._send_json(204, None, extra)
                elif method == "GET" and len(tail) == 1:
                    found = next((c for c in current if c["id"] == tail[0]), None)
                    if found is None:
                        self._error(404, "Unknown application command", 10063, extra)
                    else:
                        self._send_json(200, _copy(found), extra)
                else:
                    self._error(405, "405: Method Not Allowed", 0, extra)

        def _command(self, data: dict[str, Any], guild: str, old: dict[str, Any] | None) -> dict[str, Any]:
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                raise ValueError("command without a name")
            command = dict(data)
            command["id"] = old["id"] if old else fake._next_id()
            command["application_id"] = fake.application_id
            command.setdefault("type", 1)
            command["version"] = fake._next_id()
            if guild:
                command["guild_id"] = guild
            return command

        # -- CDN --

        def _cdn(self, path: str) -> None:
            with fake._lock:
                entry = fake._state.cdn.get(path)
            if entry is None or self.command not in ("GET", "HEAD"):
                self._error(404, "404: Not Found")
                return
            if entry.redirect_to:
                target = entry.redirect_to
                if target.startswith("/"):
                    target = fake.url + target
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", entry.content_type)
            if entry.send_length:
                self.send_header("Content-Length", str(entry.size))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            try:
                for piece in entry.body():
                    if not piece:
                        continue
                    if entry.send_length:
                        self.wfile.write(piece)
                    else:
                        self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
                if not entry.send_length:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                # The client stopped reading (a byte cap did its job).
                self.close_connection = True

        # -- control API --

        def _control(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
            name = path[len("/_fake/"):]
            first = {k: v[0] for k, v in query.items()}
            if name == "messages" and self.command == "GET":
                if "token" in first:
                    self._send_json(200, {"messages": fake.messages(first["token"]),
                                          "edits": fake.edits(first["token"]),
                                          "callbacks": fake.callbacks(first["token"])})
                elif "channel_id" in first:
                    self._send_json(200, {"messages": fake.channel_messages(first["channel_id"])})
                else:
                    self._error(400, "give token or channel_id")
            elif name == "commands" and self.command == "GET":
                self._send_json(200, {"commands": fake.commands(first.get("guild_id"))})
            elif name == "requests" and self.command == "GET":
                self._send_json(200, {"requests": fake.request_log()})
            elif name.startswith("attachments/") and self.command == "GET":
                try:
                    data = fake.attachment_bytes(name[len("attachments/"):])
                except KeyError:
                    self._error(404, "404: Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif name == "faults" and self.command == "POST":
                spec = json.loads(body)
                fake.fail_next(int(spec["status"]), times=int(spec.get("times", 1)),
                               method=spec.get("method"),
                               path_contains=spec.get("path_contains"), retry_after=spec.get("retry_after"),
                               is_global=bool(spec.get("global")), code=spec.get("code"))
                self._send_json(204, None)
            elif name == "defer_404" and self.command == "POST":
                fake.not_found_after_defer(int(json.loads(body).get("times", 0)))
                self._send_json(204, None)
            elif name == "cdn" and self.command == "POST":
                spec = json.loads(body)
                cdn_data = base64.b64decode(spec["data_b64"]) if "data_b64" in spec else None
                url = fake.add_cdn_file(spec["path"], cdn_data, size=spec.get("size"),
                                        content_type=spec.get("content_type", "application/octet-stream"),
                                        redirect_to=spec.get("redirect_to"),
                                        send_length=spec.get("send_length", True))
                self._send_json(200, {"url": url})
            elif name == "reset" and self.command == "POST":
                fake.reset()
                self._send_json(204, None)
            else:
                self._error(404, "404: Not Found")

    return Handler


def main(argv: list[str] | None = None) -> None:
    """``python -m infra.fakes.discord_server [--port N]``: run the fake until interrupted (local stack)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bot-token", default="fake-bot-token")
    parser.add_argument("--application-id", default="100000000000000001")
    args = parser.parse_args(argv)
    with FakeDiscord(bot_token=args.bot_token, application_id=args.application_id, port=args.port) as fake:
        print(json.dumps({"api_base": fake.api_base, "cdn_host": fake.cdn_host, "url": fake.url}), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
