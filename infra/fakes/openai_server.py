"""A local fake of the OpenAI API for the local stack and the tests: a small Flask app on loopback.

It fakes what the product calls, in OpenAI's wire format (JSON and multipart bodies, list envelopes, its error
shape): Files (create, content), Uploads (create, parts, complete), ``fine_tuning.jobs`` (create, retrieve,
list with a metadata filter, events, checkpoints, cancel), ``chat.completions``, ``models.retrieve`` (with a
model's ``shutdown_date`` when a test sets one) and ``audio.transcriptions``.
Request bodies are validated against ``infra/specs/openai-finetune-extract.yaml``; a mismatch gets a 400.
Training files are checked line by line against the training-line schemas while a job is ``validating_files``.

A job moves one status per retrieve (``validating_files → queued → running → succeeded``, or ``failed``); a
test may set any status the service reports (``paused`` included). On success a job gets a result file with
per-step metrics (base64 CSV, as the service serves it), checkpoints and a model name. The fake can be told to
answer 429 or 500, to stall (a timeout), or to refuse fine-tuning, and it sends signed webhook deliveries
(Standard Webhooks, as OpenAI signs them).

    with FakeOpenAI() as fake:
        client = OpenAI(api_key="test", base_url=fake.url)
"""

from __future__ import annotations

import base64
import copy
import functools
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from infra.fakes.loopback import LoopbackServer

logger = logging.getLogger(__name__)

# The specs copied into the repository (infra/specs), unless SPECS_DIR names another folder.
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
# OpenAI refuses a training file with fewer examples than this (its fine-tuning guide: "at least 10").
MIN_TRAINING_EXAMPLES = 10
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
    """The extract mixes OpenAPI 3.0 ``nullable: true`` and boolean exclusive bounds with 3.1 schemas; express
    them as JSON Schema."""
    if isinstance(node, dict):
        node = {k: _nullable_to_type(v) for k, v in node.items()}
        # OpenAPI 3.0's boolean exclusiveMinimum/Maximum (with minimum/maximum) is a number in JSON Schema; as a
        # boolean, True would be read as the bound 1 (DPO's beta in (0, 2] would refuse 0.1).
        for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(flag), bool):
                if node.pop(flag) and bound in node:
                    node[flag] = node.pop(bound)
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
        # Training lines: each example must carry its messages (the guide's rule; the schema leaves it optional).
        schemas["FineTuneChatRequestInput"] = {
            **schemas["FineTuneChatRequestInput"],
            "required": ["messages"],
        }
        # OpenAI's DPO guide names the outputs preferred_output / non_preferred_output; the 2025-06 reference
        # schema called them *_completion. Validate the documented training-file keys with the schema's shapes.
        pref = copy.deepcopy(schemas["FineTunePreferenceRequestInput"])
        props = pref["properties"]
        props["preferred_output"] = props.pop("preferred_completion")
        props["non_preferred_output"] = props.pop("non_preferred_completion")
        for key in ("preferred_output", "non_preferred_output"):
            props[key]["minItems"] = 1
        pref["required"] = ["input", "preferred_output", "non_preferred_output"]
        pref["properties"]["input"] = {**pref["properties"]["input"], "required": ["messages"]}
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


@functools.cache
def shared_validator() -> SpecValidator:
    """One validator per process: loading the specs takes a while, and they never change under a test run."""
    return SpecValidator()


# --- webhooks -----------------------------------------------------------------------------------------------


