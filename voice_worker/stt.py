"""Speech to text for voice messages and audio attachments: fetch (allowed hosts only, capped, no redirects),
decode to 16 kHz mono WAV with pydub/ffmpeg, recognise with SpeechRecognition."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from shared.config import VOICE_STT_ENGINES, Settings
from shared.discord import attachment_rules
from shared.errors import InvalidInput
from voice_worker.errors import TranscriptionFailed

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 25 * 1024 * 1024  # Discord's own upload cap for most guilds, and OpenAI's transcription cap
MAX_AUDIO_SECONDS = 120
AUDIO_CONTENT_PREFIXES = ("audio/", "video/ogg")


def is_audio_attachment(content_type: str | None, filename: str, flags_voice_message: bool) -> bool:
    if flags_voice_message:
        return True
    if content_type and content_type.split(";")[0].strip().lower().startswith(AUDIO_CONTENT_PREFIXES):
        return True
    return filename.lower().endswith((".ogg", ".oga", ".opus", ".mp3", ".wav", ".m4a", ".flac", ".webm"))


def download(url: str, settings: Settings, *, max_bytes: int = MAX_AUDIO_BYTES, session: Any = None,
             timeout: float = 15.0) -> bytes:
    import requests

    # The same host rules as /train's attachments; AttachmentHostNotAllowed is an InvalidInput with its reply.
    attachment_rules.check_attachment_url(url, settings)
    http = session or requests
    try:
        with http.get(url, stream=True, allow_redirects=False, timeout=timeout) as response:
            if response.is_redirect or response.status_code != 200:
                raise TranscriptionFailed("I could not download that audio.",
                                          detail=f"status {response.status_code}")
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise InvalidInput(f"That audio is too large (over {max_bytes // (1024 * 1024)} MB).")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise InvalidInput(f"That audio is too large (over {max_bytes // (1024 * 1024)} MB).")
            return bytes(body)
    except requests.RequestException as exc:
        raise TranscriptionFailed("I could not download that audio.", detail=str(exc)) from exc


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
                from shared.openai_api import openai_client

                self._openai = openai_client(self._settings)
            result = self._openai.audio.transcriptions.create(
                model=self._settings.openai_transcription_model, file=("voice.wav", wav, "audio/wav"),
                language=language.split("-")[0])
        except Exception as exc:
            raise TranscriptionFailed(detail=f"OpenAI transcription failed: {type(exc).__name__}") from exc
        return str(getattr(result, "text", "") or "")

    async def transcribe(self, data: bytes, language: str) -> str:
        wav = await asyncio.to_thread(to_wav_16k, data)
        return await asyncio.to_thread(self.transcribe_wav, wav, language)
