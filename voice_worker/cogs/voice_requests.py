"""Runs the voice queue consumer, the idle sweep, and auto-leave on voice state changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from shared.storage.voice_presence import HEARTBEAT_SECONDS

if TYPE_CHECKING:
    from voice_worker.bot import VoiceBot

log = logging.getLogger(__name__)


class VoiceRequests(commands.Cog):
    def __init__(self, bot: VoiceBot) -> None:
        self.bot = bot
        self._tasks: list[asyncio.Task[None]] = []

    async def cog_load(self) -> None:
        consumer = asyncio.create_task(self._consume(), name="voice-queue-consumer")
        self.bot.consumer_task = consumer
        self._tasks = [consumer, asyncio.create_task(self._sweep(), name="voice-idle-sweep"),
                       asyncio.create_task(self._heartbeat(), name="voice-presence")]

    async def cog_unload(self) -> None:
        self.bot.consumer.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _consume(self) -> None:
        # The voice-state cache must be filled (GUILD_CREATE) before requests can be resolved.
        await self.bot.wait_until_ready()
        await self.bot.consumer.run()

    async def _heartbeat(self) -> None:
        """Tell the interactions side that voice is on while the gateway connection is ready."""
        await self.bot.wait_until_ready()
        while not self.bot.is_closed():
            if self.bot.is_ready():
                try:
                    await self.bot.report_alive()
                except Exception:
                    log.warning("could not record the voice worker's heartbeat", exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _sweep(self) -> None:
        await self.bot.wait_until_ready()
        while not self.bot.is_closed():
            await asyncio.sleep(self.bot.idle_check_seconds)
            try:
                await self.bot.service.sweep_idle()
            except Exception:
                log.exception("idle sweep failed")

    @commands.Cog.listener()
    async def on_voice_state_update(self, member: discord.Member, before: discord.VoiceState,
                                    after: discord.VoiceState) -> None:
        if before.channel == after.channel:
            return
        await self.bot.service.on_voice_state_change(member.guild.id)


async def setup(bot: VoiceBot) -> None:
    await bot.add_cog(VoiceRequests(bot))
