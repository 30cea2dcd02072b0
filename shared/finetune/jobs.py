"""Provider-neutral records of fine-tuning jobs: the request, the job, its events, checkpoints and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Neutral statuses are OpenAI's names (validating_files, queued, running, paused and these); Bedrock's are
# mapped onto them.
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobRequest:
    """Who asked for a job and from what; ``request_id`` names the request so a retried start finds its
    job."""

    request_id: str
    guild_id: str
    dataset: str
    snapshot: str = ""
    requested_by: str = ""

    def metadata(self) -> dict[str, str]:
        # OpenAI metadata: at most 16 keys, values up to 512 characters.
        data = {
            "request_id": self.request_id,
            "guild_id": self.guild_id,
            "dataset": self.dataset,
            "snapshot": self.snapshot,
            "requested_by": self.requested_by,
        }
        return {k: v[:512] for k, v in data.items() if v}


@dataclass(frozen=True)
class FineTuneJob:
    provider: str
    job_id: str
    status: str
    base_model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    created_at: int | None = None
    finished_at: int | None = None
    error: str | None = None
    request_id: str | None = None
    method: str | None = None
    raw_status: str = ""
    result_files: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration_seconds(self) -> int | None:
        if self.created_at is None or self.finished_at is None:
            return None
        return max(0, self.finished_at - self.created_at)


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: str
    step: int
    model: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    step: int
    train_loss: float | None = None
    valid_loss: float | None = None


# Neutral deployment states; Bedrock's Creating/Active/Failed map onto the first three.
DEPLOYMENT_STATES = ("creating", "active", "failed", "deleted")


@dataclass(frozen=True)
class ModelDeployment:
    """What serves a custom model on demand: inference calls use ``arn`` as the model id once ``active``."""

    arn: str
    status: str
    model: str = ""
    failure: str = ""

    @property
    def is_settled(self) -> bool:
        return self.status != "creating"
