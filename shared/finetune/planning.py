"""The two calls the commands and the watcher make: plan a job (export + estimate), and check a job.

A plan has one stage (supervised) or two: when the model takes preference training and the dataset holds at
least the provider's minimum of approved pairs, a preference (DPO) stage follows, trained on the model the
supervised stage makes (OpenAI's guidance: supervised first, then DPO on its result). Both stages are exported,
priced and checked against the catalog's limits before anything is offered, and one digest names both files.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from shared.config import Settings
from shared.domain.examples import Example
from shared.finetune.catalog import ModelSpec, load_catalog
from shared.finetune.charts import CompletionPost, completion_post
from shared.finetune.exceptions import FineTuneError
from shared.finetune.exports import (
    TrainingExport,
    build_training_set,
    export_training_set,
    preference_stage_runs,
)
from shared.finetune.jobs import FineTuneJob
from shared.finetune.providers.base import FineTuneProvider
from shared.finetune.tokens import DatasetEstimate, estimate_export

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobPlan:
    spec: ModelSpec
    export: TrainingExport
    estimate: DatasetEstimate
    # The second stage, when one runs: the pairs as a DPO export, and its price.
    preference: TrainingExport | None = None
    preference_estimate: DatasetEstimate | None = None

    @property
    def stages(self) -> int:
        return 2 if self.preference is not None else 1

    @property
    def pairs(self) -> int:
        """Pairs in the preference stage (training and validation lines); 0 without one."""
        if self.preference is None:
            return 0
        return self.preference.report.n_train + self.preference.report.n_validation

    @property
    def cost_usd(self) -> float:
        extra = self.preference_estimate.cost_usd if self.preference_estimate is not None else 0.0
        return round(self.estimate.cost_usd + extra, 4)

    @property
    def digest(self) -> str:
        """Names every file this plan sends; a one-stage plan keeps its export's own digest."""
        if self.preference is None:
            return self.export.digest
        both = f"{self.export.digest}+{self.preference.digest}".encode()
        return hashlib.sha256(both).hexdigest()[:16]

    @property
    def shortfall(self) -> str:
        """Why the provider would refuse a stage's file for its size; empty when neither would be."""
        first = self.export.report.shortfall
        if first or self.preference is None:
            return first
        second = self.preference.report.shortfall
        return f"(preference stage) {second}" if second else ""

    def summary(self) -> str:
        """What the user confirms before anything is spent: the estimate, then how the data was used."""
        if self.preference is None or self.preference_estimate is None:
            return "\n".join([self.estimate.summary(), *self.export.report.lines()])
        pref = self.preference.report
        return "\n".join([
            *self.export.report.lines(),
            f"**Stage 1 of 2 (supervised)** {self.estimate.summary()}",
            f"**Stage 2 of 2 (preference, {self.pairs} pairs; both answers of each pair count as training "
            f"tokens)** {self.preference_estimate.summary()}",
            f"Stage 2: {pref.n_train} training and {pref.n_validation} validation pairs (seed {pref.seed}).",
            f"Both stages together ≈ **${self.cost_usd:.2f}**.",
        ])


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
    training = build_training_set(examples)
    export = export_training_set(training, spec, catalog)
    estimate = estimate_export(export, spec, catalog)
    pairs = export.report.n_preference
    if not preference_stage_runs(pairs, spec):
        return JobPlan(spec=spec, export=export, estimate=estimate)
    # Stage 1 keeps the corrected answers as supervised targets: OpenAI's guidance is to fine-tune on the
    # preferred answers first and run DPO on that model, and stage 1's model (the one kept if stage 2 fails or
    # is cancelled) then has learnt the trainers' corrections as well.
    preference = export_training_set(training, spec, catalog, method="dpo")
    export = replace(export, report=replace(export.report, preference_stage_pairs=pairs))
    return JobPlan(spec=spec, export=export, estimate=estimate, preference=preference,
                   preference_estimate=estimate_export(preference, spec, catalog))


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
