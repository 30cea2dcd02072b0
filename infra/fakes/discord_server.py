"""A local fake of Discord's REST API and CDN, for tests and the local stack: a small Flask app on loopback.

It fakes what the product calls, in Discord's wire format (JSON, or ``multipart/form-data`` with
``payload_json`` + ``files[n]``; errors as ``{"message", "code"}``):

    PATCH /api/v10/webhooks/{application}/{token}/messages/@original   the worker edits its deferred reply
    POST  /api/v10/webhooks/{application}/{token}[?wait=true]          a follow-up
    POST  /api/v10/channels/{channel}/messages                         a post as the bot (bot token)
    GET   /api/v10/applications/{application}[/guilds/{guild}]/commands, and PUT (bulk overwrite; bot token)
    GET   /attachments/{path}                                          the CDN (the signed query is ignored)

What the bot sent is kept per interaction token and per channel; tests read it back through the methods of
:class:`FakeDiscord`, the local command-line client over HTTP::

    GET  /_fake/messages?token=T | ?channel_id=C   the replies to one interaction, or a channel's messages
    GET  /_fake/attachments/{id}                   the bytes of an uploaded file (attachment URLs point here)
    POST /_fake/cdn      {"path", "data_b64" | "size", "content_type", "redirect_to", "send_length"}
    POST /_fake/faults   {"status", "times", "method", "path_contains", "retry_after", "global", "code"}
    POST /_fake/reset    forget everything

    with FakeDiscord() as discord:
        settings = Settings(discord_api_base=discord.api_base, discord_bot_token=discord.bot_token)
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from infra.fakes.discord_application import FakeApplication
from infra.fakes.loopback import LoopbackServer

API_PREFIX = "/api/v10"
MAX_CONTENT = 2000  # Discord answers 400 Invalid Form Body beyond this
UNKNOWN_WEBHOOK = 10015
INVALID_FORM_BODY = 50035
CHUNK = 64 * 1024

_TOKEN_PATH = re.compile(r"(/(?:webhooks|interactions)/[^/?#]+/)([^/?#]+)")
_FILE_PART = re.compile(r"files\[\d+\]")


def generated_chunks(size: int, seed: str = "cdn", chunk: int = CHUNK) -> Iterator[bytes]:
    """Deterministic bytes of a given size, produced a chunk at a time (the CDN's generated files)."""
    block = (hashlib.sha256(seed.encode()).digest() * (chunk // 32 + 1))[:chunk]
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

    def response(self) -> Response:
        if self.status >= 500:
            return Response(self.message or "upstream connect error", self.status, content_type="text/plain")
        if self.status != 429:
            return _error(self.status, self.message or f"{self.status}: error", self.code or 0)
        retry_after = 0.05 if self.retry_after is None else self.retry_after
        headers = {"X-RateLimit-Scope": "global" if self.is_global else "user"}
        if self.retry_after_header:
            headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update({"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset-After": f"{retry_after:.3f}"})
        body = {"message": self.message or "You are being rate limited.", "retry_after": retry_after,
                "global": self.is_global, **({"code": self.code} if self.code is not None else {})}
        return _json(429, body, headers)


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
        # GET/PATCH /applications/@me, as make deploy uses them (infra/fakes/discord_application.py).
        self.application = FakeApplication(application_id)
        self.app = create_app(self)
        self._http = LoopbackServer("fake-discord", host=host, port=port)
        self._lock = threading.RLock()
        self._state = _State()
        self._ids = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> FakeDiscord:
        self._http.start(self.app)
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
            original = self._state.originals.get(token)
            return _copy(([original] if original else []) + self._state.followups.get(token, []))

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
        """Method, path (tokens redacted), user agent and whether an Authorization header came, per API call."""
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
                     seed: str = "cdn", chunks: Callable[[], Iterable[bytes]] | None = None,
                     content_type: str = "application/octet-stream", redirect_to: str | None = None,
                     send_length: bool = True) -> str:
        """Serve a file at ``/attachments/{path}``; return its URL.

        ``data``: the bytes. ``size`` alone: generated bytes (:func:`generated_chunks`). ``chunks`` + ``size``:
        a factory of chunks (called per request). ``redirect_to``: answer 302 to that URL instead.
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

    # -- state changes behind the routes --------------------------------------------------------------------

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

    def _message(self, payload: dict[str, Any], files: list[tuple[str, str, bytes]], *, channel_id: str,
                 previous: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = dict(previous or {})
        message.setdefault("id", self._next_id())
        message["channel_id"] = channel_id
        for key in ("content", "embeds", "components", "flags", "allowed_mentions", "tts", "poll"):
            if key in payload:
                message[key] = payload[key]
        message.setdefault("content", "")
        message.setdefault("embeds", [])
        message.setdefault("components", [])
        if files or "attachments" in payload:
            declared = {str(a.get("id")): a for a in payload.get("attachments") or []}
            # Existing attachments listed by their snowflake id are kept, as Discord does on edit.
            kept = [old for old in message.get("attachments", []) if old["id"] in declared]
            for index, (part_name, filename, data) in enumerate(files):
                meta = declared.get(part_name[len("files["):-1], {})
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


# --- the app ---------------------------------------------------------------------------------------------


def create_app(fake: FakeDiscord) -> Flask:
    app = Flask("fake_discord")
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)

    @api.before_request
    def log_and_inject_faults() -> Response | None:
        request.get_data()  # read the body even when a fault answers, so the connection stays in step
        path = request.path.removeprefix(API_PREFIX)
        with fake._lock:
            fake._state.requests.append({"method": request.method, "path": _redact(path),
                                         "user_agent": request.headers.get("User-Agent", ""),
                                         "authorization": bool(request.headers.get("Authorization"))})
        fault = fake._take_fault(request.method, path)
        g.faulted = fault is not None
        return fault.response() if fault is not None else None

    @api.after_request
    def rate_limit_headers(response: Response) -> Response:
        if not g.get("faulted"):
            response.headers.update(fake._take_rate_limit_headers())
        return response

    def webhook_gate(application_id: str, token: str) -> Response | None:
        if application_id != fake.application_id or fake._take_defer_404(token):
            return _error(404, "Unknown Webhook", UNKNOWN_WEBHOOK)
        return None

    def bot_gate(application_id: str | None = None) -> Response | None:
        if request.headers.get("Authorization") != f"Bot {fake.bot_token}":
            return _error(401, "401: Unauthorized")
        if application_id is not None and application_id != fake.application_id:
            return _error(403, "Missing Access", 50001)
        return None

    @api.patch("/webhooks/<application_id>/<token>/messages/@original")
    def edit_original(application_id: str, token: str) -> Response:
        if (refused := webhook_gate(application_id, token)) is not None:
            return refused
        payload, files = _message_payload()
        with fake._lock:
            message = fake._message(payload, files, channel_id="fake-channel",
                                    previous=fake._state.originals.get(token))
            fake._state.originals[token] = message
            fake._state.edits.setdefault(token, []).append(
                {**payload, "files": [{"filename": name, "size": len(data)} for _, name, data in files]})
        return _json(200, message)

    @api.post("/webhooks/<application_id>/<token>")
    def followup(application_id: str, token: str) -> Response:
        if (refused := webhook_gate(application_id, token)) is not None:
            return refused
        payload, files = _message_payload()
        message = fake._message(payload, files, channel_id="fake-channel")
        with fake._lock:
            fake._state.followups.setdefault(token, []).append(message)
        # Without wait=true Discord answers 204 and no message.
        return _json(200, message) if request.args.get("wait", "").lower() == "true" else Response(status=204)

    @api.post("/channels/<channel_id>/messages")
    def create_message(channel_id: str) -> Response:
        if (refused := bot_gate()) is not None:
            return refused
        payload, files = _message_payload()
        message = fake._message(payload, files, channel_id=channel_id)
        with fake._lock:
            fake._state.channels.setdefault(channel_id, []).append(message)
        return _json(200, message)

    # What discord.py's login reads (the voice worker); the bot user's id is the application's, as on Discord.
    # Content-Type is exactly application/json: with a charset discord.py reads the body as text.
    def bot_user() -> dict[str, Any]:
        return {"id": fake.application_id, "username": "trainer_bot", "discriminator": "0",
                "global_name": "Trainer Bot", "avatar": None, "bot": True, "flags": 0}

    @api.get("/users/@me")
    def current_user() -> Response:
        if (refused := bot_gate()) is not None:
            return refused
        return _json(200, {**bot_user(), "verified": True, "mfa_enabled": False})

    @api.get("/oauth2/applications/@me")
    def current_application() -> Response:
        if (refused := bot_gate()) is not None:
            return refused
        bot = bot_user()
        return _json(200, {"id": fake.application_id, "name": "Trainer Bot", "icon": None, "description": "",
                           "bot_public": False, "bot_require_code_grant": False, "verify_key": "00" * 32,
                           "flags": 0, "bot": bot, "team": None,
                           "owner": {**bot, "bot": False, "id": "400000000000000001"}})

    @api.get("/gateway/bot")
    def bot_gateway() -> Response:
        if (refused := bot_gate()) is not None:
            return refused
        # Discord's own formula is not published; about one shard per 1,000 servers is what it recommends.
        shards = max(1, -(-fake.application.approximate_guild_count // 1000))
        return _json(200, {"url": "wss://gateway.discord.gg", "shards": shards, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    @api.route("/applications/@me", methods=["GET", "PATCH"])
    def edit_application() -> Response:
        if (refused := bot_gate()) is not None:
            return refused
        status, data = fake.application.handle(request.method, request.get_data())
        return _json(status, data)

    @api.route("/applications/<application_id>/commands", methods=["GET", "PUT"])
    @api.route("/applications/<application_id>/guilds/<guild_id>/commands", methods=["GET", "PUT"])
    def commands(application_id: str, guild_id: str = "") -> Response:
        if (refused := bot_gate(application_id)) is not None:
            return refused
        with fake._lock:
            current = fake._state.commands.setdefault(guild_id, [])
            if request.method == "GET":
                return _json(200, current)
            wanted = json.loads(request.get_data() or b"[]")
            if not isinstance(wanted, list):
                raise ValueError("bulk overwrite takes a list")
            by_name = {c["name"]: c for c in current}
            fresh = [_command(fake, c, guild_id, by_name.get(c.get("name", ""))) for c in wanted]
            fake._state.commands[guild_id] = fresh
            return _json(200, fresh)

    app.register_blueprint(api)

    @app.get("/attachments/<path:path>")
    def cdn(path: str) -> Response:
        with fake._lock:
            entry = fake._state.cdn.get(path)
        if entry is None:
            return _error(404, "404: Not Found")
        if entry.redirect_to:
            target = fake.url + entry.redirect_to if entry.redirect_to.startswith("/") else entry.redirect_to
            return Response(status=302, headers={"Location": target})
        response = Response(entry.body(), content_type=entry.content_type, direct_passthrough=True)
        if entry.send_length:
            response.content_length = entry.size
        return response

    # -- control API for tests and the local command-line client --

    @app.get("/_fake/messages")
    def read_messages() -> Response:
        if "token" in request.args:
            token = request.args["token"]
            return _json(200, {"messages": fake.messages(token), "edits": fake.edits(token)})
        if "channel_id" in request.args:
            return _json(200, {"messages": fake.channel_messages(request.args["channel_id"])})
        return _error(400, "give token or channel_id")

    @app.get("/_fake/attachments/<attachment_id>")
    def read_attachment(attachment_id: str) -> Response:
        try:
            return Response(fake.attachment_bytes(attachment_id), content_type="application/octet-stream")
        except KeyError:
            return _error(404, "404: Not Found")

    @app.post("/_fake/cdn")
    def put_cdn_file() -> Response:
        spec = json.loads(request.get_data())
        data = base64.b64decode(spec["data_b64"]) if "data_b64" in spec else None
        url = fake.add_cdn_file(spec["path"], data, size=spec.get("size"),
                                content_type=spec.get("content_type", "application/octet-stream"),
                                redirect_to=spec.get("redirect_to"), send_length=spec.get("send_length", True))
        return _json(200, {"url": url})

    @app.post("/_fake/faults")
    def add_fault() -> Response:
        spec = json.loads(request.get_data())
        fake.fail_next(int(spec["status"]), times=int(spec.get("times", 1)), method=spec.get("method"),
                       path_contains=spec.get("path_contains"), retry_after=spec.get("retry_after"),
                       is_global=bool(spec.get("global")), code=spec.get("code"))
        return Response(status=204)

    @app.post("/_fake/reset")
    def reset() -> Response:
        fake.reset()
        return Response(status=204)

    @app.errorhandler(ValueError)
    @app.errorhandler(KeyError)
    @app.errorhandler(TypeError)
    def invalid_form_body(exc: Exception) -> Response:
        return _error(400, f"Invalid Form Body: {type(exc).__name__}", INVALID_FORM_BODY)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _error(status, f"{status}: {exc.name}")

    return app


def _message_payload() -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """The message object of a JSON body, or of a multipart body's ``payload_json``, and its ``files[n]``."""
    if request.mimetype == "multipart/form-data":
        unexpected = [name for name in request.form if name != "payload_json"]
        unexpected += [name for name in request.files if not _FILE_PART.fullmatch(name)]
        if unexpected:
            raise ValueError(f"unexpected form field {unexpected[0]!r}")
        payload = json.loads(request.form.get("payload_json", "{}"))
        files = [(name, part.filename or "", part.read()) for name, part in request.files.items(multi=True)]
    else:
        payload, files = json.loads(request.get_data() or b"{}"), []
    if not isinstance(payload, dict):
        raise ValueError("body is not an object")
    content = payload.get("content")
    if content is not None and (not isinstance(content, str) or len(content) > MAX_CONTENT):
        raise ValueError("content: Must be 2000 or fewer in length.")
    return payload, files


def _command(fake: FakeDiscord, data: Any, guild_id: str, old: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError("command without a name")
    command = {**data, "id": old["id"] if old else fake._next_id(), "application_id": fake.application_id,
               "version": fake._next_id()}
    command.setdefault("type", 1)
    if guild_id:
        command["guild_id"] = guild_id
    return command


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status, headers=headers, content_type="application/json")


def _error(status: int, message: str, code: int = 0) -> Response:
    return _json(status, {"message": message, "code": code})


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _redact(path: str) -> str:
    return _TOKEN_PATH.sub(r"\1{token}", path)


def main(argv: list[str] | None = None) -> None:
    """``python -m infra.fakes.discord_server [--port N]``: run the fake until interrupted (local stack)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bot-token", default="fake-bot-token")
    parser.add_argument("--application-id", default="100000000000000001")
    args = parser.parse_args(argv)
    with FakeDiscord(bot_token=args.bot_token, application_id=args.application_id, port=args.port) as fake:
        print(json.dumps({"api_base": fake.api_base, "cdn_host": fake.cdn_host, "url": fake.url}), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
