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
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Checkpoint,
    FineTuneJob,
    JobEvent,
    JobRequest,
    MetricPoint,
)
from shared.finetune.planning import JobPlan, check_job, plan_job
from shared.finetune.providers import BedrockProvider, FineTuneProvider, OpenAIProvider, get_provider
from shared.finetune.tokens import DatasetEstimate, count_messages, count_text, estimate_export
from shared.finetune.webhooks import WebhookEvent, WebhookVerifier, remember_delivery, verify_webhook

__all__ = [
    "ACTIVE_STATUSES",
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
    "verify_webhook",
]
