"""Which model answers a guild, and switching it.

- :func:`active_serving` is the model a guild's answers come from (the one a trainer made active, else the
  configured base model), with its provider and the id inference calls use: a Bedrock custom model's on-demand
  deployment ARN, or the model itself.
- :func:`make_active` switches a guild's model and deletes the deployments nothing uses any more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.errors import BotError
from shared.finetune.providers import FineTuneProvider

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """The model a guild's answers come from: its name, its provider, and the id inference calls use."""

    model: str
    provider: str
    serving_id: str
    is_base: bool = False


def base_serving(settings: Settings) -> Serving:
    return Serving(settings.base_model, settings.finetune_provider, settings.base_model, is_base=True)


def active_serving(jobs: Any, guild_id: str, settings: Settings) -> Serving:
    """The guild's active model (``jobs`` is a FineTuneJobStore), else the configured base model."""
    found = jobs.active_serving(guild_id)
    if not found:
        return base_serving(settings)
    model, provider, serving_id = found
    provider = provider or settings.finetune_provider
    if model == settings.base_model and provider == settings.finetune_provider:
        return base_serving(settings)
    return Serving(model, provider, serving_id or model)


def make_active(jobs: Any, guild_id: str, serving: Serving, *, set_by: str,
                provider_for: Callable[[str], FineTuneProvider]) -> list[str]:
    """Make ``serving`` the guild's model, then delete this guild's deployments that nothing uses any more
    (idle on-demand deployments cost nothing, but an account has few of them). Returns the deleted ARNs."""
    jobs.set_active_model(guild_id, serving.model, set_by=set_by, provider=serving.provider,
                          serving_id=serving.serving_id)
    deleted = []
    for record in jobs.live_deployments(guild_id):
        # A deployment still waiting for its completion post is the held-out check's: it stays.
        if record.deployment_arn == serving.serving_id or not record.posted_at:
            continue
        try:
            provider_for(record.provider).delete_deployment(record.deployment_arn)
        except BotError as exc:
            logger.warning("could not delete deployment %s: %s", record.deployment_arn, exc)
            continue
        jobs.set_deployment(record, record.deployment_arn, "deleted", watch=False, activate_by="")
        deleted.append(record.deployment_arn)
    return deleted
