"""Picks the guild's engine and falls back to espeak-ng when a network engine fails or is rate-limited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from shared.aws import AwsClients
from shared.config import Settings
from voice_worker.errors import SpeechFailed
from voice_worker.tts.base import Clip, SpeechEngine
from voice_worker.tts.espeak import EspeakEngine
from voice_worker.tts.gtts_engine import GttsEngine
from voice_worker.tts.polly import PollyEngine

log = logging.getLogger(__name__)


def build_engines(settings: Settings, aws: AwsClients | None = None) -> dict[str, SpeechEngine]:
    return {"gtts": GttsEngine(), "polly": PollyEngine(aws or AwsClients(settings)), "espeak": EspeakEngine()}


class Synthesizer:
    def __init__(self, engines: Mapping[str, SpeechEngine], default_engine: str = "gtts",
                 fallback: str = "espeak") -> None:
        for name in (default_engine, fallback):
            if name not in engines:
                raise ValueError(f"unknown speech engine {name!r}")
        self._engines = dict(engines)
        self.default_engine = default_engine
        self._fallback = fallback

    async def synthesize(self, text: str, language: str, out_dir: Path, engine: str | None = None) -> Clip:
        name = engine if engine in self._engines else self.default_engine
        try:
            path = await asyncio.to_thread(self._engines[name].synthesize, text, language, out_dir)
            return Clip(path, name)
        except SpeechFailed as exc:
            if name == self._fallback:
                raise
            log.warning("speech engine %s failed (%s); falling back to %s", name, exc, self._fallback)
        path = await asyncio.to_thread(self._engines[self._fallback].synthesize, text, language, out_dir)
        return Clip(path, self._fallback)
