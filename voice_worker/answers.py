"""The model's answer to a transcribed voice message: the guild's active model (or the base), as /ask uses."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.errors import BotError
from shared.finetune.providers import ProvidersByName, build_provider
from shared.storage.stores import Stores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelAnswer:
    text: str
    model: str  # recorded with the exchange, as /ask records it


class ModelAnswerer:
    """``await answerer(guild_id, user_id, transcript)`` → the answer, or None when the model cannot answer."""

    def __init__(self, settings: Settings, *, stores: Stores | None = None, provider: Any = None) -> None:
        self._settings = settings
        self._stores = stores or Stores(settings)
        # Each guild's active model names its own provider (one guild on OpenAI, another on Bedrock); tests give
        # one provider for every guild.
        self._provider_for = (
            (lambda _name: provider) if provider is not None else
            ProvidersByName(lambda name: build_provider(settings, name=name, aws_client=self._stores.aws.client)))

    async def __call__(self, guild_id: int | str, user_id: int | str, transcript: str) -> ModelAnswer | None:
        try:
            return await asyncio.to_thread(self.answer, str(guild_id), transcript)
        except BotError as exc:
            # The transcript is already posted; the answer is a bonus, so its failure is logged, not shown.
            log.warning("no model answer for a voice message in guild %s: %s", guild_id, type(exc).__name__)
            return None

    def answer(self, guild_id: str, transcript: str) -> ModelAnswer:
        from shared.finetune.serving import active_serving

        # A Bedrock custom model answers through its deployment: serving_id is the id inference calls use.
        serving = active_serving(self._stores.finetune_jobs, guild_id, self._settings)
        provider = self._provider_for(serving.provider)
        text = str(provider.complete([{"role": "user", "content": transcript}], serving.serving_id)).strip()
        return ModelAnswer(text, serving.model)