def sign_webhook(body: bytes, secret: str, *, webhook_id: str, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers as OpenAI sends them: HMAC-SHA256 over ``id.timestamp.body``, base64, ``v1,``."""
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
    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type_: str = "invalid_request_error", headers: dict[str, str] | None = None) -> None:
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

    def __init__(self, *, base_models: tuple[str, ...] = BASE_MODELS, job_outcome: str = "succeeded",
                 auto_advance: bool = True, webhook_url: str | None = None, webhook_secret: str | None = None,
                 validator: SpecValidator | None = None) -> None:
        self.base_models = set(base_models)
        self.job_outcome = job_outcome
        self.auto_advance = auto_advance
        self.refuse_fine_tuning = False
        self.transcription_text = "hello from the fake transcriber"
        self.transcriptions: list[dict[str, str]] = []  # the form fields of each transcription request
        # What GET /models/{id} reports as ``shutdown_date`` (Unix seconds), per model; absent: no field.
        self.shutdown_dates: dict[str, int] = {}
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_deliveries: list[tuple[str, int]] = []
        self.counts: Counter[str] = Counter()  # "METHOD /route/{id} STATUS"
        self.requests: list[tuple[str, str]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_content: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.models: set[str] = set()
        self.app = create_app(self)
        self._rules: list[Rule] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._validator = validator
        self._http = LoopbackServer("fake-openai")

    # --- lifecycle of the server itself ---

    @property
    def validator(self) -> SpecValidator:
        if self._validator is None:
            self._validator = shared_validator()
        return self._validator

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/v1"

    def start(self) -> FakeOpenAI:
        _ = self.validator  # load the spec before the first request, not inside it
        self._stopping.clear()
        self._http.start(self.app)
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

        ``path`` is the exact path without ``/v1``, or its route with ids as ``{id}`` (``/fine_tuning/jobs/{id}``);
        None matches any path, as ``method`` None matches any method."""
        with self._lock:
            self._rules.append(Rule("status", status, times, path, method))

    def delay_next(self, seconds: float, *, times: int = 1, path: str | None = None, method: str | None = None,
                   after: bool = False) -> None:
        """Stall the next ``times`` matching requests for ``seconds``: the client sees a timeout. With ``after``
        the request is carried out first and only the answer is late (a create that happened although the
        client gave up)."""
        with self._lock:
            self._rules.append(Rule("late" if after else "delay", seconds, times, path, method))

    def set_status(self, job_id: str, status: str) -> None:
        with self._lock:
            self._transition(self.jobs[job_id], status)

    def jobs_created(self) -> int:
        return self.counts["POST /fine_tuning/jobs 200"]

    def send_webhook(self, url: str, event_type: str, job_id: str, secret: str | None = None, *,
                     timestamp: int | None = None, event_id: str | None = None) -> int:
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

    # --- what the routes share ---

    def _take_rule(self, method: str, path: str, route: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and rule.matches(method, path, route):
                    rule.remaining -= 1
                    return rule
        return None

    def _checked(self, schema: str, instance: dict[str, Any]) -> None:
        errors = self.validator.errors(schema, instance)
        if errors:
            raise ApiError(400, f"Invalid request: {errors[0]}", param=errors[0].split(":")[0])

    def _store_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        file_id = _new_id("file-")
        obj = {"id": file_id, "object": "file", "bytes": len(content), "created_at": _now(),
               "expires_at": None, "filename": filename, "purpose": purpose, "status": "processed",
               "status_details": None}
        with self._lock:
            self.files[file_id] = obj
            self.file_content[file_id] = content
        return obj

    def _upload(self, upload_id: str) -> dict[str, Any]:
        with self._lock:
            if upload_id not in self.uploads:
                raise ApiError(404, f"No such Upload: {upload_id}", param="upload_id")
            return self.uploads[upload_id]

    def _job(self, job_id: str) -> FakeJob:
        with self._lock:
            if job_id not in self.jobs:
                raise ApiError(404, f"Could not find fine-tune: {job_id}", param="fine_tuning_job_id")
            return self.jobs[job_id]

    # --- the simulated lifecycle (called with the lock held) ---

    def _event(self, job: FakeJob, message: str, *, level: str = "info", type_: str = "message",
               data: dict[str, Any] | None = None) -> None:
        job.events.append({"object": "fine_tuning.job.event", "id": _new_id("ftevent-"), "created_at": _now(),
                           "level": level, "message": message, "type": type_, "data": data or {}})

    def _advance(self, job: FakeJob) -> None:
        status = job.data["status"]
        if status in TERMINAL or status == "paused":
            return
        self._transition(job, LIFECYCLE[LIFECYCLE.index(status) + 1] if status != LIFECYCLE[-1] else self.job_outcome)

    def _transition(self, job: FakeJob, status: str) -> None:
        data = job.data
        old = data["status"]
        if status == "queued" and old == "validating_files":
            problem = self._check_training_file(job)
            if problem:
                data.update(status="failed", finished_at=data["created_at"] + 30,
                            error={"code": "invalid_training_file", "message": problem, "param": "training_file"})
                self._event(job, f"Training file validation failed: {problem}", level="error")
                self._notify(job)
                return
            self._event(job, "Files validated, moving job to queued state")
        data["status"] = status
        if status == "running":
            self._event(job, "Fine-tuning job resumed" if old == "paused" else "Fine-tuning job started")
        elif status == "paused":
            self._event(job, "Fine-tuning job paused")
        elif status == "succeeded":
            self._succeed(job)
        elif status == "failed":
            data.update(finished_at=data["created_at"] + 120,
                        error={"code": "training_failed", "message": "The job failed (simulated).", "param": None})
            self._event(job, "The job failed (simulated).", level="error")
        elif status == "cancelled":
            data["finished_at"] = data["created_at"] + 60
            self._event(job, "Fine-tuning job cancelled")
        if status in TERMINAL:
            self._notify(job)

    def _training_lines(self, job: FakeJob) -> list[str]:
        content = self.file_content.get(job.data["training_file"], b"")
        return [line for line in content.decode("utf-8", errors="replace").splitlines() if line.strip()]

    def _check_training_file(self, job: FakeJob) -> str | None:
        dpo = job.data["method"]["type"] == "dpo"
        schema = "FineTunePreferenceTrainingLine" if dpo else "FineTuneChatRequestInput"
        lines = self._training_lines(job)
        if not lines:
            return "The training file is empty."
        if len(lines) < MIN_TRAINING_EXAMPLES:
            return (f"Training file has {len(lines)} example(s), but must have at least {MIN_TRAINING_EXAMPLES} "
                    "examples.")
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
        result = self._store_file("step_metrics.csv", "fine-tune-results", base64.b64encode(csv_text.encode()))
        suffix = data.get("user_provided_suffix") or ""
        # A model tuned again keeps the base model's name in its own, as the service names them.
        base = data["model"].split(":")[1] if data["model"].startswith("ft:") else data["model"]
        model = f"ft:{base}:fake-org:{suffix}:{data['id'][-8:]}"
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
        # Off the request thread, as the service delivers asynchronously.
        threading.Thread(target=self.send_webhook, daemon=True,
                         args=(self.webhook_url, event_type, job.data["id"], self.webhook_secret)).start()

    def _learned_answer(self, model: str, prompt: Any) -> str | None:
        """A fine-tuned fake model 'remembers' its training answers, so a demo shows the training worked; a model
        tuned from another fine-tuned one remembers that one's answers too (its own first)."""
        with self._lock:
            seen: set[str] = set()
            while model not in seen:
                seen.add(model)
                job = next((j for j in self.jobs.values() if j.data.get("fine_tuned_model") == model), None)
                if job is None:
                    return None
                for raw in self._training_lines(job):
                    line = json.loads(raw)
                    msgs = line.get("messages") or (line.get("input") or {}).get("messages") or []
                    users = [m.get("content") for m in msgs if m.get("role") == "user"]
                    if users and users[-1] == prompt:
                        if "preferred_output" in line:
                            return str(line["preferred_output"][0]["content"])
                        return str(msgs[-1]["content"])
                model = str(job.data["model"])
        return None


# --- the app -------------------------------------------------------------------------------------------------


def create_app(fake: FakeOpenAI) -> Flask:
    app = Flask("fake_openai")

    @app.before_request
    def faults_and_auth() -> None:
        request.get_data()  # read the body even when an error answers, so the connection stays in step
        path = request.path.removeprefix("/v1")
        g.route = _route(path)
        with fake._lock:
            fake.requests.append((request.method, path))
        rule = fake._take_rule(request.method, path, g.route)
        g.late = rule.value if rule is not None and rule.kind == "late" else 0.0
        if rule is not None and rule.kind == "delay":
            fake._stopping.wait(rule.value)
        elif rule is not None and rule.kind == "status":
            if int(rule.value) == 429:
                raise ApiError(429, "Rate limit reached for requests (simulated).", code="rate_limit_exceeded",
                               type_="requests", headers={"retry-after-ms": "10"})
            raise ApiError(int(rule.value), "The server had an error while processing your request (simulated).",
                           type_="server_error")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise ApiError(401, "You didn't provide an API key.", code="invalid_api_key")
        if fake.refuse_fine_tuning and path.startswith("/fine_tuning"):
            raise ApiError(403, "Fine-tuning is not available for your organization: OpenAI no longer accepts "
                                "new fine-tuning customers (simulated).", code="fine_tuning_unavailable")

    @app.after_request
    def count(response: Response) -> Response:
        with fake._lock:
            fake.counts[f"{request.method} {g.get('route', request.path)} {response.status_code}"] += 1
        if response.status_code < 400 and g.get("late"):
            fake._stopping.wait(g.late)
        response.headers["x-request-id"] = _new_id("req_")
        return response

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> Response:
        return _json(err.body, err.status, err.headers)

    @app.errorhandler(HTTPException)
    def unknown_route(exc: HTTPException) -> Response:
        return _json(ApiError(exc.code or 404, f"Invalid URL ({request.method} {request.path})").body, exc.code or 404)

    # --- files and uploads ---

    @app.post("/v1/files")
    def create_file() -> Response:
        fields, files = _form(fake, "CreateFileRequest")
        if "file" not in files:
            raise ApiError(400, "Missing file.", param="file")
        return _json(fake._store_file(files["file"][0], fields["purpose"], files["file"][1]))

    @app.get("/v1/files/<file_id>/content")
    def file_content(file_id: str) -> Response:
        with fake._lock:
            if file_id not in fake.file_content:
                raise ApiError(404, f"No such File object: {file_id}", param="id")
            return Response(fake.file_content[file_id], content_type="application/octet-stream")

    @app.post("/v1/uploads")
    def create_upload() -> Response:
        data = _json_body(fake, "CreateUploadRequest")
        obj = {"id": _new_id("upload_"), "object": "upload", "bytes": data["bytes"], "created_at": _now(),
               "expires_at": _now() + 3600, "filename": data["filename"], "purpose": data["purpose"],
               "status": "pending", "file": None}
        with fake._lock:
            fake.uploads[obj["id"]] = {"obj": obj, "parts": []}
        return _json(obj)

    @app.post("/v1/uploads/<upload_id>/parts")
    def add_part(upload_id: str) -> Response:
        upload = fake._upload(upload_id)
        _, files = _form(fake, "AddUploadPartRequest")
        if upload["obj"]["status"] != "pending":
            raise ApiError(400, f"Upload {upload_id} is {upload['obj']['status']}.")
        part_id = _new_id("part_")
        with fake._lock:
            fake.parts[part_id] = files["data"][1]
            upload["parts"].append(part_id)
        return _json({"id": part_id, "object": "upload.part", "created_at": _now(), "upload_id": upload_id})

    @app.post("/v1/uploads/<upload_id>/complete")
    def complete_upload(upload_id: str) -> Response:
        upload = fake._upload(upload_id)
        data = _json_body(fake, "CompleteUploadRequest")
        if any(p not in upload["parts"] for p in data["part_ids"]):
            raise ApiError(400, "Unknown part id for this upload.", param="part_ids")
        content = b"".join(fake.parts[p] for p in data["part_ids"])
        obj = upload["obj"]
        if len(content) != obj["bytes"]:
            raise ApiError(400, f"Upload has {len(content)} bytes, {obj['bytes']} were declared.", param="bytes")
        if data.get("md5") and hashlib.md5(content, usedforsecurity=False).hexdigest() != data["md5"]:
            raise ApiError(400, "The md5 checksum does not match the uploaded bytes.", param="md5")
        obj.update(file=fake._store_file(obj["filename"], obj["purpose"], content), status="completed")
        return _json(obj)

    # --- fine-tuning jobs ---

    @app.post("/v1/fine_tuning/jobs")
    def create_job() -> Response:
        data = _json_body(fake, "CreateFineTuningJobRequest")
        with fake._lock:
            # A model this account fine-tuned can be tuned again (DPO on a supervised result, for instance).
            tunable = data["model"] in fake.base_models or data["model"] in fake.models
        if not tunable:
            raise ApiError(400, f"Model {data['model']} is not available for fine-tuning.", param="model",
                           code="model_not_available")
        for key in ("training_file", "validation_file"):
            if data.get(key) is None:
                continue
            with fake._lock:
                known = fake.files.get(data[key])
            if known is None:
                raise ApiError(400, f"invalid {key}: {data[key]}", param=key, code="invalid_file")
            if known["purpose"] != "fine-tune":
                raise ApiError(400, f"{key} {data[key]} must be uploaded with purpose 'fine-tune'.", param=key)
        method = data.get("method") or {"type": "supervised", "supervised": {}}
        kind = method["type"]
        other = sorted(set(method) - {"type", kind})
        if other:
            raise ApiError(400, f"Invalid method: '{other[0]}' settings given for a '{kind}' job.",
                           param=f"method.{other[0]}")
        asked = dict((method.get(kind) or {}).get("hyperparameters") or {})
        epochs = asked.get("n_epochs", "auto")
        hyper = {"n_epochs": epochs if epochs != "auto" else 3, "batch_size": asked.get("batch_size", 1),
                 "learning_rate_multiplier": asked.get("learning_rate_multiplier", 1.8)}
        if kind == "dpo":
            beta = asked.get("beta", "auto")
            hyper["beta"] = 0.1 if beta == "auto" else beta  # the service reports what "auto" chose
        job = FakeJob({
            "object": "fine_tuning.job", "id": _new_id("ftjob-"), "model": data["model"], "created_at": _now(),
            "finished_at": None, "fine_tuned_model": None, "organization_id": "org-fake", "result_files": [],
            "status": "validating_files", "validation_file": data.get("validation_file"),
            "training_file": data["training_file"],
            "hyperparameters": {k: v for k, v in hyper.items() if k != "beta"}, "trained_tokens": None,
            "error": None, "integrations": [], "seed": data["seed"] if data.get("seed") is not None else 42,
            "estimated_finish": None, "method": {"type": kind, kind: {"hyperparameters": hyper}},
            "metadata": data.get("metadata"), "user_provided_suffix": data.get("suffix"),
        })
        fake._event(job, "Created fine-tuning job")
        with fake._lock:
            fake.jobs[job.data["id"]] = job
        return _json(job.data)

    @app.get("/v1/fine_tuning/jobs")
    def list_jobs() -> Response:
        wanted = {m.group(1): value for key, value in request.args.items(multi=True)
                  if (m := re.fullmatch(r"metadata\[(.+)\]", key))}
        with fake._lock:
            jobs = sorted((j.data for j in fake.jobs.values()), key=lambda j: j["created_at"], reverse=True)
        jobs = [j for j in jobs if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        if "after" in request.args:
            ids = [j["id"] for j in jobs]
            after = request.args["after"]
            jobs = jobs[ids.index(after) + 1:] if after in ids else []
        limit = request.args.get("limit", 20, type=int)
        return _json({"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit})

    @app.get("/v1/fine_tuning/jobs/<job_id>")
    def get_job(job_id: str) -> Response:
        job = fake._job(job_id)
        with fake._lock:
            if fake.auto_advance:
                fake._advance(job)
            return _json(job.data)

    @app.post("/v1/fine_tuning/jobs/<job_id>/cancel")
    def cancel_job(job_id: str) -> Response:
        job = fake._job(job_id)
        with fake._lock:
            if job.data["status"] in TERMINAL:
                raise ApiError(400, f"Job {job_id} is already {job.data['status']} and cannot be cancelled.")
            fake._transition(job, "cancelled")
            return _json(job.data)

    @app.get("/v1/fine_tuning/jobs/<job_id>/events")
    def job_events(job_id: str) -> Response:
        job = fake._job(job_id)
        limit = request.args.get("limit", 20, type=int)
        with fake._lock:
            events = list(reversed(job.events))  # newest first, as the service lists them
        return _json({"object": "list", "data": events[:limit], "has_more": len(events) > limit})

    @app.get("/v1/fine_tuning/jobs/<job_id>/checkpoints")
    def job_checkpoints(job_id: str) -> Response:
        job = fake._job(job_id)
        limit = request.args.get("limit", 10, type=int)
        with fake._lock:
            data = list(reversed(job.checkpoints))[:limit]
        return _json({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                      "last_id": data[-1]["id"] if data else None, "has_more": len(job.checkpoints) > limit})

    # --- inference ---

    @app.post("/v1/chat/completions")
    def chat() -> Response:
        data = _json_body(fake, None)
        model, messages = data.get("model"), data.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            raise ApiError(400, "'model' (string) and 'messages' (non-empty array) are required.", param="messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                raise ApiError(400, f"Invalid value for messages[{i}].role.", param=f"messages[{i}].role")
        with fake._lock:
            known = model in fake.base_models or model in fake.models
        if not known:
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found")
        prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        answer = fake._learned_answer(model, prompt) or f"(simulated {model}) You said: {prompt}"
        return _json({
            "id": _new_id("chatcmpl-"), "object": "chat.completion", "created": _now(), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })

    @app.get("/v1/models/<model>")
    def get_model(model: str) -> Response:
        with fake._lock:
            known = model in fake.base_models or model in fake.models
            shutdown = fake.shutdown_dates.get(model)
        if not known:
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found")
        data: dict[str, Any] = {"id": model, "object": "model", "created": 1744588800, "owned_by": "system"}
        if shutdown is not None:
            data["shutdown_date"] = shutdown
        return _json(data)

    @app.post("/v1/audio/transcriptions")
    def transcribe() -> Response:
        fields, files = _form(fake, None)
        if "file" not in files or not fields.get("model"):
            raise ApiError(400, "'file' and 'model' are required.", param="file")
        if not files["file"][1]:
            raise ApiError(400, "The audio file is empty.", param="file")
        with fake._lock:
            fake.transcriptions.append(fields)
        return _json({"text": fake.transcription_text})

    return app


def _route(path: str) -> str:
    """The path with its ids as ``{id}``: how counts and fault rules name a route."""
    return re.sub(r"/(file|upload|part|ftjob|ftckpt)[-_][A-Za-z0-9]+", r"/{id}", path)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status, headers=headers, content_type="application/json")


def _json_body(fake: FakeOpenAI, schema: str | None) -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(400, "Expected a JSON body (Content-Type: application/json).")
    try:
        data = json.loads(request.get_data() or b"{}")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"We could not parse the JSON body of your request: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The body of your request must be a JSON object.")
    if schema:
        fake._checked(schema, data)
    return data


def _form(fake: FakeOpenAI, schema: str | None) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """A multipart body's fields, and its files as (filename, bytes)."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(400, "Expected a multipart/form-data body.")
    fields = request.form.to_dict()
    files = {name: (part.filename or "", part.read()) for name, part in request.files.items()}
    if schema:
        instance: dict[str, Any] = {**fields, **dict.fromkeys(files, "<binary>")}
        instance.pop("expires_after", None)
        fake._checked(schema, instance)
    return fields, files


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
