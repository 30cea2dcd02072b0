"""What the voice worker does with a VoiceRequest, in plain asyncio: testable without Discord.

Discord is reached only through the :class:`VoiceGateway` protocol (the discord.py adapter lives in
``discord_gateway.py``). Each guild has a bounded queue of speech items played in order by one task, so clips
never overlap and a slow guild never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shared.contracts.messages import InteractionRef, VoiceKind, VoiceRequest
from shared.discord.permissions import is_trainer
from shared.errors import BotError
from shared.storage.voice_settings import VoiceSettings
from voice_worker import replies
from voice_worker.errors import VoiceConnectRefused, VoiceConnectTimeout
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.speech_text import SpeechText, prepare
from voice_worker.tts import Synthesizer

log = logging.getLogger(__name__)


def can_manage_guild(ref: InteractionRef) -> bool:
    """Manage Server or Administrator, from the signed interaction (the trainer check without a role)."""
    return is_trainer({"permissions": ref.member_permissions})


@dataclass(frozen=True)
class ChannelInfo:
    id: int
    name: str


class VoiceGateway(Protocol):
    """The little of Discord the service needs; answers come from the gateway caches."""

    def has_guild(self, guild_id: int) -> bool: ...
    def voice_channel(self, guild_id: int, channel_id: int) -> ChannelInfo | None: ...
    def member_channel(self, guild_id: int, user_id: int) -> ChannelInfo | None: ...
    def bot_channel(self, guild_id: int) -> ChannelInfo | None: ...
    def humans_in(self, guild_id: int, channel_id: int) -> int: ...
    def display_name(self, guild_id: int, user_id: int) -> str | None: ...
    def connected_guilds(self) -> list[int]: ...

    async def connect(self, guild_id: int, channel_id: int, timeout: float) -> None:
        """One attempt: raise VoiceConnectRefused (final) or VoiceConnectTimeout (worth another try)."""
        ...

    async def disconnect(self, guild_id: int) -> None: ...

    async def play(self, guild_id: int, path: Path, max_seconds: int) -> int:
        """Play a file to the end (or until stopped); return the packets sent, raise PlaybackFailed."""
        ...

    def stop_playing(self, guild_id: int) -> bool: ...


@dataclass
class SpeechItem:
    ref: InteractionRef | None  # None: an answer spoken for a channel message, no interaction to edit
    text: SpeechText
    language: str
    engine: str | None
    max_seconds: int
    # A spoken /ask answer: its reply already holds the answer, so the worker never overwrites it.
    announce: bool = True


@dataclass
class GuildVoice:
    queue: asyncio.Queue[SpeechItem]
    last_active: float
    playing: SpeechItem | None = None
    skip_requested: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class VoiceService:
    def __init__(self, gateway: VoiceGateway, synthesizer: Synthesizer, settings_store: VoiceSettingsStore,
                 replier: replies.Replier, *, clock: Callable[[], float] = time.monotonic,
                 queue_limit: int = 10, connect_attempts: int = 3, connect_timeout: float = 15.0,
                 connect_retry_delay: float = 2.0, work_dir: Path | None = None) -> None:
        self._gateway = gateway
        self._synth = synthesizer
        self._store = settings_store
        self._replier = replier
        self._clock = clock
        self._queue_limit = queue_limit
        self._connect_attempts = connect_attempts
        self._connect_timeout = connect_timeout
        self._connect_retry_delay = connect_retry_delay
        self._owns_work_dir = work_dir is None  # a directory of its own is removed at shutdown
        self._work_dir = work_dir or Path(tempfile.mkdtemp(prefix="voice-clips-"))
        self._guilds: dict[int, GuildVoice] = {}
        self._leaving: set[int] = set()
        self.accepting = True

    # -- requests ---------------------------------------------------------------------------------------------

    async def handle(self, request: VoiceRequest) -> str | None:
        """Act on one request and return the reply text (None: leave the reply as it is)."""
        ref = request.interaction
        if not self.accepting:
            return replies.SHUTTING_DOWN
        if ref.guild_id is None:
            return replies.GUILD_ONLY
        guild_id = int(ref.guild_id)
        if not self._gateway.has_guild(guild_id):
            return replies.GUILD_UNAVAILABLE
        handlers = {VoiceKind.JOIN: self._join, VoiceKind.LEAVE: self._leave, VoiceKind.SAY: self._say,
                    VoiceKind.SPEAK_ANSWER: self._say, VoiceKind.SKIP: self._skip, VoiceKind.CLEAR: self._clear}
        return await handlers[request.kind](guild_id, request)

    def _guild(self, guild_id: int) -> GuildVoice:
        gv = self._guilds.get(guild_id)
        if gv is None:
            gv = GuildVoice(queue=asyncio.Queue(self._queue_limit), last_active=self._clock())
            self._guilds[guild_id] = gv
        return gv

    async def _join(self, guild_id: int, request: VoiceRequest) -> str:
        ref = request.interaction
        explicit = request.args.channel_id
        if explicit:
            target = self._gateway.voice_channel(guild_id, int(explicit))
            if target is None:
                return replies.CHANNEL_NOT_FOUND
            if self._gateway.humans_in(guild_id, target.id) == 0:
                # Joining would only trigger the auto-leave for an empty channel at once.
                return replies.channel_empty(target.name)
        else:
            target = self._gateway.member_channel(guild_id, int(ref.user_id))
            if target is None:
                return replies.NOT_IN_VOICE
        current = self._gateway.bot_channel(guild_id)
        if current is not None:
            if current.id == target.id:
                return replies.already_in(current.name)
            caller_there = self._gateway.member_channel(guild_id, int(ref.user_id)) == current
            if (self._gateway.humans_in(guild_id, current.id) > 0 and not caller_there
                    and not can_manage_guild(ref)):
                return replies.busy_elsewhere(current.name)
        failure = await self._connect(guild_id, target)
        if failure:
            return failure
        self._guild(guild_id).last_active = self._clock()
        return replies.joined(target.name)

    async def _connect(self, guild_id: int, target: ChannelInfo) -> str | None:
        """Capped attempts: discord.py itself would retry some close codes forever."""
        for attempt in range(1, self._connect_attempts + 1):
            try:
                await self._gateway.connect(guild_id, target.id, self._connect_timeout)
                return None
            except VoiceConnectRefused as exc:
                log.warning("voice connect to %s refused: %s", target.id, exc)
                return replies.connect_refused(target.name, exc.user_message)
            except VoiceConnectTimeout:
                log.warning("voice connect to %s timed out (attempt %d)", target.id, attempt)
                if attempt < self._connect_attempts:
                    await asyncio.sleep(self._connect_retry_delay * attempt)
        return replies.connect_timed_out(target.name, self._connect_attempts)

    async def _leave(self, guild_id: int, request: VoiceRequest) -> str:
        ref = request.interaction
        current = self._gateway.bot_channel(guild_id)
        if current is None:
            return replies.BOT_NOT_IN_VOICE
        if (self._gateway.member_channel(guild_id, int(ref.user_id)) != current
                and not can_manage_guild(ref)):
            return replies.LEAVE_FORBIDDEN
        await self.leave_guild(guild_id, reason=f"/leave by {ref.user_id}")
        return replies.left(current.name)

    def _check_control(self, guild_id: int, ref: InteractionRef) -> tuple[ChannelInfo | None, str | None]:
        current = self._gateway.bot_channel(guild_id)
        if current is None:
            return None, replies.BOT_NOT_IN_VOICE
        if (self._gateway.member_channel(guild_id, int(ref.user_id)) != current
                and not can_manage_guild(ref)):
            return current, replies.control_forbidden(current.name)
        return current, None

    async def _say(self, guild_id: int, request: VoiceRequest) -> str:
        """/say, and speak_answer (an /ask answer spoken aloud): the consumer never edits the latter's reply,
        and its playback failures are not announced either."""
        ref = request.interaction
        announce = request.kind == VoiceKind.SAY
        current = self._gateway.bot_channel(guild_id)
        if current is None:
            return replies.BOT_NOT_IN_VOICE
        if self._gateway.member_channel(guild_id, int(ref.user_id)) != current:
            return replies.say_forbidden(current.name)
        voice: VoiceSettings = await self._store.get(str(guild_id))
        text = prepare(request.args.text, max_chars=voice.max_clip_chars,
                       name_of=lambda uid: self._gateway.display_name(guild_id, int(uid)))
        if not text.chunks:
            return replies.NOTHING_TO_SAY
        gv = self._guild(guild_id)
        ahead = gv.queue.qsize() + (1 if gv.playing else 0)
        item = SpeechItem(ref, text, request.args.language or voice.language, voice.engine,
                          voice.max_clip_seconds, announce)
        if not self._enqueue(guild_id, item):
            return replies.queue_full(self._queue_limit)
        return replies.saying(current.name) if ahead == 0 else replies.queued(current.name, ahead)

    async def speak_for(self, guild_id: int, user_id: int, text: str) -> bool:
        """Speak ``text`` (a model's answer) if ``user_id`` is in the bot's voice channel; True if queued."""
        current = self._gateway.bot_channel(guild_id)
        if not self.accepting or current is None or self._gateway.member_channel(guild_id, user_id) != current:
            return False
        voice = await self._store.get(str(guild_id))
        speech = prepare(text, max_chars=voice.max_clip_chars,
                         name_of=lambda uid: self._gateway.display_name(guild_id, int(uid)))
        if not speech.chunks:
            return False
        return self._enqueue(guild_id, SpeechItem(None, speech, voice.language, voice.engine,
                                                  voice.max_clip_seconds, announce=False))

    def _enqueue(self, guild_id: int, item: SpeechItem) -> bool:
        gv = self._guild(guild_id)
        try:
            gv.queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        gv.last_active = self._clock()
        if gv.task is None or gv.task.done():
            gv.task = asyncio.create_task(self._play_queue(guild_id, gv), name=f"voice-queue-{guild_id}")
        return True

    async def _skip(self, guild_id: int, request: VoiceRequest) -> str:
        _, refused = self._check_control(guild_id, request.interaction)
        if refused:
            return refused
        gv = self._guilds.get(guild_id)
        if gv is None or gv.playing is None:
            return replies.NOTHING_PLAYING
        gv.skip_requested = True
        self._gateway.stop_playing(guild_id)
        return replies.skipped()

    async def _clear(self, guild_id: int, request: VoiceRequest) -> str:
        _, refused = self._check_control(guild_id, request.interaction)
        if refused:
            return refused
        return replies.cleared(self._drain(guild_id))

    def _drain(self, guild_id: int) -> int:
        gv = self._guilds.get(guild_id)
        count = 0
        while gv is not None and not gv.queue.empty():
            gv.queue.get_nowait()
            gv.queue.task_done()
            count += 1
        return count

    # -- playback ---------------------------------------------------------------------------------------------

    async def _play_queue(self, guild_id: int, gv: GuildVoice) -> None:
        while True:
            item = await gv.queue.get()
            gv.playing, gv.skip_requested = item, False
            try:
                await self._speak(guild_id, gv, item)
            except BotError as exc:
                log.warning("clip in guild %s failed: %s", guild_id, exc)
                if item.announce and item.ref and not gv.skip_requested:
                    await replies.edit_reply(self._replier, item.ref, replies.playback_failed(exc.user_message))
            except Exception:
                log.exception("clip in guild %s failed", guild_id)
                if item.announce and item.ref:
                    await replies.edit_reply(self._replier, item.ref, replies.GENERIC_FAILURE)
            finally:
                gv.playing = None
                gv.last_active = self._clock()
                gv.queue.task_done()

    async def _speak(self, guild_id: int, gv: GuildVoice, item: SpeechItem) -> None:
        for chunk in item.text.chunks:
            if gv.skip_requested or not self.accepting:
                return
            clip = await self._synth.synthesize(chunk, item.language, self._work_dir, item.engine)
            try:
                if gv.skip_requested or not self.accepting:
                    return
                await self._gateway.play(guild_id, clip.path, item.max_seconds)
            finally:
                clip.path.unlink(missing_ok=True)

    # -- leaving ----------------------------------------------------------------------------------------------

    async def leave_guild(self, guild_id: int, *, reason: str) -> None:
        # The bot's own voice-state update arrives while the disconnect is still under way; without this
        # guard it would look like an empty channel and start a second leave.
        if guild_id in self._leaving:
            return
        self._leaving.add(guild_id)
        try:
            self._drain(guild_id)
            gv = self._guilds.get(guild_id)
            if gv is not None and gv.playing is not None:
                gv.skip_requested = True
                self._gateway.stop_playing(guild_id)
            log.info("leaving voice in guild %s: %s", guild_id, reason)
            await self._gateway.disconnect(guild_id)
        finally:
            self._leaving.discard(guild_id)

    async def on_voice_state_change(self, guild_id: int) -> None:
        """Leave as soon as no human is left in the bot's channel."""
        if guild_id in self._leaving:
            return
        current = self._gateway.bot_channel(guild_id)
        if current is None:
            self._drain(guild_id)
            return
        if self._gateway.humans_in(guild_id, current.id) == 0:
            await self.leave_guild(guild_id, reason="no one left in the channel")

    async def sweep_idle(self) -> list[int]:
        """Leave every channel that is empty of humans or idle past the guild's timeout; return those left."""
        left: list[int] = []
        now = self._clock()
        for guild_id in self._gateway.connected_guilds():
            current = self._gateway.bot_channel(guild_id)
            if current is None:
                continue
            gv = self._guild(guild_id)
            if self._gateway.humans_in(guild_id, current.id) == 0:
                await self.leave_guild(guild_id, reason="no one left in the channel")
                left.append(guild_id)
                continue
            timeout = (await self._store.get(str(guild_id))).idle_timeout_seconds
            if gv.playing is None and gv.queue.empty() and now - gv.last_active >= timeout:
                await self.leave_guild(guild_id, reason=f"idle for {timeout}s")
                left.append(guild_id)
        return left

    async def shutdown(self, *, finish_current: float = 0.0) -> None:
        """Stop taking requests, let the current clip finish for up to ``finish_current`` seconds (else drop
        it), and leave every voice channel."""
        self.accepting = False
        for guild_id in self._guilds:
            self._drain(guild_id)
        # Every guild's current clip under one deadline, not one deadline per guild in turn.
        playing = [gv for gv in self._guilds.values() if gv.playing is not None and gv.task is not None]
        if playing and finish_current > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(gv.queue.join() for gv in playing)), finish_current)
        for guild_id, gv in self._guilds.items():
            if gv.playing is not None:
                gv.skip_requested = True
                self._gateway.stop_playing(guild_id)
        await asyncio.gather(*(_cancel(gv.task) for gv in self._guilds.values() if gv.task is not None))
        for guild_id in list(self._gateway.connected_guilds()):
            try:
                await self._gateway.disconnect(guild_id)
            except Exception:
                log.exception("could not leave voice in guild %s", guild_id)
        if self._owns_work_dir:
            shutil.rmtree(self._work_dir, ignore_errors=True)


async def _cancel(task: asyncio.Task[None], attempts: int = 3) -> None:
    """Cancel and wait; again if a cancellation raced with a completing await and was swallowed."""
    for _ in range(attempts):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
            return
    log.warning("task %s did not stop", task.get_name())
