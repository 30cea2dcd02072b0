"""A guild's voice settings (engine, language, idle time, transcribed channels), stored in the data table under
``GUILD#{id}`` / ``VOICE_SETTINGS``: written by /voice_settings, read by the voice worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shared.config import VOICE_TTS_ENGINES
from shared.errors import InvalidInput
from shared.storage import keys
from shared.storage.table import DataTable

MIN_IDLE_SECONDS, MAX_IDLE_SECONDS = 30, 6 * 3600
MAX_CLIP_CHARS = 2000
MAX_CLIP_SECONDS = 300


@dataclass(frozen=True)
class VoiceSettings:
    engine: str | None = None  # None: the deployment's default engine
    language: str = "en-US"
    idle_timeout_seconds: int = 300
    max_clip_chars: int = 600
    max_clip_seconds: int = 60
    # Channel ids whose voice messages and audio attachments are transcribed; empty: none.
    transcribe_channels: tuple[str, ...] = field(default=())
    # Language for Google speech recognition; the seed used ru-RU. None: the guild's language.
    stt_language: str | None = None

    def validated(self) -> VoiceSettings:
        if self.engine is not None and self.engine not in VOICE_TTS_ENGINES:
            raise InvalidInput(f"Speech engine must be one of {', '.join(VOICE_TTS_ENGINES)}.")
        if not MIN_IDLE_SECONDS <= self.idle_timeout_seconds <= MAX_IDLE_SECONDS:
            raise InvalidInput(f"Idle timeout must be {MIN_IDLE_SECONDS}-{MAX_IDLE_SECONDS} seconds.")
        if not 1 <= self.max_clip_chars <= MAX_CLIP_CHARS:
            raise InvalidInput(f"Clip length must be 1-{MAX_CLIP_CHARS} characters.")
        if not 1 <= self.max_clip_seconds <= MAX_CLIP_SECONDS:
            raise InvalidInput(f"Clip duration must be 1-{MAX_CLIP_SECONDS} seconds.")
        return self

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> VoiceSettings:
        base = cls()
        return replace(
            base,
            engine=item.get("engine") or None,
            language=str(item.get("language") or base.language),
            idle_timeout_seconds=int(item.get("idle_timeout_seconds", base.idle_timeout_seconds)),
            max_clip_chars=int(item.get("max_clip_chars", base.max_clip_chars)),
            max_clip_seconds=int(item.get("max_clip_seconds", base.max_clip_seconds)),
            transcribe_channels=tuple(str(c) for c in item.get("transcribe_channels") or ()),
            stt_language=item.get("stt_language") or None,
        )

    def to_item(self, guild_id: str) -> dict[str, Any]:
        item = {k: v for k, v in asdict(self.validated()).items() if v is not None}
        item["transcribe_channels"] = list(self.transcribe_channels)
        item.update(pk=keys.guild_pk(guild_id), sk=keys.voice_settings_sk())
        return item


def read_voice_settings(table: DataTable, guild_id: str) -> VoiceSettings:
    item = table.get(keys.guild_pk(guild_id), keys.voice_settings_sk())
    return VoiceSettings.from_item(item) if item else VoiceSettings()


def write_voice_settings(table: DataTable, guild_id: str, value: VoiceSettings) -> None:
    table.put(value.to_item(guild_id))  # validates; raises InvalidInput or NotSaved
