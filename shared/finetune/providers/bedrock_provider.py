"""Amazon Bedrock backend: export to the bucket, model customization jobs, Converse for inference.

The job name is derived from the request id, and the request id is also the job's ``clientRequestToken``: a retried
start finds the job by name (and Bedrock itself would refuse a second create with the same token), so a request
never pays twice. Bedrock publishes no checkpoints; metrics are read from the CSVs the job writes to its S3
output.

Inference with a custom model needs a deployment (on-demand) or provisioned throughput: ``complete`` takes that ARN
as the model id (or any base model id), as the guild's active model records it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared.config import Settings
from shared.finetune.catalog import Catalog, load_catalog
from shared.finetune.exceptions import (
    FineTuningUnavailable,
    InferenceFailed,
    JobNotFound,
    NotConfigured,
    ProviderBusy,
    ProviderRejected,
)
from shared.finetune.exports import TrainingExport
from shared.finetune.jobs import Checkpoint, FineTuneJob, JobRequest, MetricPoint, ModelDeployment
from shared.finetune.metrics import parse_bedrock_metrics
from shared.finetune.providers.base import FineTuneProvider

logger = logging.getLogger(__name__)

STATUS_MAP = {
    "InProgress": "running",
    "Stopping": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Stopped": "cancelled",
}
BUSY_CODES = {
    "ThrottlingException",
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelTimeoutException",
    "ModelNotReadyException",
    "TooManyRequestsException",
}
REFUSAL_CODES = {"AccessDeniedException"}
DEPLOYMENT_STATUS = {"Creating": "creating", "Active": "active", "Failed": "failed"}
TRAINING_METRICS = "step_wise_training_metrics.csv"
VALIDATION_METRICS = "validation_metrics.csv"


def _name(text: str, limit: int = 63) -> str:
    """Bedrock names: letters, digits and hyphens, starting and ending with a letter or digit."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return cleaned[:limit].rstrip("-") or "job"


def job_name_for(request_id: str, *readable: str) -> str:
    """A name unique to ``request_id`` within Bedrock's 63 characters: a hash of the whole id comes first,
    so cutting the readable tail (``readable`` parts, then the id) never makes two requests share a name."""
    unique = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    return _name("-".join(("dbt", unique, *readable, request_id)))


def _readable(message: str) -> str:
    """A provider message fit for a user: an HTML error page (a proxy's, a gateway's) says so instead."""
    text = message.strip()
    if text[:200].lower().lstrip().startswith(("<!doctype", "<html")) or "</html>" in text.lower():
        return "the endpoint answered with an HTML error page"
    return text


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if isinstance(value, datetime) else None


