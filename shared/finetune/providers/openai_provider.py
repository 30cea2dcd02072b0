"""OpenAI backend: Files/Uploads API, ``fine_tuning.jobs`` (supervised and DPO), chat completions."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from shared.config import Settings
from shared.finetune.catalog import Catalog, load_catalog
from shared.finetune.exceptions import (
    FineTuningUnavailable,
    InferenceFailed,
    JobNotFound,
    ProviderBusy,
    ProviderRejected,
)
from shared.finetune.exports import TrainingExport
from shared.finetune.jobs import Checkpoint, FineTuneJob, JobRequest, MetricPoint
from shared.finetune.metrics import parse_openai_results
from shared.finetune.providers.base import FineTuneProvider

logger = logging.getLogger(__name__)

JSONL_MIME = "text/jsonl"
DEFAULT_PART_BYTES = 64 * 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024
# How an account without fine-tuning access is told so: a 403 on a fine-tuning call, or an error that says it.
_REFUSAL = re.compile(
    r"fine[- ]?tun\w*.{0,80}(not available|unavailable|no longer|not enabled|not allowed|access)",
    re.IGNORECASE | re.DOTALL,
)


class OpenAIProvider(FineTuneProvider):
    name = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any = None,
        catalog: Catalog | None = None,
        part_bytes: int | None = None,
        multipart_threshold: int | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._catalog = catalog or load_catalog(settings)
        self._part_bytes = part_bytes or int(
            self._catalog.option("openai", "upload_part_bytes", DEFAULT_PART_BYTES)
        )
        self._multipart_threshold = multipart_threshold or int(
            self._catalog.option("openai", "multipart_threshold_bytes", DEFAULT_MULTIPART_THRESHOLD)
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            # The key may live in Secrets Manager / SSM (OPENAI_API_KEY_SECRET): one place resolves it.
            from shared.openai_api import openai_client

            self._client = openai_client(self._settings)
        return self._client

    # --- errors ---------------------------------------------------------------------------------------------

    @contextmanager
    def _call(self, action: str, *, fine_tuning: bool = True) -> Iterator[None]:
        """Turn the client's exceptions (raised after its own retries) into the bot's errors."""
        import openai

        try:
            yield
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise ProviderBusy(detail=f"openai {action}: {type(exc).__name__}") from exc
        except openai.APIStatusError as exc:
            message = _error_message(exc)
            logger.warning("openai %s failed: %s %s", action, exc.status_code, message)
            if exc.status_code == 429 or exc.status_code >= 500:
                raise ProviderBusy(detail=f"openai {action}: {exc.status_code} {message}") from exc
            if fine_tuning and (exc.status_code == 403 or _REFUSAL.search(message or "")):
                raise FineTuningUnavailable(detail=f"openai {action}: {exc.status_code} {message}") from exc
            if exc.status_code == 404 and action.startswith("job") and action != "job create":
                raise JobNotFound(detail=f"openai {action}: {message}") from exc
            raise ProviderRejected(
                f"OpenAI rejected the request: {message[:300]}" if message else None,
                detail=f"openai {action}: {exc.status_code} {message}",
            ) from exc

    # --- files ----------------------------------------------------------------------------------------------

    def upload(self, data: bytes, filename: str) -> str:
        """Upload a JSONL file with purpose ``fine-tune``: one request when small, the Uploads API in parts
        when
        large (the Files API caps a single request well below the Uploads API's limit)."""
        with self._call("upload"):
            if len(data) <= self._multipart_threshold:
                created = self.client.files.create(file=(filename, data, JSONL_MIME), purpose="fine-tune")
                return created.id
            upload = self.client.uploads.create(
                bytes=len(data), filename=filename, mime_type=JSONL_MIME, purpose="fine-tune"
            )
            part_ids = []
            for start in range(0, len(data), self._part_bytes):
                part = self.client.uploads.parts.create(
                    upload_id=upload.id, data=data[start : start + self._part_bytes]
                )
                part_ids.append(part.id)
            done = self.client.uploads.complete(
                upload_id=upload.id,
                part_ids=part_ids,
                md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            )
            if done.file is None:
                raise ProviderRejected(detail=f"upload {upload.id} completed without a file")
            return done.file.id

    # --- jobs -----------------------------------------------------------------------------------------------

    def upload_export(self, export: TrainingExport, request: JobRequest) -> tuple[str, str]:
        """Upload an export's files; (training file id, validation file id or "")."""
        stem = f"{request.guild_id}-{request.dataset}-{request.request_id}"
        training_file = self.upload(export.train_jsonl(), f"{stem}-train.jsonl")
        validation = export.validation_jsonl()
        return training_file, (self.upload(validation, f"{stem}-valid.jsonl") if validation else "")

    def _create_job(self, export: TrainingExport, request: JobRequest, epochs: int) -> FineTuneJob:
        training_file, validation_file = self.upload_export(export, request)
        hyperparameters: dict[str, Any] = {"n_epochs": epochs}
        return self._create(export.model, export.method, training_file, validation_file, request, hyperparameters)

    def start_preference_job(self, model: str, training_file: str, validation_file: str, request: JobRequest, *,
                             epochs: int) -> FineTuneJob:
        """Stage 2: DPO on ``model`` (stage 1's fine-tuned model) with files uploaded at Start, or the job this
        ``request_id`` already started."""
        existing = self.find_job_by_request(request.request_id)
        if existing is not None:
            logger.info("preference job for request %s already exists: %s", request.request_id, existing.job_id)
            return existing
        # beta: how far DPO may move from the reference model (stage 1's); the catalog may set it, else OpenAI's
        # own default ("auto").
        beta = self._catalog.option("openai", "dpo_beta", "auto")
        return self._create(model, "dpo", training_file, validation_file, request,
                            {"n_epochs": epochs, "beta": beta})

    def _create(self, model: str, method: str, training_file: str, validation_file: str, request: JobRequest,
                hyperparameters: dict[str, Any]) -> FineTuneJob:
        kwargs: dict[str, Any] = {
            "model": model,
            "training_file": training_file,
            "method": {"type": method, method: {"hyperparameters": hyperparameters}},
            "metadata": request.metadata(),
        }
        if validation_file:
            kwargs["validation_file"] = validation_file
        # POST /fine_tuning/jobs takes no idempotency key, so the client must not retry it on its own: a
        # timed-out create may have created the job, and only a look-up by request id can tell.
        try:
            with self._call("job create"):
                job = self.client.with_options(max_retries=0).fine_tuning.jobs.create(**kwargs)
        except ProviderBusy:
            found = self.find_job_by_request(request.request_id)
            if found is not None:
                logger.info("create of request %s failed but made job %s", request.request_id, found.job_id)
                return found
            raise
        logger.info("started openai job %s for request %s", job.id, request.request_id)
        return _job(job)

    def find_job_by_request(self, request_id: str) -> FineTuneJob | None:
        with self._call("job list"):
            page = self.client.fine_tuning.jobs.list(metadata={"request_id": request_id}, limit=10)
        for job in page.data:
            # Check it ourselves as well: the filter is the server's, the guarantee is ours.
            if (job.metadata or {}).get("request_id") == request_id:
                return _job(job)
        return None

    def retrieve(self, job_id: str) -> FineTuneJob:
        with self._call("job retrieve"):
            return _job(self.client.fine_tuning.jobs.retrieve(job_id))

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        with self._call("job checkpoints"):
            page = self.client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)
        out = []
        for c in page.data:
            metrics = {
                k: v for k, v in (c.metrics.model_dump() if c.metrics else {}).items() if v is not None
            }
            out.append(Checkpoint(c.id, c.step_number, c.fine_tuned_model_checkpoint, metrics))
        return sorted(out, key=lambda c: c.step)

    def cancel(self, job_id: str) -> FineTuneJob:
        with self._call("job cancel"):
            return _job(self.client.fine_tuning.jobs.cancel(job_id))

    def metrics(self, job: FineTuneJob) -> list[MetricPoint]:
        """Per-step losses from the job's result file; the checkpoints' metrics when there is none."""
        if job.result_files:
            with self._call("job results"):
                content = self.client.files.content(job.result_files[0]).read()
            points = parse_openai_results(content)
            if points:
                return points
        return [
            MetricPoint(c.step, c.metrics.get("train_loss"), c.metrics.get("valid_loss"))
            for c in self.list_checkpoints(job.job_id)
        ]

    # --- inference ------------------------------------------------------------------------------------------

    def complete(self, messages: Sequence[dict[str, str]], model: str) -> str:
        import openai

        try:
            with self._call("chat", fine_tuning=False):
                response = self.client.chat.completions.create(model=model, messages=list(messages))
        except ProviderBusy as exc:
            raise InferenceFailed(detail=str(exc)) from exc
        except ProviderRejected as exc:
            cause = exc.__cause__
            if isinstance(cause, openai.NotFoundError):
                raise ProviderRejected(
                    f"The model `{model}` is not available. Pick another one with /model.", detail=str(exc)
                ) from exc
            raise
        content = response.choices[0].message.content if response.choices else None
        if not content:
            raise InferenceFailed(detail=f"empty answer from {model}")
        return content


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", "") or "")


def _job(job: Any) -> FineTuneJob:
    error = None
    if job.error is not None and getattr(job.error, "message", None):
        error = f"{job.error.code}: {job.error.message}" if job.error.code else job.error.message
    method = job.method.type if getattr(job, "method", None) is not None else None
    return FineTuneJob(
        provider="openai",
        job_id=job.id,
        status=job.status,
        raw_status=job.status,
        base_model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=error,
        request_id=(job.metadata or {}).get("request_id"),
        method=method,
        result_files=tuple(job.result_files or ()),
    )
