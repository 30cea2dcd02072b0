"""Voice worker figures: ``python -m tests.bench.bench_voice``.

1. A dequeued /say to the first Opus packet handed to the voice client, espeak-ng, ten-word sentence
   (target ≤ 300 ms).
2. Playback CPU per stream with FFmpegOpusAudio: the worker process, and the ffmpeg child apart
   (target ≤ 5 % of one core for the worker process).
3. Offline transcription (pocketsphinx) of a 10-second voice message, decode included (target ≤ 5 s).

Runs offline: the voice client is discord.py's own with only the UDP socket replaced (tests/support/voice.py).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore", DeprecationWarning)

import discord  # noqa: E402

from shared.config import Settings  # noqa: E402
from tests.support.voice import (  # noqa: E402
    ALICE,
    GUILD_ID,
    VOICE_ID,
    FakeClock,
    MemoryTable,
    RecordingReplier,
    RecordingVoiceClient,
    install_guild,
    request,
)
from voice_worker.bot import intents_for  # noqa: E402
from voice_worker.discord_gateway import DiscordVoiceGateway  # noqa: E402
from voice_worker.guild_settings import VoiceSettingsStore  # noqa: E402
from voice_worker.playback import play_clip  # noqa: E402
from voice_worker.service import VoiceService  # noqa: E402
from voice_worker.stt import Transcriber  # noqa: E402
from voice_worker.tts import EspeakEngine, Synthesizer  # noqa: E402

TEN_WORDS = "Please remember to label every example before training the model."
RUNS = 10


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def connected(work: Path):
    client = discord.Client(intents=intents_for(Settings()))
    guild = await install_guild(client, voice_states={ALICE: VOICE_ID})
    gateway = DiscordVoiceGateway(client, RecordingVoiceClient)
    service = VoiceService(gateway, Synthesizer({"espeak": EspeakEngine()}, "espeak"),
                           VoiceSettingsStore(Settings(), table=MemoryTable()), RecordingReplier(),
                           clock=FakeClock(), work_dir=work)
    assert await service.handle(request("join")) == "Joined #General"
    return guild, service


async def first_packet_latency(work: Path) -> list[float]:
    guild, service = await connected(work)
    recorder = guild.voice_client.recorder
    latencies = []
    for n in range(RUNS + 1):
        recorder.first_packet_at = None
        started = time.perf_counter()
        await service.handle(request("say", str(n), args={"text": TEN_WORDS}))
        while recorder.first_packet_at is None:
            await asyncio.sleep(0.001)
        if n:  # the first run warms up espeak-ng's voice list and libopus
            latencies.append((recorder.first_packet_at - started) * 1000)
        await service._guilds[GUILD_ID].queue.join()
    await service.shutdown()
    return latencies


async def playback_cpu(work: Path, seconds: int = 8) -> tuple[float, float, int]:
    guild, service = await connected(work)
    clip = work / "speech.wav"
    text = " ".join([TEN_WORDS] * 6)
    subprocess.run(["espeak-ng", "-w", str(clip), text], check=True)
    self_before, children_before = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    frames = await play_clip(guild.voice_client, clip, seconds)
    wall = time.perf_counter() - started
    worker = (cpu_seconds(resource.RUSAGE_SELF) - self_before) / wall * 100
    ffmpeg = (cpu_seconds(resource.RUSAGE_CHILDREN) - children_before) / wall * 100
    await service.shutdown()
    return worker, ffmpeg, frames


async def transcription_seconds(work: Path) -> tuple[float, float, str]:
    wav, ogg = work / "long.wav", work / "voice-message.ogg"
    text = ("hello world, the weather today is sunny and the computer is working. "
            "the bot listens to the voice message and writes down every word it hears.")
    subprocess.run(["espeak-ng", "-s", "120", "-w", str(wav), text], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-t", "10", "-c:a", "libopus", "-b:a",
                    "32k", "-ar", "48000", "-ac", "1", str(ogg)], check=True)
    duration = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                      "csv=p=0", str(ogg)], capture_output=True, text=True, check=True).stdout)
    transcriber = Transcriber(Settings(voice_stt_engine="sphinx"))
    started = time.perf_counter()
    transcript = await transcriber.transcribe(ogg.read_bytes(), "en-US")
    return time.perf_counter() - started, duration, transcript


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        latencies = await first_packet_latency(work)
        print(f"say → first Opus packet (espeak-ng, ten words, {len(latencies)} runs): "
              f"median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms (target ≤ 300 ms)")
        worker, ffmpeg, frames = await playback_cpu(work)
        print(f"playback CPU per stream over {frames * 20 / 1000:.1f} s: worker process {worker:.1f} % of one core "
              f"(target ≤ 5 %), ffmpeg child {ffmpeg:.1f} %")
        took, duration, transcript = await transcription_seconds(work)
        print(f"offline transcription of a {duration:.1f} s voice message: {took:.2f} s (target ≤ 5 s); "
              f"heard: {transcript!r}")


if __name__ == "__main__":
    asyncio.run(main())
