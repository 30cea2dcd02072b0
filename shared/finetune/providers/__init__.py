"""Fine-tuning backends behind one interface; ``Settings.finetune_provider`` picks one."""

from __future__ import annotations

from typing import Any

from shared.finetune.catalog import Catalog
from shared.finetune.exceptions import NotConfigured
from shared.finetune.providers.base import FineTuneProvider
from shared.finetune.providers.bedrock_provider import BedrockProvider
from shared.finetune.providers.openai_provider import OpenAIProvider
from shared.settings import Settings

__all__ = ["BedrockProvider", "FineTuneProvider", "OpenAIProvider", "get_provider"]


def get_provider(
    settings: Settings,
    *,
    name: str | None = None,
    catalog: Catalog | None = None,
    openai_client: Any = None,
    bedrock_client: Any = None,
    runtime_client: Any = None,
    s3_client: Any = None,
) -> FineTuneProvider:
    """The backend called ``name`` (default: ``settings.finetune_provider``). Clients default to None and are
    built on first use."""
    name = name or settings.finetune_provider
    if name == "openai":
        return OpenAIProvider(settings, client=openai_client, catalog=catalog)
    if name == "bedrock":
        return BedrockProvider(
            settings,
            bedrock_client=bedrock_client,
            runtime_client=runtime_client,
            s3_client=s3_client,
            catalog=catalog,
        )
    raise NotConfigured(detail=f"unknown fine-tuning provider {name!r}")
