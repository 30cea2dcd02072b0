"""Start-up check that voice can work here, naming exactly what is missing."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable

from shared.config import Settings


def voice_problems(settings: Settings, *, which: Callable[[str], str | None] = shutil.which,
                   find_module: Callable[[str], object] = importlib.util.find_spec,
                   load_opus: Callable[[], bool] | None = None) -> list[str]:
    problems: list[str] = []
    if find_module("davey") is None:
        problems.append("Python package 'davey' (Discord's DAVE end-to-end encryption) is not installed: "
                        "pip install davey")
    if find_module("nacl") is None:
        problems.append("Python package 'PyNaCl' is not installed: pip install PyNaCl")
    if load_opus is None:
        load_opus = _load_opus
    if not load_opus():
        problems.append("libopus could not be loaded by discord.opus: install libopus0 (apt) or libopus (brew)")
    if which("ffmpeg") is None:
        problems.append("ffmpeg is not on PATH: install ffmpeg")
    if which("espeak-ng") is None:  # the offline fallback of every engine
        problems.append("espeak-ng is not on PATH (the offline speech fallback): install espeak-ng")
    if not settings.discord_bot_token and not settings.discord_bot_token_secret:
        problems.append("DISCORD_BOT_TOKEN (or DISCORD_BOT_TOKEN_SECRET) is not set")
    urls = settings.voice_queue_urls
    if not urls:
        problems.append("VOICE_QUEUE_URL is not set")
    elif len(urls) > 1 and len(urls) != settings.voice_shard_count:
        problems.append(f"VOICE_QUEUE_URL lists {len(urls)} queues but VOICE_SHARD_COUNT is "
                        f"{settings.voice_shard_count}: one queue per shard, in shard order")
    if not settings.data_table:
        problems.append("DATA_TABLE is not set (guild voice settings and request claims live there)")
    if not 0 <= settings.voice_shard_id < max(settings.voice_shard_count, 1):
        problems.append("VOICE_SHARD_ID must be between 0 and VOICE_SHARD_COUNT - 1")
    return problems


def _load_opus() -> bool:
    import discord.opus

    if discord.opus.is_loaded():
        return True
    try:
        return bool(discord.opus._load_default())
    except Exception:
        return False
