"""How the worker and the watcher reach the configured model provider, and what a guild trains on.

- :func:`openai_api_key` resolves the key: ``OPENAI_API_KEY`` itself (local use), else the secret that
  ``OPENAI_API_KEY_SECRET`` names (Secrets Manager or ``ssm:``), cached by :mod:`shared.secrets`.
- :func:`build_provider` gives the backend ``FINETUNE_PROVIDER`` names (or the one a stored job names), with
  clients passed in or built lazily.
- :func:`active_model` is the model a guild's answers come from: the one a trainer made active, else the base;
  :func:`active_serving` adds the provider and the id inference calls use (a Bedrock deployment's ARN).
- :func:`make_active` switches a guild's model and deletes the deployments nothing uses any more.
- :func:`training_examples` is what a fine-tune job trains on: the selected dataset plus the guild's
  corrections of bot answers that know their prompt, as preference pairs (original = rejected, correction =
  preferred).
- :func:`is_simulated` tells replies to say so when the provider is the local fake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shared.errors import BotError
from shared.examples import ChatMessage, Example
from shared.finetune.exceptions import NotConfigured
from shared.finetune.providers import FineTuneProvider, get_provider
from shared.settings import Settings
from shared.storage import keys
from shared.storage.table import DataTable

logger = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]


def openai_api_key(settings: Settings) -> str:
    if settings.openai_api_key:
        return settings.openai_api_key
    if settings.openai_api_key_secret:
        from shared.secrets import resolve_secret

        return resolve_secret(settings.openai_api_key_secret, settings=settings)
    raise NotConfigured(detail="neither OPENAI_API_KEY nor OPENAI_API_KEY_SECRET is set")


def openai_webhook_secret(settings: Settings) -> str:
    """The ``whsec_`` secret: ``OPENAI_WEBHOOK_SECRET`` itself (local use), else the secret that
    ``OPENAI_WEBHOOK_SECRET_SECRET`` names. Empty when neither is set (the webhook is optional)."""
    if settings.openai_webhook_secret:
        return settings.openai_webhook_secret
    if settings.openai_webhook_secret_secret:
        from shared.secrets import resolve_secret

        return resolve_secret(settings.openai_webhook_secret_secret, settings=settings)
    return ""


def openai_client(settings: Settings) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=openai_api_key(settings), base_url=settings.openai_base_url or None)


def _loopback(url: str) -> bool:
    return "127.0.0.1" in url or "localhost" in url


def is_simulated(settings: Settings, provider: str | None = None) -> bool:
    """The local stack points the provider's endpoint (OPENAI_BASE_URL, or AWS_ENDPOINT_URL_BEDROCK[_RUNTIME])
    at a fake server on loopback."""
    provider = provider or settings.finetune_provider
    if provider == "openai":
        return _loopback(settings.openai_base_url)
    return _loopback(settings.endpoint_url_for("bedrock-runtime")) or _loopback(settings.endpoint_url_for("bedrock"))


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


def active_model(jobs: Any, guild_id: str, settings: Settings) -> str:
    """The guild's active model (``jobs`` is a FineTuneJobStore), else the configured base model."""
    return str(jobs.active_model(guild_id) or settings.base_model)


def build_provider(settings: Settings, aws_client: ClientFactory, *, openai: Any = None,
                   name: str | None = None) -> FineTuneProvider:
    """The backend called ``name`` (default: the configured one). ``aws_client(service)`` returns a boto3
    client (the worker context's ``client``); the OpenAI client is built only when the provider is OpenAI."""
    name = name or settings.finetune_provider
    if name == "openai":
        return get_provider(settings, name=name,
                            openai_client=openai if openai is not None else openai_client(settings))
    return get_provider(
        settings,
        name=name,
        bedrock_client=aws_client("bedrock"),
        runtime_client=aws_client("bedrock-runtime"),
        s3_client=aws_client("s3"),
    )


def correction_examples(table: DataTable, guild_id: str) -> Iterator[Example]:
    """The guild's corrections as preference pairs. A correction without a prompt (of a message the bot did
    not record as an exchange) cannot become a training line, so it is left out."""
    for item in table.query_prefix(keys.guild_pk(guild_id), keys.CORRECTION_PREFIX):
        prompt = str(item.get("prompt") or "").strip()
        original = str(item.get("original_text") or "")
        correction = str(item.get("correction") or "").strip()
        if not prompt or not correction:
            continue
        yield Example(
            messages=(ChatMessage("user", prompt), ChatMessage("assistant", correction)),
            positive=True,
            rejected=original,
            source="correction",
            added_by=str(item.get("user_id") or ""),
            added_at=str(item.get("created_at") or ""),
            origin=str(item.get("message_id") or ""),
        )


def training_examples(dataset_store: Any, table: DataTable, guild_id: str, dataset: str) -> list[Example]:
    examples = list(dataset_store.iter_examples(guild_id, dataset))
    corrections = list(correction_examples(table, guild_id))
    logger.info("guild %s: %d dataset examples, %d corrections", guild_id, len(examples), len(corrections))
    return examples + corrections
