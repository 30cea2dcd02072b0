"""/join, /leave, /say, /skip and /clear: the HTTP side cannot see voice channels, so each becomes a request on
the voice queue; the voice worker (which holds the gateway connection and its voice-state cache) acts on it and
edits the deferred reply ("Joined #General", "You are not in a voice channel", ...)."""

from __future__ import annotations

from typing import Any

from shared.contracts.messages import JoinArgs, SpeechArgs, VoiceKind
from shared.errors import InvalidInput

from ..context import InteractionContext
from ..deferral import defer_voice
from ..registry import GUILD_ONLY, Command, Option, OptionType

MAX_SAY = 1000
VOICE_CHANNEL_TYPES = (2, 13)  # voice and stage channels


def join(ctx: InteractionContext) -> dict[str, Any]:
    ctx.require_guild()
    channel = ctx.options().get("channel")
    return defer_voice(ctx, VoiceKind.JOIN, JoinArgs(channel_id=str(channel) if channel else ""))


def leave(ctx: InteractionContext) -> dict[str, Any]:
    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.LEAVE)


def say(ctx: InteractionContext) -> dict[str, Any]:
    ctx.require_guild()
    text = str(ctx.options().get("text") or "").strip()
    if not text:
        raise InvalidInput("Give me something to say.")
    return defer_voice(ctx, VoiceKind.SAY, SpeechArgs(text=text[:MAX_SAY]))


def skip(ctx: InteractionContext) -> dict[str, Any]:
    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.SKIP)


def clear(ctx: InteractionContext) -> dict[str, Any]:
    ctx.require_guild()
    return defer_voice(ctx, VoiceKind.CLEAR)


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
)
