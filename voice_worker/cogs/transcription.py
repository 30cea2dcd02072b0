"""Transcribes voice messages and audio attachments in channels where the guild enabled it.

The ``answerer`` (injected into VoiceBot; None when no model provider is configured) turns a transcript into the
model's answer, which is posted and, when the author is in the bot's voice channel, spoken.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from shared.discord.attachment_rules import MAX_AUDIO_BYTES
from shared.discord.attachments import fetch_attachment_bytes
from shared.discord.text import clip
from shared.errors import BotError
from voice_worker import replies
from voice_worker.stt import is_audio_attachment

if TYPE_CHECKING:
    from voice_worker.bot import VoiceBot

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


class Transcription(commands.Cog):
    def __init__(self, bot: VoiceBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None or not message.attachments:
            return
        voice = await self.bot.settings_store.get(str(message.guild.id))
        if str(message.channel.id) not in voice.transcribe_channels:
            return
        for attachment in message.attachments:
            if is_audio_attachment(attachment.content_type, attachment.filename, message.flags.voice):
                await self.transcribe(message, attachment.url, voice.stt_language or voice.language)

    async def transcribe(self, message: discord.Message, url: str, language: str) -> None:
        assert self.bot.transcriber is not None and message.guild is not None
        try:
            data = await asyncio.to_thread(fetch_attachment_bytes, url, settings=self.bot.settings,
                                           max_bytes=MAX_AUDIO_BYTES)
            text = await self.bot.transcriber.transcribe(data, language)
        except BotError as exc:
            await message.reply(exc.user_message, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        if not text:
            await message.reply(replies.NO_TRANSCRIPT, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        await message.reply(clip(replies.transcript(text)), mention_author=False, allowed_mentions=NO_MENTIONS)
        if self.bot.answerer is None:
            return
        answer = await self.bot.answerer(message.guild.id, message.author.id, text)
        if answer:
            await message.reply(clip(answer), mention_author=False, allowed_mentions=NO_MENTIONS)
            await self.bot.service.speak_for(message.guild.id, message.author.id, answer)


async def setup(bot: VoiceBot) -> None:
    await bot.add_cog(Transcription(bot))
