"""The discord.py path: a client built from gateway payloads, a VoiceClient whose only fake part is the UDP
socket, and real espeak-ng → ffmpeg → Opus → RTP → AEAD encryption."""

from __future__ import annotations

import asyncio
import struct
import subprocess

import discord
import nacl.secret
import pytest

from shared.config import Settings
from tests.support.voice import (
    ALICE,
    BOB,
    BOT_ID,
    GUILD_ID,
    OTHER_BOT,
    OTHER_VOICE_ID,
    VOICE_ID,
    FakeClock,
    MemoryTable,
    RecordingReplier,
    RecordingVoiceClient,
    install_guild,
    request,
    set_voice_state,
)
from voice_worker.bot import intents_for
from voice_worker.discord_gateway import DiscordVoiceGateway
from voice_worker.errors import PlaybackFailed, VoiceConnectTimeout
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.playback import play_clip
from voice_worker.service import VoiceService
from voice_worker.tts import EspeakEngine, Synthesizer


async def make(voice_states, tmp_path, **guild_kwargs):
    client = discord.Client(intents=intents_for(Settings()))
    guild = await install_guild(client, voice_states=voice_states, **guild_kwargs)
    gateway = DiscordVoiceGateway(client, RecordingVoiceClient)
    replier = RecordingReplier()
    service = VoiceService(gateway, Synthesizer({"espeak": EspeakEngine()}, "espeak"),
                           VoiceSettingsStore(Settings(), table=MemoryTable()), replier, clock=FakeClock(),
                           connect_retry_delay=0, work_dir=tmp_path)
    return client, guild, gateway, service, replier


def decrypt(packet: bytes, key: bytes) -> tuple[int, bytes]:
    """Undo discord.py's aead_xchacha20_poly1305_rtpsize framing: header | ciphertext | 4-byte nonce."""
    packet = bytes(packet)
    header, body, nonce4 = packet[:12], packet[12:-4], packet[-4:]
    assert header[0] == 0x80 and header[1] == 0x78
    sequence = struct.unpack(">H", header[2:4])[0]
    nonce = nonce4 + bytes(20)
    return sequence, nacl.secret.Aead(key).decrypt(body, header, nonce)


async def test_join_say_leave_sends_real_encrypted_opus(tmp_path):
    _client, guild, _gateway, service, replier = await make({ALICE: VOICE_ID}, tmp_path)
    assert await service.handle(request("join")) == "Joined #General"
    vc = guild.voice_client
    assert isinstance(vc, RecordingVoiceClient) and vc.is_connected()
    assert await service.handle(request("say", args={"text": "Hello from the trainer bot."})) == (
        "Saying it in #General")
    await asyncio.wait_for(service._guilds[GUILD_ID].queue.join(), 20)
    packets = vc.recorder.packets
    assert len(packets) > 25  # > 0.5 s of 20 ms frames (plus trailing silence frames)
    key = bytes(vc.recorder.secret_key)
    decoder = discord.opus.Decoder()
    sequences, loud = [], 0
    for packet in packets:
        sequence, opus_frame = decrypt(packet, key)
        sequences.append(sequence)
        pcm = decoder.decode(opus_frame)
        assert len(pcm) == discord.opus.Decoder.FRAME_SIZE
        samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
        loud += max(abs(s) for s in samples) > 1000
    assert sequences == list(range(sequences[0], sequences[0] + len(packets)))
    assert loud > 10  # speech, not silence
    assert replier.edits == []
    assert await service.handle(request("leave")) == "Left #General"
    assert guild.voice_client is None


async def test_ffmpeg_failure_is_reported_not_taken_as_played(tmp_path):
    _client, guild, _gateway, service, _replier = await make({ALICE: VOICE_ID}, tmp_path)
    await service.handle(request("join"))
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 10)
    with pytest.raises(PlaybackFailed) as excinfo:
        await play_clip(guild.voice_client, broken, 30)
    assert excinfo.value.user_message in ("the audio could not be decoded.",
                                          "the clip was empty or ffmpeg produced no audio.")
    key = bytes(guild.voice_client.recorder.secret_key)
    # At most the player's trailing silence frames went out, no audio.
    assert all(decrypt(p, key)[1] == b"\xf8\xff\xfe" for p in guild.voice_client.recorder.packets)


async def test_max_clip_seconds_caps_playback(tmp_path):
    _client, guild, _gateway, service, _ = await make({ALICE: VOICE_ID}, tmp_path)
    await service.handle(request("join"))
    wav = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
                    str(wav)], check=True)
    frames = await play_clip(guild.voice_client, wav, 1)
    assert 45 <= frames <= 55  # one second of 20 ms frames


async def test_member_voice_channel_comes_from_the_voice_state_cache(tmp_path):
    _client, guild, gateway, service, _ = await make({ALICE: VOICE_ID, BOB: OTHER_VOICE_ID}, tmp_path)
    assert gateway.member_channel(GUILD_ID, ALICE).name == "General"
    assert gateway.member_channel(GUILD_ID, BOB).name == "Music"
    assert gateway.member_channel(GUILD_ID, BOT_ID) is None
    set_voice_state(guild, ALICE, None)
    assert await service.handle(request("join")) == "You are not in a voice channel"


async def test_missing_permissions_are_a_clear_refusal(tmp_path):
    _client, guild, _gateway, service, _ = await make({ALICE: VOICE_ID}, tmp_path, everyone_perms=1 << 10)
    assert await service.handle(request("join", user_id=ALICE)) == (
        "Discord refused to let me into #General: I need the Connect and Speak permissions there.")
    assert guild.voice_client is None


async def test_connect_timeouts_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(RecordingVoiceClient, "connect_outcome", TimeoutError())
    _client, _guild, gateway, service, _ = await make({ALICE: VOICE_ID}, tmp_path)
    before = len(RecordingVoiceClient.instances)
    assert await service.handle(request("join")) == (
        "I could not connect to #General after 3 attempts. Please try again in a minute")
    assert len(RecordingVoiceClient.instances) - before == 3
    with pytest.raises(VoiceConnectTimeout):
        await gateway.connect(GUILD_ID, VOICE_ID, 1)


async def test_auto_leave_when_the_last_human_leaves(tmp_path):
    _client, guild, gateway, service, _ = await make({ALICE: VOICE_ID, OTHER_BOT: VOICE_ID}, tmp_path)
    await service.handle(request("join"))
    set_voice_state(guild, BOT_ID, VOICE_ID)
    assert gateway.humans_in(GUILD_ID, VOICE_ID) == 1  # Alice; neither bot counts
    set_voice_state(guild, ALICE, OTHER_VOICE_ID)
    await service.on_voice_state_change(GUILD_ID)
    assert guild.voice_client is None
