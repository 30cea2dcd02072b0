"""What a task gets besides its request: settings and lazily built clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.aws import AwsClients
from shared.storage.stores import Stores

if TYPE_CHECKING:
    from shared.config import Settings
    from shared.discord.rest import DiscordRest
    from shared.finetune.providers import FineTuneProvider, ProvidersByName


class WorkerServices:
    """The worker's wiring: settings, the boto3 clients (``aws``), the stores, and the Discord, OpenAI and
    provider clients, each built on first use and then kept (one per cold start).

    Tests pass ready clients in (``aws=...``, ``discord=...``, ``openai=...``, ``finetune_provider=...``);
    otherwise boto3 clients honour ``AWS_ENDPOINT_URL`` and region from :class:`Settings`, so the local stack
    reaches moto.
    """

    def __init__(self, settings: Settings, *, aws: AwsClients | None = None, discord: DiscordRest | None = None,
                 openai: Any = None, finetune_provider: FineTuneProvider | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        # Monotonic seconds, for pacing progress edits (tests pass their own).
        self.clock = clock or time.monotonic
        self.aws = aws or AwsClients(settings)
        self.stores = Stores(settings, self.aws)
        self._lock = threading.Lock()
        self._discord = discord
        self._openai = openai
        self._given_provider = finetune_provider
        self._providers: ProvidersByName | None = None

    @property
    def discord(self) -> DiscordRest:
        with self._lock:
            if self._discord is None:
                from shared.discord.rest import DiscordRest

                self._discord = DiscordRest(self.settings)
            return self._discord

    @property
    def openai(self) -> Any:
        """The OpenAI client (key from OPENAI_API_KEY or the secret OPENAI_API_KEY_SECRET names)."""
        with self._lock:
            if self._openai is None:
                from shared.openai_api import openai_client

                self._openai = openai_client(self.settings)
            return self._openai

    @property
    def finetune_provider(self) -> FineTuneProvider:
        """The configured provider (``FINETUNE_PROVIDER``): new jobs and inference use it."""
        return self.provider_named(self.settings.finetune_provider)

    def provider_named(self, name: str) -> FineTuneProvider:
        """The provider called ``name``: a stored job is watched and cancelled where it was started."""
        with self._lock:
            if self._providers is None:
                from shared.finetune.providers import ProvidersByName

                self._providers = ProvidersByName(self._build_provider)
        return self._providers(name)

    def _build_provider(self, name: str) -> FineTuneProvider:
        given = self._given_provider
        if given is not None and (given.name or self.settings.finetune_provider) == name:
            return given
        from shared.finetune.providers import build_provider

        openai = self.openai if name == "openai" else None
        return build_provider(self.settings, name=name, aws_client=self.aws.client, openai=openai)
