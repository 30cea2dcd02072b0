"""gTTS (Google Translate's speech endpoint), the seed bot's engine."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from voice_worker.errors import RateLimited, SpeechFailed
from voice_worker.tts.base import primary_subtag

# gTTS names a few languages with their region; everything else by its primary subtag.
_REGIONAL = {"zh-cn": "zh-CN", "zh-tw": "zh-TW", "pt-br": "pt", "pt-pt": "pt"}


class GttsEngine:
    name = "gtts"

    def __init__(self, tld: str = "com", timeout: float = 10.0) -> None:
        self._tld = tld
        self._timeout = timeout

    @staticmethod
    def lang_for(language: str) -> str:
        tag = language.replace("_", "-").lower()
        return _REGIONAL.get(tag, primary_subtag(language))

    def synthesize(self, text: str, language: str, out_dir: Path) -> Path:
        from gtts import gTTS, gTTSError

        audio = io.BytesIO()  # in memory first: a failed request leaves no empty file behind
        try:
            tts = gTTS(text, lang=self.lang_for(language), tld=self._tld, timeout=self._timeout)
            tts.write_to_fp(audio)
        except gTTSError as exc:
            status = getattr(getattr(exc, "rsp", None), "status_code", None)
            if status == 429:
                raise RateLimited(detail="gTTS answered 429") from exc
            raise SpeechFailed(detail=f"gTTS failed: {exc}") from exc
        except (ValueError, AssertionError) as exc:
            # gTTS raises ValueError for an unsupported language, AssertionError for empty text.
            raise SpeechFailed(detail=f"gTTS refused the input: {exc}") from exc
        if not audio.getbuffer().nbytes:
            raise SpeechFailed(detail="gTTS returned no audio")
        path = out_dir / f"{uuid.uuid4().hex}.mp3"
        path.write_bytes(audio.getvalue())
        return path
