"""Fine-tuning: model catalog, exports, token counts and estimates, providers, webhooks, completion charts.

The lead's commands and worker call these; see each module for details.
"""

from shared.finetune.catalog import Catalog, ModelSpec, load_catalog
from shared.finetune.charts import CompletionPost, completion_post, loss_chart_png, summary_text
from shared.finetune.exceptions import (
    FineTuneError,
    FineTuningUnavailable,
    InferenceFailed,
    JobNotFound,
    NotConfigured,
    NothingToTrain,
    ProviderBusy,
    ProviderRejected,
    UnknownModel,
    WebhookRejected,
)
from shared.finetune.exports import ExportReport, TrainingExport, build_training_set, export_training
from shared.finetune.jobs import (
    TERMINAL_STATUSES,
    Checkpoint,
    FineTuneJob,
    JobEvent,
    JobRequest,
    MetricPoint,
)
from shared.finetune.planning import JobPlan, check_job, completion_for, plan_job
from shared.finetune.providers import BedrockProvider, FineTuneProvider, OpenAIProvider, get_provider
from shared.finetune.tokens import DatasetEstimate, count_messages, count_text, estimate_export
from shared.finetune.webhooks import WebhookEvent, WebhookVerifier, remember_delivery

__all__ = [
    "TERMINAL_STATUSES",
    "BedrockProvider",
    "Catalog",
    "Checkpoint",
    "CompletionPost",
    "DatasetEstimate",
    "ExportReport",
    "FineTuneError",
    "FineTuneJob",
    "FineTuneProvider",
    "FineTuningUnavailable",
    "InferenceFailed",
    "JobEvent",
    "JobNotFound",
    "JobPlan",
    "JobRequest",
    "MetricPoint",
    "ModelSpec",
    "NotConfigured",
    "NothingToTrain",
    "OpenAIProvider",
    "ProviderBusy",
    "ProviderRejected",
    "TrainingExport",
    "UnknownModel",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookVerifier",
    "build_training_set",
    "check_job",
    "completion_for",
    "completion_post",
    "count_messages",
    "count_text",
    "estimate_export",
    "export_training",
    "get_provider",
    "load_catalog",
    "loss_chart_png",
    "plan_job",
    "remember_delivery",
    "summary_text",
]
