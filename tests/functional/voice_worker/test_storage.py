"""Guild voice settings and request claims in the data table (moto), and the voice settings names."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import InvalidInput
from shared.storage import keys
from shared.storage.voice_settings import VoiceSettings
from tests.support.voice import FakeClock
from voice_worker.guild_settings import VoiceSettingsStore
from voice_worker.ledger import RequestLedger


def test_settings_round_trip_and_cache(settings, data_table):
    clock = FakeClock()
    store = VoiceSettingsStore(settings, clock=clock, cache_seconds=30)
    assert store.get_sync("1") == VoiceSettings()
    store.put_sync("1", VoiceSettings(engine="polly", language="ru-RU", idle_timeout_seconds=60,
                                      max_clip_chars=300, max_clip_seconds=20, transcribe_channels=("42",)))
    item = data_table.get_item(Key={"pk": "GUILD#1", "sk": keys.voice_settings_sk()})["Item"]
    assert item["engine"] == "polly" and item["transcribe_channels"] == ["42"]
    fresh = VoiceSettingsStore(settings)
    assert fresh.get_sync("1").language == "ru-RU" and fresh.get_sync("1").transcribe_channels == ("42",)
    data_table.put_item(Item={"pk": "GUILD#1", "sk": "VOICE_SETTINGS", "language": "de-DE"})
    assert store.get_sync("1").language == "ru-RU"  # cached
    clock.advance(31)
    assert store.get_sync("1").language == "de-DE"
    with pytest.raises(InvalidInput):
        store.put_sync("1", VoiceSettings(max_clip_seconds=0))


def test_claims_are_conditional(settings, data_table):
    ledger = RequestLedger(settings, wall_clock=lambda: 1_000_000)
    assert ledger.claim("77", "say") is True
    assert ledger.claim("77", "say") is False
    item = data_table.get_item(Key={"pk": "VOICEREQ#77", "sk": "CLAIM"})["Item"]
    assert item["expires_at"] == 1_000_000 + 24 * 3600


def test_voice_settings_from_env():
    s = Settings.from_env({"VOICE_TTS_ENGINE": "Polly", "VOICE_STT_ENGINE": "sphinx", "VOICE_HEALTH_PORT": "9000",
                           "VOICE_SHARD_ID": "1", "VOICE_SHARD_COUNT": "4", "VOICE_TRANSCRIBE_MESSAGES": "true"})
    assert (s.voice_tts_engine, s.voice_stt_engine, s.voice_health_port) == ("polly", "sphinx", 9000)
    assert (s.voice_shard_id, s.voice_shard_count, s.voice_transcribe_messages) == (1, 4, True)
    assert Settings.from_env({}).voice_transcribe_messages is False
