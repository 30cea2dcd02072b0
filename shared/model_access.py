"""How the worker and the watcher reach the configured model provider, and what a guild trains on.

- :func:`openai_api_key` resolves the key: ``OPENAI_API_KEY`` itself (local use), else the secret that
  ``OPENAI_API_KEY_SECRET`` names (Secrets Manager or ``ssm:``), cached by :mod:`shared.secrets`.
- :func:`build_provider` gives the backend ``FINETUNE_PROVIDER`` names (or the one a stored job names), with
  clients passed in or built lazily.
- :func:`active_model` is the model a guild's answers come from: the one a trainer made active, else the base.
- :func:`training_examples` is what a fine-tune job trains on: the selected dataset plus the guild's
  corrections of bot answers that know their prompt, as preference pairs (original = rejected, correction =
  preferred).
- :func:`is_simulated` tells replies to say so when the provider is the local fake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

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


# One call's worst case, 3 tries of 25 s plus the SDK's backoff (at most 8 s each), stays well inside the
# worker's timeout (template.yaml); the SDK's defaults (600 s a try) would outlive the function.
OPENAI_TIMEOUT_SECONDS = 25.0
OPENAI_MAX_RETRIES = 2


def openai_client(settings: Settings) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=openai_api_key(settings), base_url=settings.openai_base_url or None,
                  timeout=OPENAI_TIMEOUT_SECONDS, max_retries=OPENAI_MAX_RETRIES)


def is_simulated(settings: Settings) -> bool:
    """The local stack points OPENAI_BASE_URL at the fake server on loopback."""
    base = settings.openai_base_url
    return settings.finetune_provider == "openai" and ("127.0.0.1" in base or "localhost" in base)


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
