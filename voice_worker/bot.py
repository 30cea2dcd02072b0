"""The discord.py client of the voice worker: dependencies come in through the constructor, features are cogs.

It never registers or syncs application commands: with an HTTP interactions endpoint, a gateway sync would wipe
the commands the deploy step registered. The command tree refuses both, so no cog can do it by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from shared.aws import AwsClients
from shared.config import Settings
from shared.storage.exchanges import ExchangeStore
from shared.storage.stores import Stores
from shared.storage.voice_presence import VoicePresence
from voice_worker.answers import ModelAnswer
from voice_worker.consumer import VoiceQueueConsumer
from voice_worker.discord_gateway import DiscordVoiceGateway
from voice_worker.endpoints import apply_endpoints, client_options
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.ledger import RequestLedger
from voice_worker.replies import Replier
from voice_worker.service import VoiceService
from voice_worker.stt import Transcriber
from voice_worker.tts import Synthesizer

log = logging.getLogger(__name__)

# The model's answer to a transcribed voice message: (guild_id, user_id, transcript) → the answer or None.
Answerer = Callable[[int, int, str], Awaitable[ModelAnswer | None]]

EXTENSIONS = ("voice_worker.cogs.voice_requests",)
TRANSCRIPTION_EXTENSION = "voice_worker.cogs.transcription"


class CommandRegistrationForbidden(RuntimeError):
    pass


class NoSyncCommandTree(app_commands.CommandTree):
    """Commands come in over HTTP and are registered at deploy time; this worker must never touch them."""

    def add_command(self, *args: Any, **kwargs: Any) -> None:
        raise CommandRegistrationForbidden("the voice worker never registers application commands")

    async def sync(self, *args: Any, **kwargs: Any) -> list[app_commands.AppCommand]:
        raise CommandRegistrationForbidden("the voice worker never syncs application commands")

    def copy_global_to(self, *args: Any, **kwargs: Any) -> None:
        raise CommandRegistrationForbidden("the voice worker never registers application commands")


def intents_for(settings: Settings) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    if settings.voice_transcribe_messages:
        # Reading attachments of channel messages needs guild messages and the privileged content intent.
        intents.guild_messages = True
        intents.message_content = True
    return intents


def presence_index(settings: Settings) -> int:
    """Where this worker's presence is recorded: the index of its queue in the functions' list, its shard id.

    Not the position in its own VOICE_QUEUE_URL: a shard's task may be given only its own queue (template.yaml
    does so), and the interactions function looks shard i's worker up under i.
    """
    return settings.voice_shard_id


class VoiceBot(commands.Bot):
    def __init__(self, settings: Settings, *, synthesizer: Synthesizer, settings_store: VoiceSettingsStore,
                 replier: Replier, ledger: RequestLedger, transcriber: Transcriber | None = None,
                 answerer: Answerer | None = None, aws: AwsClients | None = None,
                 voice_client_cls: type[discord.VoiceClient] = discord.VoiceClient,
                 clock: Callable[[], float] = time.monotonic, idle_check_seconds: float = 15.0,
                 shutdown_grace_seconds: float = 5.0, **options: Any) -> None:
        if settings.voice_shard_count > 1:
            options.update(shard_id=settings.voice_shard_id, shard_count=settings.voice_shard_count)
        apply_endpoints(settings)
        options = {**client_options(settings), **options}
        super().__init__(command_prefix=commands.when_mentioned, intents=intents_for(settings),
                         tree_cls=NoSyncCommandTree, help_command=None, **options)
        self.settings = settings
        self.synthesizer = synthesizer
        self.settings_store = settings_store
        self.replier = replier
        self.ledger = ledger
        self.transcriber = transcriber
        self.answerer = answerer
        self.idle_check_seconds = idle_check_seconds
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.gateway = DiscordVoiceGateway(self, voice_client_cls)
        self.service = VoiceService(self.gateway, synthesizer, settings_store, replier, clock=clock)
        self.consumer = VoiceQueueConsumer(settings, self.service.handle, ledger, replier, aws=aws)
        self._shutdown_started = False
        self.consumer_task: asyncio.Task[None] | None = None  # started by the voice_requests cog
        stores = Stores(settings, aws) if settings.data_table else None
        self.presence: VoicePresence | None = stores.voice_presence if stores else None
        # Answers to voice messages are exchanges, like /ask's, so 👍 / 👎 / Correct work on them.
        self.exchanges: ExchangeStore | None = stores.exchanges if stores else None

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.transcriber is not None:  # built only with VOICE_TRANSCRIBE_MESSAGES
            await self.load_extension(TRANSCRIPTION_EXTENSION)

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands either: every command enters through the HTTP endpoint.
        return

    async def report_alive(self) -> None:
        if self.presence is not None and not self._shutdown_started:
            await asyncio.to_thread(self.presence.beat, presence_index(self.settings))

    async def report_stopped(self, reason: str) -> None:
        if self.presence is None:
            return
        try:
            await asyncio.to_thread(self.presence.stopped, presence_index(self.settings), reason)
        except Exception:  # the table may be as unreachable as Discord was; the log line says why anyway
            log.warning("could not record that voice is off", exc_info=True)

    def health(self) -> dict[str, object]:
        consumer_running = self.consumer_task is not None and not self.consumer_task.done()
        ready = self.is_ready() and not self.is_closed()
        return {"healthy": ready and consumer_running and not self._shutdown_started, "gateway_ready": ready,
                "consumer_running": consumer_running, "voice_connections": len(self.voice_clients),
                "processed": self.consumer.processed}

    async def shutdown(self) -> None:
        """Stop taking requests, finish (briefly) or drop the current clip, leave every channel, close."""
        if self._shutdown_started:
            return
        self._shutdown_started = True
        log.info("shutting down: no new voice requests")
        self.consumer.stop()
        task = self.consumer_task
        if task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        await self.service.shutdown(finish_current=self.shutdown_grace_seconds)
        await self.report_stopped("the voice worker was stopped")
        await self.close()
        log.info("voice worker stopped")
