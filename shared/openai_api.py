"""The OpenAI client, built in one place for the worker, the watcher and the voice worker.

The key is ``OPENAI_API_KEY`` itself (local use), else the secret that ``OPENAI_API_KEY_SECRET`` names (Secrets
Manager or ``ssm:``), cached by :mod:`shared.config`. ``openai`` is imported only here and only when a client is
built: the interactions function never loads it.
"""

from __future__ import annotations

from typing import Any

from shared.config import Settings, secret_value
from shared.errors import InvalidInput, UpstreamError
from shared.finetune.exceptions import NotConfigured


def openai_api_key(settings: Settings) -> str:
    key = secret_value(settings.openai_api_key, settings.openai_api_key_secret, settings=settings)
    if not key:
        raise NotConfigured(detail="neither OPENAI_API_KEY nor OPENAI_API_KEY_SECRET is set")
    return key


def openai_client(settings: Settings) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=openai_api_key(settings), base_url=settings.openai_base_url or None)


def transcribe(client: Any, *, model: str, filename: str, audio: bytes, content_type: str | None = None,
               language: str | None = None) -> str:
    """The words in ``audio``, through OpenAI's transcription endpoint; a refusal or an outage becomes a
    :class:`~shared.errors.BotError` the user can act on."""
    import openai

    extra: dict[str, Any] = {"language": language} if language else {}
    try:
        result = client.audio.transcriptions.create(model=model, file=(filename, audio, content_type), **extra)
    except openai.APIStatusError as exc:
        if exc.status_code == 429 or exc.status_code >= 500:
            raise UpstreamError("Transcription is busy right now. Please try again in a minute.") from exc
        raise InvalidInput("I couldn't transcribe that audio. Is it a supported audio file?") from exc
    except (openai.APITimeoutError, openai.APIConnectionError) as exc:
        raise UpstreamError("Transcription is busy right now. Please try again in a minute.") from exc
    return str(getattr(result, "text", "") or "").strip()
