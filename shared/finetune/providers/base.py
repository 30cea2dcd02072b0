"""The provider interface: what the bot needs from any fine-tuning service, in provider-neutral terms."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from shared.finetune.exceptions import ProviderRejected
from shared.finetune.exports import TrainingExport
from shared.finetune.jobs import Checkpoint, FineTuneJob, JobRequest, MetricPoint, ModelDeployment

logger = logging.getLogger(__name__)


class FineTuneProvider(ABC):
    """One fine-tuning service. Clients are constructor arguments, built lazily when None."""

    name: str = ""

    def start_job(self, export: TrainingExport, request: JobRequest, *, epochs: int) -> FineTuneJob:
        """Start a job from ``export`` for ``epochs`` (the plan's estimate chose them), or return the one this
        ``request_id`` already started.

        The caller records the request first; a redelivered message then lands here again and finds the job by
        its request id instead of paying twice.
        """
        existing = self.find_job_by_request(request.request_id)
        if existing is not None:
            logger.info("job for request %s already exists: %s", request.request_id, existing.job_id)
            return existing
        return self._create_job(export, request, epochs)

    @abstractmethod
    def _create_job(self, export: TrainingExport, request: JobRequest, epochs: int) -> FineTuneJob: ...

    # --- a preference stage on a fine-tuned model (providers with DPO) ------------------------------------

    def upload_export(self, export: TrainingExport, request: JobRequest) -> tuple[str, str]:
        """Upload an export's files ahead of its job; (training file id, validation file id or "")."""
        raise ProviderRejected(f"{self.name} has no preference training.", detail=f"{self.name}: no upload_export")

    def start_preference_job(self, model: str, training_file: str, validation_file: str, request: JobRequest, *,
                             epochs: int) -> FineTuneJob:
        """Start DPO on ``model`` with uploaded files, or return the job ``request_id`` already started."""
        raise ProviderRejected(f"{self.name} has no preference training.",
                               detail=f"{self.name}: no start_preference_job")

    @abstractmethod
    def find_job_by_request(self, request_id: str) -> FineTuneJob | None: ...

    @abstractmethod
    def retrieve(self, job_id: str) -> FineTuneJob: ...

    @abstractmethod
    def list_checkpoints(self, job_id: str) -> list[Checkpoint]: ...

    @abstractmethod
    def cancel(self, job_id: str) -> FineTuneJob: ...

    @abstractmethod
    def metrics(self, job: FineTuneJob) -> list[MetricPoint]:
        """Training and validation loss by step, for the completion chart. Empty when none are published."""

    @abstractmethod
    def complete(self, messages: Sequence[dict[str, str]], model: str) -> str:
        """One chat answer from ``model`` (a base model or a fine-tuned one)."""

    # --- serving ------------------------------------------------------------------------------------------

    def needs_deployment(self, model: str) -> bool:
        """Whether ``model`` answers only through a deployment (a Bedrock custom model); OpenAI's do not."""
        return False

    def deploy(self, model: str, request_id: str) -> ModelDeployment:
        raise NotImplementedError(f"{self.name} models need no deployment")

    def deployment(self, arn: str) -> ModelDeployment:
        raise NotImplementedError(f"{self.name} models need no deployment")

    def delete_deployment(self, arn: str) -> None:
        raise NotImplementedError(f"{self.name} models need no deployment")
