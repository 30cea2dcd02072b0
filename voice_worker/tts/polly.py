"""Amazon Polly through boto3."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from shared.aws import AwsClients
from voice_worker.errors import RateLimited, SpeechFailed
from voice_worker.tts.base import primary_subtag

# One standard voice per language; Polly needs a voice id, not only a language.
VOICES = {"en": ("Joanna", "en-US"), "ru": ("Tatyana", "ru-RU"), "de": ("Vicki", "de-DE"),
          "fr": ("Lea", "fr-FR"), "es": ("Lucia", "es-ES"), "it": ("Bianca", "it-IT"),
          "pt": ("Camila", "pt-BR"), "ja": ("Mizuki", "ja-JP"), "pl": ("Ewa", "pl-PL")}
THROTTLING = ("ThrottlingException", "Throttling", "TooManyRequestsException")


class PollyEngine:
    name = "polly"

    def __init__(self, aws: AwsClients, *, client: Any = None) -> None:
        self._aws = aws
        self._client = client

    def _polly(self) -> Any:
        if self._client is None:
            self._client = self._aws.client("polly")  # built on the first clip, shared with other threads
        return self._client

    def synthesize(self, text: str, language: str, out_dir: Path) -> Path:
        from botocore.exceptions import BotoCoreError, ClientError

        voice, code = VOICES.get(primary_subtag(language), VOICES["en"])
        path = out_dir / f"{uuid.uuid4().hex}.mp3"
        try:
            response = self._polly().synthesize_speech(Text=text, OutputFormat="mp3", VoiceId=voice,
                                                       LanguageCode=code)
            path.write_bytes(response["AudioStream"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in THROTTLING:
                raise RateLimited(detail="Polly throttled") from exc
            raise SpeechFailed(detail=f"Polly failed: {exc}") from exc
        except BotoCoreError as exc:
            raise SpeechFailed(detail=f"Polly unreachable: {exc}") from exc
        return path
