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
from shared.discord.components import answer_buttons
from shared.discord.text import clip
from shared.domain.time import utc_now
from shared.errors import BotError
from shared.storage.exchanges import Exchange
from voice_worker import replies
from voice_worker.stt import is_audio_attachment

if TYPE_CHECKING:
    from voice_worker.answers import ModelAnswer
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
        if answer is None or not answer.text:
            return
        sent = await message.reply(clip(answer.text), view=answer_view(), mention_author=False,
                                   allowed_mentions=NO_MENTIONS)
        await self.record_exchange(message, sent, text, answer)
        await self.bot.service.speak_for(message.guild.id, message.author.id, answer.text)

    async def record_exchange(self, message: discord.Message, sent: discord.Message, transcript: str,
                              answer: ModelAnswer) -> None:
        """Keyed by the answer's message id, as /ask's: 👍 / 👎 and corrections find the prompt and model."""
        if self.bot.exchanges is None or message.guild is None:
            return
        exchange = Exchange(guild_id=str(message.guild.id), message_id=str(sent.id),
                            channel_id=str(message.channel.id), user_id=str(message.author.id), prompt=transcript,
                            answer=clip(answer.text), model=answer.model, created_at=utc_now())
        try:
            await asyncio.to_thread(self.bot.exchanges.add, exchange)
        except BotError:
            log.warning("the answer to a voice message in guild %s was not recorded", message.guild.id)


def answer_view() -> discord.ui.View:
    """👍 / 👎 / Correct under the answer: the custom ids of ``shared.discord.components.answer_buttons``,
    handled by the interactions endpoint (interactions never reach this gateway connection)."""
    view = discord.ui.View(timeout=None)
    for row in answer_buttons():
        for button in row["components"]:
            emoji = (button.get("emoji") or {}).get("name")
            view.add_item(discord.ui.Button(style=discord.ButtonStyle(button["style"]), label=button.get("label"),
                                            emoji=emoji, custom_id=button["custom_id"]))
    return view


async def setup(bot: VoiceBot) -> None:
    await bot.add_cog(Transcription(bot))
