"""The two calls the commands and the watcher make: plan a job (export + estimate), and check a job."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from shared.config import Settings
from shared.domain.examples import Example
from shared.finetune.catalog import ModelSpec, load_catalog
from shared.finetune.charts import CompletionPost, completion_post
from shared.finetune.exceptions import FineTuneError
from shared.finetune.exports import TrainingExport, export_training
from shared.finetune.jobs import FineTuneJob
from shared.finetune.providers.base import FineTuneProvider
from shared.finetune.tokens import DatasetEstimate, estimate_export

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPlan:
    spec: ModelSpec
    export: TrainingExport
    estimate: DatasetEstimate

    def summary(self) -> str:
        """What the user confirms before anything is spent: the estimate, then how the data was used."""
        return "\n".join([self.estimate.summary(), *self.export.report.lines()])


def plan_job(
    examples: Iterable[Example],
    settings: Settings,
    *,
    model: str | None = None,
) -> JobPlan:
    """Export ``examples`` for the configured provider and model and estimate the cost. No I/O, no spending.

    Raises :class:`~shared.finetune.exceptions.UnknownModel` or ``NothingToTrain`` with a user message.
    """
    catalog = load_catalog(settings)
    spec = catalog.model(settings.finetune_provider, model or settings.base_model)
    export = export_training(examples, spec, catalog)
    return JobPlan(spec=spec, export=export, estimate=estimate_export(export, spec, catalog))


def completion_for(provider: FineTuneProvider, job: FineTuneJob, *, simulated: bool = False) -> CompletionPost:
    """The completion post of a terminal job: metrics are read and the chart drawn here.

    Metrics are best effort: if they cannot be read the post goes out without a chart rather than not at all.
    """
    job_id = job.job_id
    try:
        points = provider.metrics(job)
    except FineTuneError as exc:
        logger.warning("metrics of %s unavailable: %s", job_id, exc)
        points = []
    return completion_post(job, points, simulated=simulated)
