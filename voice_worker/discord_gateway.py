"""The VoiceGateway over discord.py: voice channels and voice states from the gateway cache, and the guild's
voice client."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import discord

from voice_worker.errors import VoiceConnectRefused, VoiceConnectTimeout
from voice_worker.playback import play_clip
from voice_worker.service import ChannelInfo

log = logging.getLogger(__name__)


def _info(channel: Any) -> ChannelInfo:
    return ChannelInfo(channel.id, channel.name)


class DiscordVoiceGateway:
    def __init__(self, client: discord.Client, voice_client_cls: type[discord.VoiceClient] = discord.VoiceClient
                 ) -> None:
        self._client = client
        self._voice_client_cls = voice_client_cls

    def _guild(self, guild_id: int) -> discord.Guild | None:
        return self._client.get_guild(guild_id)

    def _voice_client(self, guild_id: int) -> discord.VoiceClient | None:
        guild = self._guild(guild_id)
        vc = guild.voice_client if guild else None
        return vc if isinstance(vc, discord.VoiceClient) else None

    def has_guild(self, guild_id: int) -> bool:
        guild = self._guild(guild_id)
        return guild is not None and not guild.unavailable

    def voice_channel(self, guild_id: int, channel_id: int) -> ChannelInfo | None:
        guild = self._guild(guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        return _info(channel) if isinstance(channel, discord.VoiceChannel | discord.StageChannel) else None

    def member_channel(self, guild_id: int, user_id: int) -> ChannelInfo | None:
        guild = self._guild(guild_id)
        if guild is None:
            return None
        # channel.voice_states is filled from GUILD_CREATE and VOICE_STATE_UPDATE (voice_states intent), with
        # no need for the members intent.
        for channel in (*guild.voice_channels, *guild.stage_channels):
            if user_id in channel.voice_states:
                return _info(channel)
        return None

    def bot_channel(self, guild_id: int) -> ChannelInfo | None:
        vc = self._voice_client(guild_id)
        return _info(vc.channel) if vc is not None and vc.channel is not None else None

    def humans_in(self, guild_id: int, channel_id: int) -> int:
        guild = self._guild(guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return 0
        me = self._client.user.id if self._client.user else None
        humans = 0
        for user_id in channel.voice_states:
            if user_id == me:
                continue
            member = guild.get_member(user_id) if guild else None
            # An uncached member counts as human: better to stay than to leave someone talking to the bot.
            if member is None or not member.bot:
                humans += 1
        return humans

    def display_name(self, guild_id: int, user_id: int) -> str | None:
        guild = self._guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        return member.display_name if member else None

    def connected_guilds(self) -> list[int]:
        return [vc.guild.id for vc in self._client.voice_clients if isinstance(vc, discord.VoiceClient)]

    async def connect(self, guild_id: int, channel_id: int, timeout: float) -> None:
        guild = self._guild(guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        if guild is None or not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            raise VoiceConnectRefused("that voice channel is gone.")
        perms = channel.permissions_for(guild.me)
        if not perms.connect or not perms.speak:
            raise VoiceConnectRefused("I need the Connect and Speak permissions there.")
        if channel.user_limit and len(channel.voice_states) >= channel.user_limit and not perms.move_members:
            raise VoiceConnectRefused("the channel is full.")
        vc = self._voice_client(guild_id)
        if vc is None:
            await self._settle_leave(guild, timeout)
        try:
            if vc is not None:
                await vc.move_to(channel, timeout=timeout)
            else:
                # reconnect=False: discord.py would otherwise retry some close codes forever; the service
                # caps the attempts instead.
                await channel.connect(cls=self._voice_client_cls, timeout=timeout, reconnect=False,
                                      self_deaf=True)
        except TimeoutError as exc:
            raise VoiceConnectTimeout(detail=str(exc)) from exc
        except discord.ConnectionClosed as exc:
            if exc.code in (4014, 4021, 4022):
                raise VoiceConnectRefused(f"Discord closed the voice connection (code {exc.code}).") from exc
            raise VoiceConnectTimeout(detail=f"voice websocket closed with {exc.code}") from exc
        except discord.ClientException as exc:
            raise VoiceConnectRefused(f"{exc}.") from exc
        except (aiohttp.ClientConnectorCertificateError, ssl.SSLError) as exc:
            # A certificate the worker does not trust will not become trusted on the next attempt.
            raise VoiceConnectRefused("the voice server's TLS certificate is not trusted.", detail=str(exc)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise VoiceConnectTimeout(detail=f"voice server unreachable: {exc}") from exc

    async def _settle_leave(self, guild: discord.Guild, timeout: float) -> None:
        """After discord.py drops a connection on its own (close code 4021, for one) it asks to leave without
        waiting for Discord's answer; a join sent before that answer arrives would be torn down by it."""
        me = guild.me
        if me is None or me.voice is None or me.voice.channel is None:
            return

        def left(member: discord.Member, _before: discord.VoiceState, after: discord.VoiceState) -> bool:
            return member.id == me.id and after.channel is None

        try:
            await self._client.wait_for("voice_state_update", check=left, timeout=min(timeout, 5.0))
        except TimeoutError:
            log.info("no confirmation of the last leave in guild %s; joining anyway", guild.id)

    async def disconnect(self, guild_id: int) -> None:
        vc = self._voice_client(guild_id)
        if vc is not None:
            await vc.disconnect(force=True)

    async def play(self, guild_id: int, path: Path, max_seconds: int) -> int:
        vc = self._voice_client(guild_id)
        if vc is None:
            from voice_worker.errors import PlaybackFailed

            raise PlaybackFailed("I am not connected to voice right now.")
        return await play_clip(vc, path, max_seconds)

    def stop_playing(self, guild_id: int) -> bool:
        vc = self._voice_client(guild_id)
        if vc is None or not vc.is_playing():
            return False
        vc.stop()
        return True
