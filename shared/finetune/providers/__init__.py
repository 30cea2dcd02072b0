"""Fine-tuning backends behind one interface, and the one factory that builds them.

``FINETUNE_PROVIDER`` picks the backend for new jobs; a stored job is watched and cancelled on the provider
that started it, so the factory also builds a backend by name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shared.config import Settings
from shared.finetune.catalog import Catalog
from shared.finetune.exceptions import NotConfigured, ProviderRejected
from shared.finetune.jobs import FineTuneJob
from shared.finetune.providers.base import FineTuneProvider
from shared.finetune.providers.bedrock_provider import BedrockProvider
from shared.finetune.providers.openai_provider import OpenAIProvider

__all__ = ["SIMULATED_NOTE", "BedrockProvider", "FineTuneProvider", "OpenAIProvider", "ProvidersByName",
           "build_provider", "cancel_or_finished", "is_simulated"]

ClientFactory = Callable[[str], Any]


def build_provider(settings: Settings, *, name: str | None = None, aws_client: ClientFactory | None = None,
                   openai: Any = None, catalog: Catalog | None = None) -> FineTuneProvider:
    """The backend called ``name`` (default: ``settings.finetune_provider``).

    ``aws_client(service)`` returns a boto3 client (the process's :class:`~shared.aws.AwsClients`); ``openai``
    is an OpenAI client. Whatever is not given is built on first use.
    """
    name = name or settings.finetune_provider
    if name == "openai":
        return OpenAIProvider(settings, client=openai, catalog=catalog)
    if name == "bedrock":
        def client(service: str) -> Any:
            return aws_client(service) if aws_client is not None else None

        return BedrockProvider(settings, bedrock_client=client("bedrock"), runtime_client=client("bedrock-runtime"),
                               s3_client=client("s3"), catalog=catalog)
    raise NotConfigured(detail=f"unknown fine-tuning provider {name!r}")


class ProvidersByName:
    """Each provider built once, on first use, by name: a stored job is watched and cancelled on the provider it
    was started on, and a guild's active model names its own, whatever ``FINETUNE_PROVIDER`` says now."""

    def __init__(self, build: Callable[[str], FineTuneProvider]) -> None:
        self._build = build
        self._built: dict[str, FineTuneProvider] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> FineTuneProvider:
        with self._lock:
            found = self._built.get(name)
        if found is not None:
            return found
        # Built outside the lock: building one may take another lock (the worker's, for its OpenAI client).
        built = self._build(name)
        with self._lock:
            return self._built.setdefault(name, built)


def cancel_or_finished(provider: FineTuneProvider, job_id: str) -> FineTuneJob:
    """Cancel the job; when the provider refuses because the job has ended already, the job as it ended."""
    try:
        return provider.cancel(job_id)
    except ProviderRejected:
        job = provider.retrieve(job_id)
        if not job.is_terminal:
            raise
        return job


def _loopback(url: str) -> bool:
    return "127.0.0.1" in url or "localhost" in url


# What every reply from a simulated provider (the local stack's fakes) ends with.
SIMULATED_NOTE = "_(The provider is simulated: this is the local fake, not a real model.)_"


def is_simulated(settings: Settings, provider: str | None = None) -> bool:
    """The local stack points the provider's endpoint (OPENAI_BASE_URL, or AWS_ENDPOINT_URL_BEDROCK[_RUNTIME]) at
    a fake server on loopback; replies then say so."""
    provider = provider or settings.finetune_provider
    if provider == "openai":
        return _loopback(settings.openai_base_url)
    return _loopback(settings.endpoint_url_for("bedrock-runtime")) or _loopback(settings.endpoint_url_for("bedrock"))
