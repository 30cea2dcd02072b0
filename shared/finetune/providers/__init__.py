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
    catalog: Catalog | None = None,
    openai_client: Any = None,
    bedrock_client: Any = None,
    runtime_client: Any = None,
    s3_client: Any = None,
) -> FineTuneProvider:
    """The backend ``settings.finetune_provider`` names. Clients default to None and are built on first
    use."""
    if settings.finetune_provider == "openai":
        return OpenAIProvider(settings, client=openai_client, catalog=catalog)
    if settings.finetune_provider == "bedrock":
        return BedrockProvider(
            settings,
            bedrock_client=bedrock_client,
            runtime_client=runtime_client,
            s3_client=s3_client,
            catalog=catalog,
        )
    raise NotConfigured(detail=f"unknown FINETUNE_PROVIDER {settings.finetune_provider!r}")
