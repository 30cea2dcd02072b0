"""Speech to text for voice messages and audio attachments: decode to 16 kHz mono WAV with pydub/ffmpeg,
recognise with SpeechRecognition (the download is shared.discord.attachments' checked, capped fetch)."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from shared import openai_api
from shared.config import VOICE_STT_ENGINES, Settings
from shared.discord.attachment_rules import is_audio
from shared.errors import InvalidInput
from voice_worker.errors import TranscriptionFailed

log = logging.getLogger(__name__)

MAX_AUDIO_SECONDS = 120


def is_audio_attachment(content_type: str | None, filename: str, flags_voice_message: bool) -> bool:
    return flags_voice_message or is_audio(content_type, filename)


def to_wav_16k(data: bytes, *, max_seconds: int = MAX_AUDIO_SECONDS) -> bytes:
    """Any audio ffmpeg reads → 16 kHz mono 16-bit WAV, capped in length."""
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    try:
        segment = AudioSegment.from_file(io.BytesIO(data))
    except (CouldntDecodeError, IndexError, OSError) as exc:
        raise InvalidInput("That file is not audio I can read.", detail=str(exc)[-300:]) from exc
    segment = segment[: max_seconds * 1000].set_frame_rate(16000).set_channels(1).set_sample_width(2)
    out = io.BytesIO()
    segment.export(out, format="wav")
    return out.getvalue()


class Transcriber:
    """One recogniser per deployment: ``google`` (the seed's, network), ``openai`` or ``sphinx`` (offline)."""

    def __init__(self, settings: Settings, engine: str | None = None, *, recognizer: Any = None,
                 openai_client: Any = None) -> None:
        self._settings = settings
        self.engine = (engine or settings.voice_stt_engine).lower()
        if self.engine not in VOICE_STT_ENGINES:
            raise ValueError(f"unknown speech recognition engine {self.engine!r}")
        self._recognizer = recognizer
        self._openai = openai_client

    def transcribe_wav(self, wav: bytes, language: str) -> str:
        import speech_recognition as sr

        recognizer = self._recognizer or sr.Recognizer()
        with sr.AudioFile(io.BytesIO(wav)) as source:
            audio = recognizer.record(source)
        try:
            if self.engine == "sphinx":
                # The bundled pocketsphinx model is US English; other languages need their own model.
                text = recognizer.recognize_sphinx(audio)
            elif self.engine == "google":
                text = recognizer.recognize_google(audio, language=language)
            else:
                text = self._openai_transcribe(wav, language)
        except sr.UnknownValueError:
            return ""
        except sr.RequestError as exc:
            raise TranscriptionFailed(detail=str(exc)) from exc
        return str(text or "").strip()

    def _openai_transcribe(self, wav: bytes, language: str) -> str:
        try:
            if self._openai is None:
                # The key comes from OPENAI_API_KEY or the secret OPENAI_API_KEY_SECRET names; a missing one
                # raises NotConfigured, which becomes the reply below like any other failure.
                self._openai = openai_api.openai_client(self._settings)
            return openai_api.transcribe(self._openai, model=self._settings.openai_transcription_model,
                                         filename="voice.wav", audio=wav, content_type="audio/wav",
                                         language=language.split("-")[0])
        except Exception as exc:
            raise TranscriptionFailed(detail=f"OpenAI transcription failed: {type(exc).__name__}") from exc

    async def transcribe(self, data: bytes, language: str) -> str:
        wav = await asyncio.to_thread(to_wav_16k, data)
        return await asyncio.to_thread(self.transcribe_wav, wav, language)
