"""What a trainer should know before paying: missing prerequisites, where the result can be served, and the
dates a provider closes its fine-tuning. Each finding says what to do.

- Bedrock: the region must be one where the model is tuned; ``BEDROCK_ROLE_ARN`` and ``BUCKET_NAME`` must be
  set (the template sets both); where on-demand serving of the result is not offered, say so and name the
  alternative before the job is paid for.
- OpenAI: no new jobs after the catalog's ``job_creation_ends``; base models (and their fine-tunes) stop on
  their ``shutdown_date``, which OpenAI's models API reports when it knows it (that date wins over the
  catalog's). A date within ``warn_days`` (30) is a warning; a date passed closes the path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shared.config import Settings
from shared.finetune.catalog import Catalog, ModelSpec

logger = logging.getLogger(__name__)

WARN_DAYS = 30
BEDROCK_ALTERNATIVE = ("Switch to Amazon Bedrock: set FINETUNE_PROVIDER=bedrock (Amazon Nova Micro by default; "
                       "BASE_MODEL picks Nova Lite, Pro or Nova 2 Lite) and redeploy.")


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Readiness:
    """Blocking problems (no Start) and warnings (shown with the estimate), each with what to do."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return ([f"⛔ {p}" for p in self.problems] + [f"⚠️ {w}" for w in self.warnings]
                + [f"ℹ️ {n}" for n in self.notes])


def bedrock_readiness(settings: Settings, spec: ModelSpec, catalog: Catalog) -> Readiness:
    found = Readiness()
    region = settings.aws_region
    if not spec.tunable_in(region):
        found.problems.append(
            f"Bedrock does not fine-tune {spec.title} in {region}: it does in {', '.join(spec.regions)}. Deploy "
            f"the stack there (AWS_DEFAULT_REGION={spec.regions[0]}; `sam deploy --region {spec.regions[0]}`).")
    if not settings.bedrock_role_arn:
        found.problems.append(
            "BEDROCK_ROLE_ARN is not set: Bedrock needs a role to read the training data. The template creates "
            "one (output BedrockCustomizationRoleArn); set BEDROCK_ROLE_ARN to it.")
    if not settings.bucket_name:
        found.problems.append("BUCKET_NAME is not set: the training data goes to the bucket first.")
    storage = catalog.option("bedrock", "custom_model_storage_per_month")
    if spec.on_demand_in(region):
        found.notes.append(
            "Serving: on demand through a custom model deployment (made when training ends, so the completion "
            "post can compare the new model with the active one; Make active switches to it); billed per token"
            f" (${spec.input_price_per_1m:g} in / ${spec.output_price_per_1m:g} out per 1M), nothing "
            "while idle" + (f"; the custom model is stored for ${storage:g}/month." if storage else "."))
    else:
        alternatives = [s.title for s in catalog.provider_models("bedrock") if s.on_demand_in(region)]
        found.warnings.append(
            f"{spec.title} custom models cannot be served on demand in {region}: answering with the result needs "
            "Provisioned Throughput (billed by the hour, bought in the Bedrock console)."
            + (f" For pay-per-token serving train {', '.join(alternatives)} instead (BASE_MODEL)."
               if alternatives else ""))
    return found


def openai_shutdown_date(model: str, catalog: Catalog, client: Any = None) -> date | None:
    """When ``model`` (a base model or a fine-tune of one) stops answering: the models API's ``shutdown_date``
    when it gives one, else the catalog's date for the base model."""
    if client is not None:
        try:
            info = client.models.retrieve(model)
            raw = getattr(info, "shutdown_date", None)
            if raw is None:
                raw = (getattr(info, "model_extra", None) or {}).get("shutdown_date")
            parsed = _date(raw)
            if parsed is not None:
                return parsed
        except Exception as exc:  # the catalog's date is the fallback for any failure
            logger.info("models API gave no shutdown date for %s: %s", model, exc)
    base = model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 1 else model
    spec = catalog.models.get(("openai", base))
    return _date(spec.shutdown_date) if spec is not None else None


def _date(raw: Any) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, (int, float)):
        return datetime.fromtimestamp(raw, UTC).date()
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def retirement_warning(model: str, shutdown: date | None, *, on: date, days: int = WARN_DAYS) -> str | None:
    """A sentence when ``model`` stops answering within ``days`` (or already has)."""
    if shutdown is None:
        return None
    left = (shutdown - on).days
    if left < 0:
        return f"`{model}` was shut down on {shutdown.isoformat()}: it no longer answers."
    if left <= days:
        return f"`{model}` shuts down on {shutdown.isoformat()} ({left} days): it stops answering that day."
    return None


def openai_readiness(spec: ModelSpec, catalog: Catalog, *, on: date, client: Any = None) -> Readiness:
    found = Readiness()
    ends = _date(catalog.option("openai", "job_creation_ends"))
    closed_to_new = _date(catalog.option("openai", "new_users_closed"))
    shutdown = openai_shutdown_date(spec.name, catalog, client)
    if ends is not None and on >= ends:
        found.problems.append(f"OpenAI stopped creating fine-tuning jobs on {ends.isoformat()}. "
                              f"{BEDROCK_ALTERNATIVE}")
    elif shutdown is not None and on >= shutdown:
        found.problems.append(f"`{spec.name}` was shut down on {shutdown.isoformat()}. {BEDROCK_ALTERNATIVE}")
    else:
        if ends is not None and (ends - on).days <= WARN_DAYS:
            found.warnings.append(f"OpenAI stops creating fine-tuning jobs on {ends.isoformat()} "
                                  f"({(ends - on).days} days).")
        warning = retirement_warning(spec.name, shutdown, on=on)
        if warning:
            found.warnings.append(f"{warning} Its fine-tunes stop with it. {BEDROCK_ALTERNATIVE}")
        if closed_to_new is not None:
            found.notes.append(f"OpenAI takes no new fine-tuning customers since {closed_to_new.isoformat()}: "
                               "accounts without earlier access are refused.")
    return found


def readiness(settings: Settings, spec: ModelSpec, catalog: Catalog, *, on: date | None = None,
              openai_client: Any = None) -> Readiness:
    if spec.provider == "bedrock":
        return bedrock_readiness(settings, spec, catalog)
    return openai_readiness(spec, catalog, on=on or today(), client=openai_client)


def startup_report(settings: Settings, catalog: Catalog) -> list[str]:
    """What the configured provider lacks, for the start-up log and `make run`'s banner."""
    spec = catalog.models.get((settings.finetune_provider, settings.base_model))
    if spec is None:
        return [f"BASE_MODEL {settings.base_model!r} is not a {settings.finetune_provider} model of the catalog."]
    found = readiness(settings, spec, catalog)
    return [*found.problems, *found.warnings]
