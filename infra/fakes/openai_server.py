"""A local fake of the OpenAI API for the local stack and the tests: a threaded HTTP server on 127.0.0.1.

It speaks the real wire format (JSON and multipart bodies, list envelopes, OpenAI's error shape) for Files,
Uploads, ``fine_tuning.jobs`` (create, retrieve, list with metadata filter, events, checkpoints, cancel,
pause,
resume), ``chat.completions`` and ``audio.transcriptions``. Request bodies are validated against
``infra/specs/openai-finetune-extract.yaml``; a mismatch gets a 400 in OpenAI's error shape. Training files
are
checked line by line against the training-line schemas while a job is ``validating_files``.

A job moves one status per retrieve (``validating_files → queued → running → succeeded``, or ``failed``), can
be
paused and resumed, and on success gets a result file with per-step metrics (base64 CSV, as the service serves
it), checkpoints and a model name. The server can be told to answer 429, 500, to stall (a timeout), or to
refuse
fine-tuning, and it can send signed webhook deliveries (Standard Webhooks, as OpenAI signs them).

    with FakeOpenAI() as fake:
        client = OpenAI(api_key="test", base_url=fake.url)
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from infra.fakes.loopback import LoopbackServer

logger = logging.getLogger(__name__)

# Copies of OpenAI's spec kept in the repository (infra/specs: a clone has nothing beside it), unless SPECS_DIR
# names another folder.
SPECS_DIR = Path(os.environ.get("SPECS_DIR", Path(__file__).resolve().parents[1] / "specs"))
API_SPEC = SPECS_DIR / "openai-finetune-extract.yaml"
LINE_SPEC = SPECS_DIR / "openai-training-line-schemas-2025-06.yaml"
BASE_MODELS = (
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-mini-2024-07-18",
)
LIFECYCLE = ("validating_files", "queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
SPEC_URI = "urn:openai-finetune-extract"


# --- schema validation --------------------------------------------------------------------------------------

# Schemas the extract references but does not contain, written from OpenAI's API reference (message shapes,
# metadata limits). Kept minimal and strict where the reference is strict.
_TEXT_CONTENT = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "text"],
                "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
            },
        },
    ]
}
_MISSING_SCHEMAS: dict[str, Any] = {
    "Metadata": {
        "anyOf": [
            {
                "type": "object",
                "maxProperties": 16,
                "propertyNames": {"maxLength": 64},
                "additionalProperties": {"type": "string", "maxLength": 512},
            },
            {"type": "null"},
        ]
    },
    "ChatCompletionRequestSystemMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {"role": {"enum": ["system"]}, "content": _TEXT_CONTENT, "name": {"type": "string"}},
    },
    "ChatCompletionRequestUserMessage": {
        "type": "object",
        "required": ["role", "content"],
        "properties": {"role": {"enum": ["user"]}, "content": _TEXT_CONTENT, "name": {"type": "string"}},
    },
    "ChatCompletionRequestAssistantMessage": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"enum": ["assistant"]},
            "content": {"anyOf": [_TEXT_CONTENT, {"type": "null"}]},
            "name": {"type": "string"},
            "tool_calls": {"type": "array"},
        },
    },
    "ChatCompletionRequestToolMessage": {
        "type": "object",
        "required": ["role", "content", "tool_call_id"],
        "properties": {
            "role": {"enum": ["tool"]},
            "content": _TEXT_CONTENT,
            "tool_call_id": {"type": "string"},
        },
    },
    "ChatCompletionRequestFunctionMessage": {
        "type": "object",
        "required": ["role", "content", "name"],
        "properties": {"role": {"enum": ["function"]}, "content": {"type": ["string", "null"]}},
    },
    "ChatCompletionTool": {"type": "object", "required": ["type", "function"]},
    "ChatCompletionFunctions": {"type": "object", "required": ["name"]},
    "ParallelToolCalls": {"type": "boolean"},
}


def _nullable_to_type(node: Any) -> Any:
    """The extract mixes OpenAPI 3.0 ``nullable: true`` with 3.1 schemas; express it as JSON Schema."""
    if isinstance(node, dict):
        node = {k: _nullable_to_type(v) for k, v in node.items()}
        if node.pop("nullable", False) is True:
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            elif "type" not in node and not any(k in node for k in ("allOf", "anyOf", "oneOf", "$ref")):
                pass
            else:
                node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable_to_type(v) for v in node]
    return node


class UncheckedRequests:
    """For the local stack on a machine without the spec files: the fake answers without checking bodies."""

    def errors(self, schema_name: str, instance: Any) -> list[str]:
        return []


def specs_available() -> bool:
    return API_SPEC.exists() and LINE_SPEC.exists()


class SpecValidator:
    """Validates request bodies and training lines against the spec extract (JSON Schema 2020-12)."""

    def __init__(self, api_spec: Path = API_SPEC, line_spec: Path = LINE_SPEC) -> None:
        import yaml
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        doc = yaml.safe_load(api_spec.read_text(encoding="utf-8"))
        lines = yaml.safe_load(line_spec.read_text(encoding="utf-8"))
        schemas = doc["components"]["schemas"]
        for name, schema in lines["components"]["schemas"].items():
            schemas.setdefault(name, schema)
        for name, schema in _MISSING_SCHEMAS.items():
            schemas.setdefault(name, schema)
        # Training lines: each example must carry its messages (the guide's rule; the schema leaves it
        # optional).
        schemas["FineTuneChatRequestInput"] = {
            **schemas["FineTuneChatRequestInput"],
            "required": ["messages"],
        }
        # OpenAI's DPO guide names the outputs preferred_output / non_preferred_output; the 2025-06 reference
        # schema called them *_completion. Validate the documented training-file keys with the schema's
        # shapes.
        pref = copy.deepcopy(schemas["FineTunePreferenceRequestInput"])
        props = pref["properties"]
        props["preferred_output"] = props.pop("preferred_completion")
        props["non_preferred_output"] = props.pop("non_preferred_completion")
        for key in ("preferred_output", "non_preferred_output"):
            props[key]["minItems"] = 1
        pref["required"] = ["input", "preferred_output", "non_preferred_output"]
        schemas["FineTunePreferenceTrainingLine"] = pref
        doc = _nullable_to_type(doc)
        self._registry = Registry().with_resource(SPEC_URI, Resource.from_contents(doc, DRAFT202012))
        self._validators: dict[str, Any] = {}
        self._lock = threading.Lock()

    def errors(self, schema_name: str, instance: Any) -> list[str]:
        from jsonschema import Draft202012Validator

        with self._lock:
            validator = self._validators.get(schema_name)
            if validator is None:
                validator = Draft202012Validator(
                    {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=self._registry
                )
                self._validators[schema_name] = validator
        out = []
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in err.absolute_path) or "(body)"
            out.append(f"{where}: {err.message}")
        return out


# --- webhooks -----------------------------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str, *, webhook_id: str, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers as OpenAI sends them: HMAC-SHA256 over ``id.timestamp.body``, base64,
    ``v1,``."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_delivery(
    event_type: str, job_id: str, secret: str, *, timestamp: int | None = None, event_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed ``fine_tuning.job.*`` delivery: the body bytes and headers."""
    now = int(time.time()) if timestamp is None else timestamp
    event_id = event_id or f"evt_{secrets.token_hex(12)}"
    body = json.dumps(
        {"id": event_id, "object": "event", "created_at": now, "type": event_type, "data": {"id": job_id}},
        separators=(",", ":"),
    ).encode()
    # The delivery id is the event id: a redelivery of the same event carries the same webhook-id.
    return body, sign_webhook(body, secret, webhook_id=event_id, timestamp=now)


