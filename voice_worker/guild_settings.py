"""The voice worker's cached reads (and writes) of the guild voice settings in ``shared.storage.voice_settings``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from shared.aws import AwsClients
from shared.config import Settings
from shared.storage.table import DataTable
from shared.storage.voice_settings import VoiceSettings, read_voice_settings, write_voice_settings


class VoiceSettingsStore:
    """Reads guild settings with a short cache (they are read on every request and change rarely)."""

    def __init__(self, settings: Settings, aws: AwsClients | None = None, *, table: DataTable | None = None,
                 cache_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._aws = aws
        self._table = table
        self._cache: dict[str, tuple[float, VoiceSettings]] = {}
        self._cache_seconds = cache_seconds
        self._clock = clock

    def _data_table(self) -> DataTable:
        if self._table is None:
            self._table = DataTable(self._settings.data_table, (self._aws or AwsClients(self._settings)).dynamodb)
        return self._table

    def get_sync(self, guild_id: str) -> VoiceSettings:
        cached = self._cache.get(guild_id)
        now = self._clock()
        if cached and now - cached[0] < self._cache_seconds:
            return cached[1]
        value = read_voice_settings(self._data_table(), guild_id)
        self._cache[guild_id] = (now, value)
        return value

    async def get(self, guild_id: str) -> VoiceSettings:
        return await asyncio.to_thread(self.get_sync, guild_id)

    def put_sync(self, guild_id: str, value: VoiceSettings) -> None:
        write_voice_settings(self._data_table(), guild_id, value)  # raises InvalidInput, NotSaved
        self._cache[guild_id] = (self._clock(), value)
