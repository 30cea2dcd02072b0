"""Every text the voice worker puts in a reply, and the Replier that edits the deferred interaction response."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from shared.config import Settings
from shared.contracts.messages import InteractionRef

log = logging.getLogger(__name__)

NOT_IN_VOICE = "You are not in a voice channel"
BOT_NOT_IN_VOICE = "I am not in a voice channel here"
CHANNEL_NOT_FOUND = "I cannot find that voice channel"
GUILD_ONLY = "Voice commands work only in a server"
UNKNOWN_ACTION = "I do not know that voice action"
GUILD_UNAVAILABLE = "I am not in this server, or it is unavailable right now"
LEAVE_FORBIDDEN = "Only members in my voice channel, or with Manage Server, can make me leave"
NOTHING_TO_SAY = "There is nothing to say in that text"
NOTHING_PLAYING = "Nothing is playing"
SHUTTING_DOWN = "The voice worker is restarting. Please try again in a minute"
GENERIC_FAILURE = "Something went wrong with that voice request. Please try again"
NO_TRANSCRIPT = "I could not make out any words in that audio"


def joined(channel: str) -> str:
    return f"Joined #{channel}"


def channel_empty(channel: str) -> str:
    return f"No one is in #{channel}. Join it first, then ask me again"


def already_in(channel: str) -> str:
    return f"I am already in #{channel}"


def busy_elsewhere(channel: str) -> str:
    return f"I am busy in #{channel}; someone there (or with Manage Server) can /leave first"


def left(channel: str) -> str:
    return f"Left #{channel}"


def say_forbidden(channel: str) -> str:
    return f"Join my voice channel #{channel} to use /say"


def control_forbidden(channel: str) -> str:
    return f"Only members in #{channel}, or with Manage Server, can skip or clear"


def saying(channel: str) -> str:
    return f"Saying it in #{channel}"


def queued(channel: str, ahead: int) -> str:
    return f"Queued in #{channel} ({ahead} ahead)"


def queue_full(limit: int) -> str:
    return f"My queue here is full ({limit} clips). Try again when it has played"


def skipped() -> str:
    return "Skipped the current clip"


def cleared(count: int) -> str:
    return f"Cleared {count} queued clip{'s' if count != 1 else ''}"


def connect_refused(channel: str, reason: str) -> str:
    return f"Discord refused to let me into #{channel}: {reason}"


def connect_timed_out(channel: str, attempts: int) -> str:
    return f"I could not connect to #{channel} after {attempts} attempts. Please try again in a minute"


def playback_failed(reason: str) -> str:
    return f"I could not play that clip: {reason}"


def wrong_shard(shard_id: int, expected: int) -> str:
    return (f"This server's voice requests reached voice worker {shard_id}, but shard {expected} holds it. "
            "Please tell the bot's operators")


def transcript(text: str) -> str:
    return f"Transcript: {text}"


class Replier(Protocol):
    """Edits the deferred (type 5) response of an interaction."""

    async def edit_original(self, ref: InteractionRef, content: str) -> None: ...


async def edit_reply(replier: Replier, ref: InteractionRef, content: str) -> None:
    """Edit the reply, logging (not raising) a failure: the request itself was handled."""
    try:
        await replier.edit_original(ref, content)
    except Exception:
        log.exception("could not edit the reply of interaction %s", ref.id)


class RestReplier:
    """Production replier: the interaction webhook through the shared REST client (blocking, so in a thread).

    No bot token is needed: the interaction token authorises the edit for 15 minutes.
    """

    def __init__(self, settings: Settings, rest: Any = None) -> None:
        self._settings = settings
        self._rest = rest

    def _client(self) -> Any:
        if self._rest is None:
            # Imported lazily: the REST client is built on first use, never at import.
            from shared.discord.rest import DiscordRest

            self._rest = DiscordRest(self._settings)
        return self._rest

    async def edit_original(self, ref: InteractionRef, content: str) -> None:
        rest = self._client()
        await asyncio.to_thread(rest.edit_original, ref.application_id, ref.token, content=content)
        log.debug("edited reply of interaction %s", ref.id)