# --- state --------------------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self.headers = headers or {}


@dataclass
class Rule:
    kind: str  # "status" | "delay" | "late" (the work is done, the answer is held back)
    value: float
    remaining: int
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str, route: str) -> bool:
        # Exact: "/fine_tuning/jobs" must not also catch "/fine_tuning/jobs/{id}" or a GET list.
        return (self.method is None or self.method == method) and self.path in (None, path, route)


@dataclass
class FakeJob:
    data: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    n_train_lines: int = 0


def _now() -> int:
    return int(time.time())


def _new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


class FakeOpenAI:
    """The fake server. Start and stop it as a context manager; ``url`` is the client's ``base_url``."""

    def __init__(
        self,
        *,
        base_models: tuple[str, ...] = BASE_MODELS,
        job_outcome: str = "succeeded",
        auto_advance: bool = True,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validator: SpecValidator | UncheckedRequests | None = None,
    ) -> None:
        self.base_models = set(base_models)
        self.job_outcome = job_outcome
        self.auto_advance = auto_advance
        self.refuse_fine_tuning = False
        self.transcription_text = "hello from the fake transcriber"
        # What GET /models/{id} reports as ``shutdown_date`` (Unix seconds), per model; absent: no field.
        self.shutdown_dates: dict[str, int] = {}
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_deliveries: list[tuple[str, int]] = []
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.models: set[str] = set()
        self._rules: list[Rule] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._validator = validator
        self._http = LoopbackServer("fake-openai")

    # --- lifecycle of the server itself ---

    @property
    def validator(self) -> SpecValidator | UncheckedRequests:
        if self._validator is None:
            self._validator = SpecValidator()
        return self._validator

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/v1"

    def start(self) -> FakeOpenAI:
        _ = self.validator  # load the spec before the first request, not inside it
        self._stopping.clear()
        self._http.start(_make_handler(self))
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- controls for tests and the local stack ---

    def fail_next(self, status: int, *, times: int = 1, path: str | None = None,
                  method: str | None = None) -> None:
        """Answer the next ``times`` requests to ``method`` ``path`` with ``status`` (429, 500, ...).

        ``path`` is the exact path without ``/v1``, or its route with ids as ``{id}``
        (``/fine_tuning/jobs/{id}``); None matches any path, as ``method`` None matches any method."""
        with self._lock:
            self._rules.append(Rule("status", status, times, path, method))

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None, method: str | None = None,
                   after: bool = False) -> None:
        """Stall the next ``times`` matching requests for ``seconds``: the client sees a timeout. With
        ``after`` the request is carried out first and only the answer is late (a create that happened
        although the client gave up)."""
        with self._lock:
            self._rules.append(Rule("late" if after else "delay", seconds, times, path, method))

    def set_status(self, job_id: str, status: str) -> None:
        with self._lock:
            self._transition(self.jobs[job_id], status)

    def advance(self, job_id: str) -> str:
        with self._lock:
            job = self.jobs[job_id]
            self._advance(job)
            return job.data["status"]

    def jobs_created(self) -> int:
        return self.counts["POST /fine_tuning/jobs 200"]

    # --- request handling ---

    def _take_rule(self, method: str, path: str, route: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(method, path, route):
                    rule.remaining -= 1
                    return rule
        return None

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path.removeprefix("/v1")
        query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        route = re.sub(r"/(file|upload|part|ftjob|ftckpt)[-_][A-Za-z0-9]+", r"/{id}", path)
        with self._lock:
            self.requests.append((method, path))
        try:
            rule = self._take_rule(method, path, route)
            if rule is not None and rule.kind == "delay":
                self._stopping.wait(rule.value)
            elif rule is not None and rule.kind == "status":
                status = int(rule.value)
                if status == 429:
                    raise ApiError(
                        429,
                        "Rate limit reached for requests (simulated).",
                        code="rate_limit_exceeded",
                        type_="requests",
                        headers={"retry-after-ms": "10"},
                    )
                raise ApiError(
                    status,
                    "The server had an error while processing your request (simulated).",
                    type_="server_error",
                )
            auth = headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                raise ApiError(
                    401,
                    "You didn't provide an API key.",
                    type_="invalid_request_error",
                    code="invalid_api_key",
                )
            if self.refuse_fine_tuning and path.startswith("/fine_tuning"):
                raise ApiError(
                    403,
                    "Fine-tuning is not available for your organization: OpenAI no longer accepts new "
                    "fine-tuning customers (simulated).",
                    code="fine_tuning_unavailable",
                )
            result = self._dispatch(method, path, query, headers, body)
            status, payload = (200, result) if not isinstance(result, tuple) else result
            with self._lock:
                self.counts[f"{method} {route} {status}"] += 1
            if rule is not None and rule.kind == "late":
                self._stopping.wait(rule.value)
            if isinstance(payload, bytes):
                return status, {"content-type": "application/octet-stream"}, payload
            return status, {"content-type": "application/json"}, json.dumps(payload).encode()
        except ApiError as err:
            with self._lock:
                self.counts[f"{method} {route} {err.status}"] += 1
            return (
                err.status,
                {"content-type": "application/json", **err.headers},
                json.dumps(err.body).encode(),
            )

    def _dispatch(
        self, method: str, path: str, query: list[tuple[str, str]], headers: Any, body: bytes
    ) -> Any:
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("POST", r"/files", self._create_file),
            ("GET", r"/files", self._list_files),
            ("GET", r"/files/(?P<fid>[^/]+)", self._get_file),
            ("DELETE", r"/files/(?P<fid>[^/]+)", self._delete_file),
            ("GET", r"/files/(?P<fid>[^/]+)/content", self._file_content),
            ("POST", r"/uploads", self._create_upload),
            ("POST", r"/uploads/(?P<uid>[^/]+)/parts", self._add_part),
            ("POST", r"/uploads/(?P<uid>[^/]+)/complete", self._complete_upload),
            ("POST", r"/uploads/(?P<uid>[^/]+)/cancel", self._cancel_upload),
            ("POST", r"/fine_tuning/jobs", self._create_job),
            ("GET", r"/fine_tuning/jobs", self._list_jobs),
            ("GET", r"/fine_tuning/jobs/(?P<jid>[^/]+)", self._get_job),
            ("POST", r"/fine_tuning/jobs/(?P<jid>[^/]+)/cancel", self._cancel_job),
            ("POST", r"/fine_tuning/jobs/(?P<jid>[^/]+)/pause", self._pause_job),
            ("POST", r"/fine_tuning/jobs/(?P<jid>[^/]+)/resume", self._resume_job),
            ("GET", r"/fine_tuning/jobs/(?P<jid>[^/]+)/events", self._job_events),
            ("GET", r"/fine_tuning/jobs/(?P<jid>[^/]+)/checkpoints", self._job_checkpoints),
            ("POST", r"/chat/completions", self._chat),
            ("GET", r"/models/(?P<model>[^/]+)", self._get_model),
            ("POST", r"/audio/transcriptions", self._transcribe),
        ]
        for verb, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return fn(query=dict(query), raw_query=query, headers=headers, body=body, **match.groupdict())
        raise ApiError(404, f"Invalid URL ({method} {path})")

    # --- body helpers ---

    def _json(self, headers: Any, body: bytes, schema: str | None) -> dict[str, Any]:
        if "application/json" not in headers.get("Content-Type", ""):
            raise ApiError(400, "Expected a JSON body (Content-Type: application/json).")
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"We could not parse the JSON body of your request: {exc}") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "The body of your request must be a JSON object.")
        if schema:
            errors = self.validator.errors(schema, data)
            if errors:
                raise ApiError(400, f"Invalid request: {errors[0]}", param=errors[0].split(":")[0])
        return data

    def _multipart(
        self, headers: Any, body: bytes, schema: str | None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ApiError(400, "Expected a multipart/form-data body.")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body
        )
        fields: dict[str, str] = {}
        files: dict[str, Any] = {}
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            filename = part.get_filename()
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            if filename is not None:
                files[name] = {
                    "filename": filename,
                    "content": payload,
                    "content_type": part.get_content_type(),
                }
            else:
                fields[name] = payload.decode("utf-8")
        if schema:
            instance: dict[str, Any] = dict(fields)
            for name in files:
                instance[name] = "<binary>"
            if "expires_after" in instance:
                instance.pop("expires_after")
            errors = self.validator.errors(schema, instance)
            if errors:
                raise ApiError(400, f"Invalid request: {errors[0]}", param=errors[0].split(":")[0])
        return fields, files

    # --- files ---

    def _store_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        file_id = _new_id("file-")
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": _now(),
            "expires_at": None,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
        }
        with self._lock:
            self.files[file_id] = obj
            self.file_content[file_id] = content
        return obj

    def _create_file(self, headers: Any, body: bytes, **_: Any) -> Any:
        fields, files = self._multipart(headers, body, "CreateFileRequest")
        upload = files.get("file")
        if upload is None:
            raise ApiError(400, "Missing file.", param="file")
        return self._store_file(upload["filename"], fields["purpose"], upload["content"])

    def _list_files(self, query: dict[str, str], **_: Any) -> Any:
        with self._lock:
            data = [
                f for f in self.files.values() if not query.get("purpose") or f["purpose"] == query["purpose"]
            ]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        }

    def _file(self, fid: str) -> dict[str, Any]:
        with self._lock:
            if fid not in self.files:
                raise ApiError(404, f"No such File object: {fid}", param="id")
            return self.files[fid]

    def _get_file(self, fid: str, **_: Any) -> Any:
        return self._file(fid)

    def _delete_file(self, fid: str, **_: Any) -> Any:
        self._file(fid)
        with self._lock:
            self.files.pop(fid)
            self.file_content.pop(fid, None)
        return {"id": fid, "object": "file", "deleted": True}

    def _file_content(self, fid: str, **_: Any) -> Any:
        self._file(fid)
        return 200, self.file_content[fid]

    # --- uploads ---

    def _create_upload(self, headers: Any, body: bytes, **_: Any) -> Any:
        data = self._json(headers, body, "CreateUploadRequest")
        upload_id = _new_id("upload_")
        obj = {
            "id": upload_id,
            "object": "upload",
            "bytes": data["bytes"],
            "created_at": _now(),
            "expires_at": _now() + 3600,
            "filename": data["filename"],
            "purpose": data["purpose"],
            "status": "pending",
            "file": None,
        }
        with self._lock:
            self.uploads[upload_id] = {"obj": obj, "parts": []}
        return obj

    def _upload(self, uid: str) -> dict[str, Any]:
        with self._lock:
            if uid not in self.uploads:
                raise ApiError(404, f"No such Upload: {uid}", param="upload_id")
            return self.uploads[uid]

    def _add_part(self, uid: str, headers: Any, body: bytes, **_: Any) -> Any:
        upload = self._upload(uid)
        _, files = self._multipart(headers, body, "AddUploadPartRequest")
        if upload["obj"]["status"] != "pending":
            raise ApiError(400, f"Upload {uid} is {upload['obj']['status']}.")
        part_id = _new_id("part_")
        with self._lock:
            self.parts[part_id] = files["data"]["content"]
            upload["parts"].append(part_id)
        return {"id": part_id, "object": "upload.part", "created_at": _now(), "upload_id": uid}

    def _complete_upload(self, uid: str, headers: Any, body: bytes, **_: Any) -> Any:
        upload = self._upload(uid)
        data = self._json(headers, body, "CompleteUploadRequest")
        if any(p not in upload["parts"] for p in data["part_ids"]):
            raise ApiError(400, "Unknown part id for this upload.", param="part_ids")
        content = b"".join(self.parts[p] for p in data["part_ids"])
        obj = upload["obj"]
        if len(content) != obj["bytes"]:
            raise ApiError(
                400, f"Upload has {len(content)} bytes, {obj['bytes']} were declared.", param="bytes"
            )
        if data.get("md5") and hashlib.md5(content, usedforsecurity=False).hexdigest() != data["md5"]:
            raise ApiError(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
        obj["file"] = self._store_file(obj["filename"], obj["purpose"], content)
        obj["status"] = "completed"
        return obj

    def _cancel_upload(self, uid: str, **_: Any) -> Any:
        upload = self._upload(uid)
        upload["obj"]["status"] = "cancelled"
        return upload["obj"]

    # --- fine-tuning jobs ---

    def _create_job(self, headers: Any, body: bytes, **_: Any) -> Any:
        data = self._json(headers, body, "CreateFineTuningJobRequest")
        if data["model"] not in self.base_models:
            raise ApiError(
                400,
                f"Model {data['model']} is not available for fine-tuning.",
                param="model",
                code="model_not_available",
            )
        for key in ("training_file", "validation_file"):
            fid = data.get(key)
            if fid is None:
                continue
            with self._lock:
                f = self.files.get(fid)
            if f is None:
                raise ApiError(400, f"invalid {key}: {fid}", param=key, code="invalid_file")
            if f["purpose"] != "fine-tune":
                raise ApiError(400, f"{key} {fid} must be uploaded with purpose 'fine-tune'.", param=key)
        method = data.get("method") or {"type": "supervised", "supervised": {}}
        mtype = method["type"]
        hyper = dict((method.get(mtype) or {}).get("hyperparameters") or {})
        epochs = hyper.get("n_epochs", "auto")
        hyper_out = {
            "n_epochs": epochs if epochs != "auto" else 3,
            "batch_size": hyper.get("batch_size", 1),
            "learning_rate_multiplier": hyper.get("learning_rate_multiplier", 1.8),
        }
        if mtype == "dpo":
            hyper_out["beta"] = hyper.get("beta", 0.1)
        job_id = _new_id("ftjob-")
        job = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": data["model"],
            "created_at": _now(),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-fake",
            "result_files": [],
            "status": "validating_files",
            "validation_file": data.get("validation_file"),
            "training_file": data["training_file"],
            "hyperparameters": {k: v for k, v in hyper_out.items() if k != "beta"},
            "trained_tokens": None,
            "error": None,
            "integrations": [],
            "seed": data.get("seed") if data.get("seed") is not None else 42,
            "estimated_finish": None,
            "method": {"type": mtype, mtype: {"hyperparameters": hyper_out}},
            "metadata": data.get("metadata"),
            "user_provided_suffix": data.get("suffix"),
        }
        fake_job = FakeJob(job)
        self._event(fake_job, "Created fine-tuning job")
        with self._lock:
            self.jobs[job_id] = fake_job
        return job

    def _job(self, jid: str) -> FakeJob:
        with self._lock:
            if jid not in self.jobs:
                raise ApiError(404, f"Could not find fine-tune: {jid}", param="fine_tuning_job_id")
            return self.jobs[jid]

    def _list_jobs(self, raw_query: list[tuple[str, str]], query: dict[str, str], **_: Any) -> Any:
        wanted = {}
        for key, value in raw_query:
            m = re.fullmatch(r"metadata\[(.+)\]", key)
            if m:
                wanted[m.group(1)] = value
        with self._lock:
            jobs = sorted((j.data for j in self.jobs.values()), key=lambda j: j["created_at"], reverse=True)
        jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        if "after" in query:
            ids = [j["id"] for j in jobs]
            jobs = jobs[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
        limit = int(query.get("limit", 20))
        return {"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit}

    def _get_job(self, jid: str, **_: Any) -> Any:
        job = self._job(jid)
        with self._lock:
            if self.auto_advance:
                self._advance(job)
            return job.data

    def _cancel_job(self, jid: str, **_: Any) -> Any:
        job = self._job(jid)
        with self._lock:
            if job.data["status"] in TERMINAL:
                raise ApiError(400, f"Job {jid} is already {job.data['status']} and cannot be cancelled.")
            self._transition(job, "cancelled")
            return job.data

    def _pause_job(self, jid: str, **_: Any) -> Any:
        job = self._job(jid)
        with self._lock:
            if job.data["status"] != "running":
                raise ApiError(400, f"Only a running job can be paused; {jid} is {job.data['status']}.")
            self._transition(job, "paused")
            return job.data

    def _resume_job(self, jid: str, **_: Any) -> Any:
        job = self._job(jid)
        with self._lock:
            if job.data["status"] != "paused":
                raise ApiError(400, f"Only a paused job can be resumed; {jid} is {job.data['status']}.")
            self._transition(job, "running")
            return job.data

    def _job_events(self, jid: str, query: dict[str, str], **_: Any) -> Any:
        job = self._job(jid)
        limit = int(query.get("limit", 20))
        with self._lock:
            events = list(reversed(job.events))  # newest first, as the service lists them
        return {"object": "list", "data": events[:limit], "has_more": len(events) > limit}

    def _job_checkpoints(self, jid: str, query: dict[str, str], **_: Any) -> Any:
        job = self._job(jid)
        limit = int(query.get("limit", 10))
        with self._lock:
            data = list(reversed(job.checkpoints))
        return {
            "object": "list",
            "data": data[:limit],
            "first_id": data[0]["id"] if data else None,
            "last_id": data[min(limit, len(data)) - 1]["id"] if data else None,
            "has_more": len(data) > limit,
        }

    # --- the simulated lifecycle (called with the lock held) ---

    def _event(
        self,
        job: FakeJob,
        message: str,
        *,
        level: str = "info",
        type_: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        job.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": _new_id("ftevent-"),
                "created_at": _now(),
                "level": level,
                "message": message,
                "type": type_,
                "data": data or {},
            }
        )

    def _advance(self, job: FakeJob) -> None:
        status = job.data["status"]
        if status in TERMINAL or status == "paused":
            return
        nxt = LIFECYCLE[LIFECYCLE.index(status) + 1] if status != LIFECYCLE[-1] else self.job_outcome
        self._transition(job, nxt)

    def _transition(self, job: FakeJob, status: str) -> None:
        data = job.data
        old = data["status"]
        if status == "queued" and old == "validating_files":
            problem = self._check_training_file(job)
            if problem:
                data["status"] = "failed"
                data["error"] = {
                    "code": "invalid_training_file",
                    "message": problem,
                    "param": "training_file",
                }
                data["finished_at"] = data["created_at"] + 30
                self._event(job, f"Training file validation failed: {problem}", level="error")
                self._notify(job)
                return
            self._event(job, "Files validated, moving job to queued state")
        data["status"] = status
        if status == "running" and old == "paused":
            self._event(job, "Fine-tuning job resumed")
        elif status == "running":
            self._event(job, "Fine-tuning job started")
        elif status == "paused":
            self._event(job, "Fine-tuning job paused")
        elif status == "succeeded":
            self._succeed(job)
        elif status == "failed":
            data["error"] = {
                "code": "training_failed",
                "message": "The job failed (simulated).",
                "param": None,
            }
            data["finished_at"] = data["created_at"] + 120
            self._event(job, "The job failed (simulated).", level="error")
        elif status == "cancelled":
            data["finished_at"] = data["created_at"] + 60
            self._event(job, "Fine-tuning job cancelled")
        if status in TERMINAL:
            self._notify(job)

    def _training_lines(self, job: FakeJob) -> list[Any]:
        content = self.file_content.get(job.data["training_file"], b"")
        return [line for line in content.decode("utf-8", errors="replace").splitlines() if line.strip()]

    def _check_training_file(self, job: FakeJob) -> str | None:
        schema = (
            "FineTunePreferenceTrainingLine"
            if job.data["method"]["type"] == "dpo"
            else "FineTuneChatRequestInput"
        )
        lines = self._training_lines(job)
        if not lines:
            return "The training file is empty."
        for number, raw in enumerate(lines, start=1):
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                return f"Line {number} is not valid JSON."
            errors = self.validator.errors(schema, line)
            if errors:
                return f"Line {number}: {errors[0]}"
        job.n_train_lines = len(lines)
        return None

    def _succeed(self, job: FakeJob) -> None:
        data = job.data
        hyper = data["method"][data["method"]["type"]]["hyperparameters"]
        epochs = int(hyper["n_epochs"])
        n_lines = max(1, job.n_train_lines)
        steps = max(3, min(60, n_lines * epochs))
        has_valid = data["validation_file"] is not None
        rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
        metrics: list[dict[str, float]] = []
        for step in range(1, steps + 1):
            train = 0.2 + 1.8 * math.exp(-3.0 * step / steps) + 0.05 * math.sin(step)
            valid = (
                0.3 + 1.7 * math.exp(-2.5 * step / steps)
                if has_valid and (step % 5 == 0 or step == steps)
                else None
            )
            acc = min(0.99, 0.5 + 0.45 * step / steps)
            rows.append(
                f"{step},{train:.5f},{acc:.4f},{'' if valid is None else f'{valid:.5f}'},"
                f"{'' if valid is None else f'{acc - 0.05:.4f}'}"
            )
            metrics.append(
                {
                    "step": float(step),
                    "train_loss": train,
                    "train_mean_token_accuracy": acc,
                    **({"valid_loss": valid, "valid_mean_token_accuracy": acc - 0.05} if valid else {}),
                }
            )
            if step % max(1, steps // 5) == 0 or step == steps:
                self._event(
                    job,
                    f"Step {step}/{steps}: training loss={train:.4f}",
                    type_="metrics",
                    data={"step": step, "train_loss": train, "total_steps": steps},
                )
        csv_text = "\n".join(rows) + "\n"
        result = self._store_file(
            "step_metrics.csv", "fine-tune-results", base64.b64encode(csv_text.encode())
        )
        suffix = data.get("user_provided_suffix") or ""
        model = f"ft:{data['model']}:fake-org:{suffix}:{data['id'][-8:]}"
        per_epoch = max(1, steps // epochs)
        for epoch in range(max(1, epochs - 2), epochs + 1):
            step = min(steps, per_epoch * epoch)
            name = model if epoch == epochs else f"{model}:ckpt-step-{step}"
            job.checkpoints.append(
                {
                    "object": "fine_tuning.job.checkpoint",
                    "id": _new_id("ftckpt_"),
                    "created_at": _now(),
                    "fine_tuned_model_checkpoint": name,
                    "fine_tuning_job_id": data["id"],
                    "step_number": step,
                    "metrics": metrics[step - 1],
                }
            )
        tokens = sum(len(line) // 4 for line in self._training_lines(job)) * epochs
        data.update(
            fine_tuned_model=model,
            trained_tokens=tokens,
            result_files=[result["id"]],
            finished_at=data["created_at"] + 60 * steps,
        )
        self.models.add(model)
        self._event(job, f"New fine-tuned model created: {model}")
        self._event(job, "The job has successfully completed")

    def _notify(self, job: FakeJob) -> None:
        if not (self.webhook_url and self.webhook_secret):
            return
        event_type = f"fine_tuning.job.{job.data['status']}"
        url, secret, job_id = self.webhook_url, self.webhook_secret, job.data["id"]
        # Off the request thread, as the service delivers asynchronously.
        threading.Thread(
            target=self.send_webhook, args=(url, event_type, job_id, secret), daemon=True
        ).start()

    def send_webhook(
        self,
        url: str,
        event_type: str,
        job_id: str,
        secret: str | None = None,
        *,
        timestamp: int | None = None,
        event_id: str | None = None,
    ) -> int:
        """POST one signed delivery to ``url``; returns the receiver's HTTP status."""
        import requests

        body, headers = webhook_delivery(
            event_type, job_id, secret or self.webhook_secret or "", timestamp=timestamp, event_id=event_id
        )
        try:
            status = requests.post(url, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException as exc:
            logger.warning("webhook delivery to %s failed: %s", url, exc)
            status = 0
        with self._lock:
            self.webhook_deliveries.append((event_type, status))
        return status

    # --- inference ---

    def _chat(self, headers: Any, body: bytes, **_: Any) -> Any:
        data = self._json(headers, body, None)
        model, messages = data.get("model"), data.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            raise ApiError(
                400, "'model' (string) and 'messages' (non-empty array) are required.", param="messages"
            )
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
            ):
                raise ApiError(400, f"Invalid value for messages[{i}].role.", param=f"messages[{i}].role")
        with self._lock:
            known = model in self.base_models or model in self.models
        if not known:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        answer = self._learned_answer(model, prompt) or f"(simulated {model}) You said: {prompt}"
        return {
            "id": _new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": _now(),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def _get_model(self, model: str, **_: Any) -> Any:
        model = urllib.parse.unquote(model)
        with self._lock:
            known = model in self.base_models or model in self.models
            shutdown = self.shutdown_dates.get(model)
        if not known:
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found")
        data: dict[str, Any] = {"id": model, "object": "model", "created": 1744588800, "owned_by": "system"}
        if shutdown is not None:
            data["shutdown_date"] = shutdown
        return data

    def _learned_answer(self, model: str, prompt: Any) -> str | None:
        """A fine-tuned fake model 'remembers' its training answers, so a demo shows the training worked."""
        with self._lock:
            job = next((j for j in self.jobs.values() if j.data.get("fine_tuned_model") == model), None)
            if job is None:
                return None
            for raw in self._training_lines(job):
                line = json.loads(raw)
                msgs = line.get("messages") or (line.get("input") or {}).get("messages") or []
                users = [m.get("content") for m in msgs if m.get("role") == "user"]
                if users and users[-1] == prompt:
                    if "preferred_output" in line:
                        return line["preferred_output"][0]["content"]
                    return msgs[-1]["content"]
        return None

    def _transcribe(self, headers: Any, body: bytes, **_: Any) -> Any:
        fields, files = self._multipart(headers, body, None)
        if "file" not in files or not fields.get("model"):
            raise ApiError(400, "'file' and 'model' are required.", param="file")
        if not files["file"]["content"]:
            raise ApiError(400, "The audio file is empty.", param="file")
        return {"text": self.transcription_text}


def _make_handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = fake.handle(self.command, self.path, self.headers, body)
            try:
                self.send_response(
                    status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
                )
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-request-id", _new_id("req_"))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a simulated timeout)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("fake openai: " + format, *args)

    return Handler


def main() -> None:  # pragma: no cover - manual use: python -m infra.fakes.openai_server
    logging.basicConfig(level=logging.INFO)
    with FakeOpenAI() as fake:
        print(f"fake OpenAI listening at {fake.url}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