class BedrockProvider(FineTuneProvider):
    name = "bedrock"

    def __init__(
        self,
        settings: Settings,
        *,
        bedrock_client: Any = None,
        runtime_client: Any = None,
        s3_client: Any = None,
        catalog: Catalog | None = None,
    ) -> None:
        self._settings = settings
        self._bedrock = bedrock_client
        self._runtime = runtime_client
        self._s3 = s3_client
        self._catalog = catalog or load_catalog(settings)

    def _client(self, service: str) -> Any:
        from shared.aws import AwsClients

        return AwsClients(self._settings).client(service)

    @property
    def bedrock(self) -> Any:
        if self._bedrock is None:
            self._bedrock = self._client("bedrock")
        return self._bedrock

    @property
    def runtime(self) -> Any:
        if self._runtime is None:
            self._runtime = self._client("bedrock-runtime")
        return self._runtime

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._client("s3")
        return self._s3

    @contextmanager
    def _call(self, action: str, *, inference: bool = False) -> Iterator[None]:
        from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

        try:
            yield
        except (ReadTimeoutError, ConnectionError) as exc:
            cls = InferenceFailed if inference else ProviderBusy
            raise cls(detail=f"bedrock {action}: {exc}") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = _readable(exc.response.get("Error", {}).get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            logger.warning("bedrock %s failed: %s %s %s", action, status, code, message)
            if code in BUSY_CODES or status >= 500 or status == 429:
                cls = InferenceFailed if inference else ProviderBusy
                raise cls(detail=f"bedrock {action}: {code} {message}") from exc
            if code in REFUSAL_CODES and not inference:
                raise FineTuningUnavailable(
                    "This AWS account may not customize that model on Bedrock (access denied).",
                    detail=f"bedrock {action}: {code} {message}",
                ) from exc
            if code == "ResourceNotFoundException" and action.startswith(("job", "deployment")):
                raise JobNotFound(detail=f"bedrock {action}: {message}") from exc
            raise ProviderRejected(
                f"Bedrock rejected the request: {message[:300]}" if message else None,
                detail=f"bedrock {action}: {code} {message}",
            ) from exc

    # --- jobs ---------------------------------------------------------------------------------------------

    def _export_prefix(self, request: JobRequest) -> str:
        return f"guilds/{request.guild_id}/finetune/{_name(request.request_id, 128)}/"

    def _create_job(self, export: TrainingExport, request: JobRequest, epochs: int) -> FineTuneJob:
        bucket = self._settings.bucket_name
        if not self._settings.bedrock_role_arn or not bucket:
            raise NotConfigured(detail="bedrock needs BEDROCK_ROLE_ARN and BUCKET_NAME")
        spec = self._catalog.model("bedrock", export.model)
        prefix = self._export_prefix(request)
        with self._call("export upload"):
            self.s3.put_object(Bucket=bucket, Key=prefix + "train.jsonl", Body=export.train_jsonl())
            validation = export.validation_jsonl()
            if validation:
                self.s3.put_object(Bucket=bucket, Key=prefix + "validation.jsonl", Body=validation)
        hyper = {k: v.replace("{epochs}", str(epochs)) for k, v in spec.hyperparameters.items()}
        name = job_name_for(request.request_id)
        kwargs: dict[str, Any] = {
            "jobName": name,
            "customModelName": job_name_for(request.request_id, request.guild_id, request.dataset),
            "roleArn": self._settings.bedrock_role_arn,
            "clientRequestToken": _name(request.request_id, 256),
            "baseModelIdentifier": spec.name,
            "customizationType": spec.customization_type,
            "trainingDataConfig": {"s3Uri": f"s3://{bucket}/{prefix}train.jsonl"},
            "outputDataConfig": {"s3Uri": f"s3://{bucket}/{prefix}output/"},
            "hyperParameters": hyper,
            "jobTags": [{"key": k, "value": v[:256]} for k, v in request.metadata().items()],
        }
        if validation:
            kwargs["validationDataConfig"] = {
                "validators": [{"s3Uri": f"s3://{bucket}/{prefix}validation.jsonl"}]
            }
        with self._call("job create"):
            self.bedrock.create_model_customization_job(**kwargs)
        logger.info("started bedrock job %s for request %s", name, request.request_id)
        return self.retrieve(name)

    def find_job_by_request(self, request_id: str) -> FineTuneJob | None:
        try:
            return self.retrieve(job_name_for(request_id))
        except JobNotFound:
            return None

    def retrieve(self, job_id: str) -> FineTuneJob:
        with self._call("job retrieve"):
            data = self.bedrock.get_model_customization_job(jobIdentifier=job_id)
        return self._job(data)

    def _job(self, data: dict[str, Any]) -> FineTuneJob:
        raw = data.get("status", "")
        status = STATUS_MAP.get(raw, "running")
        details = data.get("statusDetails") or {}
        if raw == "InProgress":
            if (details.get("validationDetails") or {}).get("status") == "InProgress":
                status = "validating_files"
            elif (details.get("dataProcessingDetails") or {}).get("status") == "InProgress":
                status = "queued"
        terminal = status in ("succeeded", "failed", "cancelled")
        return FineTuneJob(
            provider="bedrock",
            job_id=data["jobName"],
            status=status,
            raw_status=raw,
            base_model=data.get("baseModelArn", "").rsplit("/", 1)[-1],
            fine_tuned_model=data.get("outputModelArn") if status == "succeeded" else None,
            trained_tokens=None,
            created_at=_ts(data.get("creationTime")),
            finished_at=_ts(data.get("endTime")) if terminal else None,
            error=data.get("failureMessage") if status == "failed" else None,
            request_id=data.get("clientRequestToken"),
            method="supervised",
            extra={
                "job_arn": data.get("jobArn"),
                "output_s3_uri": (data.get("outputDataConfig") or {}).get("s3Uri"),
                "training_metrics": data.get("trainingMetrics"),
                "validation_metrics": data.get("validationMetrics"),
                "status_details": details,
            },
        )

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        return []  # Bedrock keeps intermediate checkpoints to itself

    def cancel(self, job_id: str) -> FineTuneJob:
        with self._call("job cancel"):
            self.bedrock.stop_model_customization_job(jobIdentifier=job_id)
        return self.retrieve(job_id)

    def metrics(self, job: FineTuneJob) -> list[MetricPoint]:
        """Losses from the CSVs the job writes under its output prefix (found by file name)."""
        uri = job.extra.get("output_s3_uri")
        arn = job.extra.get("job_arn") or ""
        if not uri:
            return []
        parts = urlsplit(uri)
        bucket, prefix = parts.netloc, parts.path.lstrip("/")
        job_folder = f"model-customization-job-{arn.rsplit('/', 1)[-1]}/" if arn else ""
        found: dict[str, bytes] = {}
        with self._call("job metrics"):
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix + job_folder):
                for obj in page.get("Contents", []):
                    base = obj["Key"].rsplit("/", 1)[-1]
                    if base in (TRAINING_METRICS, VALIDATION_METRICS) and base not in found:
                        found[base] = self.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if TRAINING_METRICS not in found:
            return []
        return parse_bedrock_metrics(found[TRAINING_METRICS], found.get(VALIDATION_METRICS))

    # --- serving: on-demand custom model deployments --------------------------------------------------------

    def needs_deployment(self, model: str) -> bool:
        return ":custom-model/" in model

    def deploy(self, model: str, request_id: str) -> ModelDeployment:
        """Create (or find, by the same request token) the on-demand deployment of custom model ``model``."""
        with self._call("deployment create"):
            created = self.bedrock.create_custom_model_deployment(
                modelDeploymentName=job_name_for(request_id, "serve"),
                modelArn=model,
                description=f"Discord Bot Trainer: {request_id}"[:200],
                clientRequestToken=_name(f"deploy-{request_id}", 256),
            )
        return self.deployment(created["customModelDeploymentArn"])

    def deployment(self, arn: str) -> ModelDeployment:
        try:
            with self._call("deployment get"):
                data = self.bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
        except JobNotFound:
            return ModelDeployment(arn=arn, status="deleted")
        return ModelDeployment(arn=data["customModelDeploymentArn"],
                               status=DEPLOYMENT_STATUS.get(data.get("status", ""), "creating"),
                               model=data.get("modelArn", ""), failure=data.get("failureMessage", "") or "")

    def delete_deployment(self, arn: str) -> None:
        try:
            with self._call("deployment delete"):
                self.bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
        except JobNotFound:
            pass  # already gone: the goal is reached
        logger.info("deleted deployment %s", arn)

    # --- inference ------------------------------------------------------------------------------------------

    def complete(self, messages: Sequence[dict[str, str]], model: str) -> str:
        system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
        turns: list[dict[str, Any]] = []
        for m in messages:
            if m["role"] == "system":
                continue
            # Converse wants alternating turns: merge consecutive messages of one role.
            if turns and turns[-1]["role"] == m["role"]:
                turns[-1]["content"].append({"text": m["content"]})
            else:
                turns.append({"role": m["role"], "content": [{"text": m["content"]}]})
        kwargs: dict[str, Any] = {"modelId": self._catalog.inference_id("bedrock", model), "messages": turns}
        if system:
            kwargs["system"] = system
        with self._call("converse", inference=True):
            response = self.runtime.converse(**kwargs)
        blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(b.get("text", "") for b in blocks)
        if not text:
            raise InferenceFailed(detail=f"empty answer from {model}")
        return text
