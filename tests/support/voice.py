"""Test doubles: replies recorder, in-memory gateway for the service, and discord.py objects built from gateway
payloads with a voice client whose only fake part is the UDP transport."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import discord
from discord.user import ClientUser

from shared.config import Settings
from shared.contracts.messages import InteractionRef, VoiceRequest
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.service import ChannelInfo, VoiceService
from voice_worker.tts import EspeakEngine, Synthesizer

BOT_ID = 900000000000000001
GUILD_ID = 1100000000000000000 | (1 << 22)  # shard 0 of 1; its >> 22 is odd, so shard 1 of 2
VOICE_ID = 300000000000000001
OTHER_VOICE_ID = 300000000000000002
TEXT_ID = 300000000000000003
ALICE, BOB, OTHER_BOT = 500000000000000001, 500000000000000002, 500000000000000003


def ref(interaction_id: str = "700000000000000001", *, user_id: int = ALICE, guild_id: int | None = GUILD_ID,
        permissions: int = 0) -> InteractionRef:
    return InteractionRef(id=interaction_id, application_id="800000000000000001", token="secret-token",
                          guild_id=str(guild_id) if guild_id else None, channel_id=str(TEXT_ID),
                          user_id=str(user_id), member_permissions=permissions)


def request(kind: str, interaction_id: str = "700000000000000001", **kwargs: Any) -> VoiceRequest:
    args = kwargs.pop("args", {})
    return VoiceRequest(kind=kind, interaction=ref(interaction_id, **kwargs), args=args)


class RecordingReplier:
    def __init__(self) -> None:
        self.edits: list[tuple[str, str]] = []

    async def edit_original(self, ref: InteractionRef, content: str) -> None:
        self.edits.append((ref.id, content))

    @property
    def texts(self) -> list[str]:
        return [content for _, content in self.edits]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeGateway:
    """The service's view of Discord, in memory. Playback really runs ffmpeg to count frames when asked."""

    channels: dict[int, str] = field(default_factory=lambda: {VOICE_ID: "General", OTHER_VOICE_ID: "Music"})
    members: dict[int, int] = field(default_factory=dict)  # user id → voice channel id
    bots: set[int] = field(default_factory=set)
    bot_in: int | None = None
    connect_outcomes: list[Exception | None] = field(default_factory=list)
    connect_calls: int = 0
    played: list[Path] = field(default_factory=list)
    play_delay: float = 0.0
    play_error: Exception | None = None
    stopped: int = 0
    _stop_event: asyncio.Event | None = None

    def has_guild(self, guild_id: int) -> bool:
        return guild_id == GUILD_ID

    def voice_channel(self, guild_id: int, channel_id: int) -> ChannelInfo | None:
        return ChannelInfo(channel_id, self.channels[channel_id]) if channel_id in self.channels else None

    def member_channel(self, guild_id: int, user_id: int) -> ChannelInfo | None:
        cid = self.members.get(user_id)
        return ChannelInfo(cid, self.channels[cid]) if cid else None

    def bot_channel(self, guild_id: int) -> ChannelInfo | None:
        return ChannelInfo(self.bot_in, self.channels[self.bot_in]) if self.bot_in else None

    def humans_in(self, guild_id: int, channel_id: int) -> int:
        return sum(1 for u, c in self.members.items() if c == channel_id and u not in self.bots)

    def display_name(self, guild_id: int, user_id: int) -> str | None:
        return {ALICE: "Alice", BOB: "Bob"}.get(user_id)

    def connected_guilds(self) -> list[int]:
        return [GUILD_ID] if self.bot_in else []

    async def connect(self, guild_id: int, channel_id: int, timeout: float) -> None:
        self.connect_calls += 1
        outcome = self.connect_outcomes.pop(0) if self.connect_outcomes else None
        if outcome is not None:
            raise outcome
        self.bot_in = channel_id

    async def disconnect(self, guild_id: int) -> None:
        self.bot_in = None

    async def play(self, guild_id: int, path: Path, max_seconds: int) -> int:
        if self.play_error:
            raise self.play_error
        assert path.exists() and path.stat().st_size > 0
        self.played.append(path)
        self._stop_event = asyncio.Event()
        try:
            async with asyncio.timeout(self.play_delay):
                await self._stop_event.wait()
        except TimeoutError:
            pass
        return 1

    def stop_playing(self, guild_id: int) -> bool:
        self.stopped += 1
        if self._stop_event:
            self._stop_event.set()
        return True



class MemoryTable:
    """Stands in for DataTable in tests that are not about storage; the store itself is tested against moto."""

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        self.item = item

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.item


def make_service(gateway: Any, *, clock: Any = None, voice: dict[str, Any] | None = None, queue_limit: int = 10,
                 tmp_path: Path | None = None, synthesizer: Synthesizer | None = None) -> tuple[VoiceService, Any]:
    store = VoiceSettingsStore(Settings(), table=MemoryTable(voice))  # type: ignore[arg-type]
    synth = synthesizer or Synthesizer({"espeak": EspeakEngine()}, default_engine="espeak")
    replier = RecordingReplier()
    service = VoiceService(gateway, synth, store, replier, clock=clock or FakeClock(), queue_limit=queue_limit,
                           connect_attempts=3, connect_retry_delay=0, work_dir=tmp_path)
    return service, replier


