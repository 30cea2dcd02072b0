"""/join, /leave, /say, /skip and /clear: the HTTP side cannot see voice channels, so each becomes a request on
the voice queue; the voice worker (which holds the gateway connection and its voice-state cache) acts on it and
edits the deferred reply ("Joined #General", "You are not in a voice channel", ...)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from shared.errors import InvalidInput
from shared.storage.voice_settings import (
    MAX_IDLE_SECONDS,
    VoiceSettings,
    read_voice_settings,
    write_voice_settings,
)

from .. import responses
from ..context import InteractionContext
from ..deferral import defer_voice
from ..registry import GUILD_ONLY, Choice, Command, Option, OptionType

MAX_SAY = 1000
MAX_TRANSCRIBED_CHANNELS = 25
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
VOICE_CHANNEL_TYPES = (2, 13)  # voice and stage channels


def join(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import JoinArgs, VoiceKind

    ctx.require_guild()
    channel = ctx.options().get("channel")
    return defer_voice(ctx, VoiceKind.JOIN, JoinArgs(channel_id=str(channel) if channel else ""))


def leave(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import VoiceKind

    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.LEAVE)


def say(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import SpeechArgs, VoiceKind

    ctx.require_guild()
    text = str(ctx.options().get("text") or "").strip()
    if not text:
        raise InvalidInput("Give me something to say.")
    return defer_voice(ctx, VoiceKind.SAY, SpeechArgs(text=text[:MAX_SAY]))


def skip(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import VoiceKind

    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.SKIP)


def clear(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import VoiceKind

    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.CLEAR)


TEXT_CHANNEL_TYPES = (0, 2, 5, 11, 12)  # text, voice (its chat), announcement, threads
ENGINE_NAMES = {"espeak": "espeak-ng (offline)", "gtts": "Google Translate TTS", "polly": "Amazon Polly"}


def _describe(voice: VoiceSettings) -> str:
    channels = ", ".join(f"<#{c}>" for c in voice.transcribe_channels) or "none"
    engine = ENGINE_NAMES.get(voice.engine, voice.engine) if voice.engine else "the deployment's default"
    return (f"Speech engine: {engine}\nVoice/language: {voice.language}\n"
            f"Leaves after {voice.idle_timeout_seconds // 60} min without speaking\n"
            f"Voice messages transcribed in: {channels}")


def voice_settings(ctx: InteractionContext) -> dict[str, Any]:
    """Show, or change, this server's voice settings (trainers and Manage Server)."""
    guild_id = ctx.require_trainer()
    options = ctx.options()
    table = ctx.stores.table
    current = read_voice_settings(table, guild_id)
    changes: dict[str, Any] = {}
    if "engine" in options:
        changes["engine"] = None if options["engine"] == "default" else str(options["engine"])
    if "language" in options:
        language = str(options["language"]).strip()
        if not LANGUAGE_TAG.fullmatch(language):
            raise InvalidInput("Give the language as a tag like en-US, fr or pt-BR.")
        changes["language"] = language
    if "idle_minutes" in options:
        changes["idle_timeout_seconds"] = int(options["idle_minutes"]) * 60
    channels = list(current.transcribe_channels)
    if options.get("transcribe_add") and str(options["transcribe_add"]) not in channels:
        channels.append(str(options["transcribe_add"]))
    if options.get("transcribe_remove"):
        channels = [c for c in channels if c != str(options["transcribe_remove"])]
    if channels != list(current.transcribe_channels):
        changes["transcribe_channels"] = tuple(channels[:MAX_TRANSCRIBED_CHANNELS])
    if not changes:
        return responses.reply(f"Voice settings here:\n{_describe(current)}", ephemeral=True)
    updated = dataclasses.replace(current, **changes)
    write_voice_settings(table, guild_id, updated)  # InvalidInput for values out of range
    return responses.reply(f"Voice settings saved (the voice worker uses them within a minute):\n"
                           f"{_describe(updated)}", ephemeral=True)


DECLARATIONS = (
    Command("join", "Join your voice channel (or the one you name).", join,
            options=(Option("channel", "Voice channel", OptionType.CHANNEL, channel_types=VOICE_CHANNEL_TYPES),),
            contexts=GUILD_ONLY),
    Command("leave", "Leave the voice channel.", leave, contexts=GUILD_ONLY),
    Command("say", "Say something aloud in the voice channel.", say,
            options=(Option("text", "What to say", OptionType.STRING, required=True, max_length=MAX_SAY),),
            contexts=GUILD_ONLY),
    Command("skip", "Skip what the bot is saying now.", skip, contexts=GUILD_ONLY),
    Command("clear", "Drop everything the bot was going to say.", clear, contexts=GUILD_ONLY),
    Command("voice_settings", "Show or change this server's voice settings.", voice_settings,
            options=(
                Option("engine", "Speech engine", OptionType.STRING,
                       choices=(Choice("Deployment default", "default"),
                                *(Choice(name, value) for value, name in ENGINE_NAMES.items()))),
                Option("language", "Voice language, as a tag like en-US or fr", OptionType.STRING,
                       min_length=2, max_length=35),
                Option("idle_minutes", "Leave after this many minutes without speaking", OptionType.INTEGER,
                       min_value=1, max_value=MAX_IDLE_SECONDS // 60),
                Option("transcribe_add", "Also transcribe voice messages in this channel", OptionType.CHANNEL,
                       channel_types=TEXT_CHANNEL_TYPES),
                Option("transcribe_remove", "Stop transcribing voice messages in this channel", OptionType.CHANNEL,
                       channel_types=TEXT_CHANNEL_TYPES),
            ),
            trainer=True, contexts=GUILD_ONLY),
)
