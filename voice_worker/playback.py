"""Playing one file into a voice client with FFmpegOpusAudio, and knowing whether it really played."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import Any

import discord

from voice_worker.errors import PlaybackFailed

log = logging.getLogger(__name__)


OGG_OPUS_HEADERS = (b"OpusHead", b"OpusTags")


class CountingSource(discord.AudioSource):
    """Passes Opus frames through and counts them: ``after(None)`` alone does not prove a clip played
    (ffmpeg can exit before its return code is seen, leaving no error and no audio)."""

    def __init__(self, inner: discord.FFmpegOpusAudio) -> None:
        self.inner = inner
        self.frames = 0

    def read(self) -> bytes:
        data = self.inner.read()
        # discord.py's Ogg reader yields the OpusHead/OpusTags header packets as if they were audio; they are
        # not Opus frames, so they are not sent.
        while data[:8] in OGG_OPUS_HEADERS:
            data = self.inner.read()
        if data:
            self.frames += 1
        return data

    def is_opus(self) -> bool:
        return True

    def cleanup(self) -> None:
        process = getattr(self.inner, "_process", None)
        self.inner.cleanup()
        # discord.py drops its references to ffmpeg's pipes without closing them (a ResourceWarning per clip).
        if isinstance(process, subprocess.Popen):
            for stream in (process.stdout, process.stderr, process.stdin):
                if stream is not None:
                    stream.close()

    @property
    def error(self) -> Exception | None:
        return getattr(self.inner, "_current_error", None)


def opus_source(path: Path, max_seconds: int, executable: str = "ffmpeg") -> CountingSource:
    # -t caps the clip at the guild's maximum duration; the input is a file the worker itself wrote.
    return CountingSource(discord.FFmpegOpusAudio(str(path), executable=executable, bitrate=64,
                                                  options=f"-t {int(max_seconds)}"))


async def play_clip(voice_client: Any, path: Path, max_seconds: int) -> int:
    """Play ``path`` to the end (or until ``stop()``); return the frames sent, raise PlaybackFailed."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exception | None] = loop.create_future()
    source = opus_source(path, max_seconds)

    async def finished(error: Exception | None) -> None:
        if not done.done():
            done.set_result(error)

    def after(error: Exception | None) -> None:
        # Runs on the player thread: hop back to the loop.
        asyncio.run_coroutine_threadsafe(finished(error), loop)

    try:
        voice_client.play(source, after=after)
    except discord.ClientException as exc:
        source.cleanup()
        raise PlaybackFailed("I am not connected to voice right now.", detail=str(exc)) from exc
    error = await done
    error = error or source.error
    if error is not None:
        log.warning("playback failed: %s", error)
        raise PlaybackFailed("the audio could not be decoded.", detail=str(error))
    if source.frames == 0:
        raise PlaybackFailed("the clip was empty or ffmpeg produced no audio.")
    return source.frames