# -- discord.py objects from gateway payloads ---------------------------------------------------------------------


class FakeVoiceWebSocket:
    """The voice websocket's only use during playback is the speaking flag."""

    def __init__(self) -> None:
        self.speaking: list[Any] = []
        self.latency = 0.0
        self.average_latency = 0.0

    async def speak(self, state: Any) -> None:
        self.speaking.append(state)

    async def close(self, *args: Any) -> None:
        return None


class RecordingConnection:
    """Stands in for VoiceConnectionState: connected at once, and records each UDP packet instead of sending it.

    Everything above it (Opus framing from ffmpeg, RTP header, AEAD transport encryption with a real key) is
    discord.py's own code.
    """

    def __init__(self, voice_client: RecordingVoiceClient) -> None:
        self.voice_client = voice_client
        self.packets: list[bytes] = []
        self.first_packet_at: float | None = None
        self.secret_key = list(os.urandom(32))
        self.ssrc = 4242
        self.mode = "aead_xchacha20_poly1305_rtpsize"
        self.dave_session = None
        self.can_encrypt = False
        self.ws = FakeVoiceWebSocket()
        self.timeout = 5.0
        self.session_id = "session"
        self.token = "voice-token"
        self.endpoint = "voice.invalid"
        self._connected = threading.Event()

    async def connect(self, **kwargs: Any) -> None:
        outcome = self.voice_client.connect_outcome
        if outcome is not None:
            raise outcome
        self._connected.set()

    async def disconnect(self, **kwargs: Any) -> None:
        self._connected.clear()

    async def move_to(self, channel: Any, timeout: float | None) -> None:
        self.voice_client.channel = channel

    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def send_packet(self, packet: bytes) -> None:
        if self.first_packet_at is None:
            import time

            self.first_packet_at = time.perf_counter()
        self.packets.append(packet)

    async def voice_state_update(self, data: Any) -> None:
        return None

    async def voice_server_update(self, data: Any) -> None:
        return None


class RecordingVoiceClient(discord.VoiceClient):
    connect_outcome: Exception | None = None
    instances: ClassVar[list[RecordingVoiceClient]] = []

    def create_connection_state(self) -> Any:
        conn = RecordingConnection(self)
        RecordingVoiceClient.instances.append(self)
        return conn

    @property
    def recorder(self) -> RecordingConnection:
        return self._connection  # type: ignore[return-value]


EVERYONE_PERMS = (1 << 10) | (1 << 20) | (1 << 21)  # view channel, connect, speak


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None, "global_name": name,
            "bot": bot}


def guild_payload(*, voice_states: dict[int, int], everyone_perms: int = EVERYONE_PERMS) -> dict[str, Any]:
    people = {ALICE: ("alice", False), BOB: ("bob", False), OTHER_BOT: ("musicbot", True), BOT_ID: ("trainer", True)}
    return {
        "id": str(GUILD_ID), "name": "Trainers", "owner_id": str(ALICE), "unavailable": False,
        "roles": [{"id": str(GUILD_ID), "name": "@everyone", "permissions": str(everyone_perms), "position": 0,
                   "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}],
        "channels": [
            {"id": str(VOICE_ID), "type": 2, "name": "General", "position": 0, "bitrate": 64000,
             "user_limit": 0, "permission_overwrites": []},
            {"id": str(OTHER_VOICE_ID), "type": 2, "name": "Music", "position": 1, "bitrate": 64000,
             "user_limit": 0, "permission_overwrites": []},
            {"id": str(TEXT_ID), "type": 0, "name": "chat", "position": 2, "permission_overwrites": []},
        ],
        "members": [{"user": user_payload(uid, name, bot=bot), "roles": [], "joined_at": None, "deaf": False,
                     "mute": False, "flags": 0} for uid, (name, bot) in people.items()],
        "voice_states": [{"user_id": str(uid), "channel_id": str(cid), "session_id": f"s{uid}", "deaf": False,
                          "mute": False, "self_deaf": False, "self_mute": False, "self_video": False,
                          "suppress": False, "request_to_speak_timestamp": None}
                         for uid, cid in voice_states.items()],
        "emojis": [], "stickers": [], "features": [], "member_count": len(people),
    }


async def install_guild(client: discord.Client, *, voice_states: dict[int, int],
                        everyone_perms: int = EVERYONE_PERMS) -> discord.Guild:
    """Give an unconnected client a user and a guild exactly as the gateway would (READY, GUILD_CREATE)."""
    await client._async_setup_hook()
    state = client._connection
    state.user = ClientUser(state=state, data=user_payload(BOT_ID, "trainer", bot=True))
    guild = discord.Guild(data=guild_payload(voice_states=voice_states, everyone_perms=everyone_perms),
                          state=state)
    state._add_guild(guild)
    return guild


def set_voice_state(guild: discord.Guild, user_id: int, channel_id: int | None) -> None:
    """What a VOICE_STATE_UPDATE does to the cache."""
    guild._update_voice_state({"user_id": str(user_id), "channel_id": str(channel_id) if channel_id else None,
                               "session_id": f"s{user_id}", "deaf": False, "mute": False, "self_deaf": False,
                               "self_mute": False, "self_video": False, "suppress": False,
                               "request_to_speak_timestamp": None, "guild_id": str(GUILD_ID)},
                              channel_id)
