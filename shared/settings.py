"""Every configuration name the project reads, in one place.

Parts build a frozen :class:`Settings` once from a mapping (``os.environ`` in production, a dict in tests) and
pass it down; nothing else reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shared.errors import ConfigError

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_ATTACHMENT_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
DEFAULT_BASE_MODEL = "gpt-4.1-mini-2025-04-14"
PROVIDERS = ("openai", "bedrock")

# Environment variable names. The README's configuration table documents each one.
ENV = {
    "discord_public_key": "DISCORD_PUBLIC_KEY",
    "discord_application_id": "DISCORD_APPLICATION_ID",
    "discord_bot_token": "DISCORD_BOT_TOKEN",
    "discord_bot_token_secret": "DISCORD_BOT_TOKEN_SECRET",
    "discord_api_base": "DISCORD_API_BASE",
    "attachment_hosts": "ATTACHMENT_HOSTS",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_api_key_secret": "OPENAI_API_KEY_SECRET",
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_webhook_secret": "OPENAI_WEBHOOK_SECRET",
    "openai_webhook_secret_secret": "OPENAI_WEBHOOK_SECRET_SECRET",
    "openai_transcription_model": "OPENAI_TRANSCRIPTION_MODEL",
    "finetune_provider": "FINETUNE_PROVIDER",
    "base_model": "BASE_MODEL",
    "finetune_models_file": "FINETUNE_MODELS_FILE",
    "bedrock_role_arn": "BEDROCK_ROLE_ARN",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "aws_region": "AWS_DEFAULT_REGION",
    "data_table": "DATA_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "bucket_name": "BUCKET_NAME",
    "jobs_queue_url": "JOBS_QUEUE_URL",
    "voice_queue_url": "VOICE_QUEUE_URL",
    "jobs_max_receive_count": "JOBS_MAX_RECEIVE_COUNT",
    "log_level": "LOG_LEVEL",
    "max_attachment_bytes": "MAX_ATTACHMENT_BYTES",
    "discord_upload_limit_bytes": "DISCORD_UPLOAD_LIMIT_BYTES",
    # Voice worker (python -m voice_worker); voice_worker/README.md documents each one.
    "voice_tts_engine": "VOICE_TTS_ENGINE",
    "voice_stt_engine": "VOICE_STT_ENGINE",
    "voice_transcribe_messages": "VOICE_TRANSCRIBE_MESSAGES",
    "voice_health_port": "VOICE_HEALTH_PORT",
    "voice_shard_id": "VOICE_SHARD_ID",
    "voice_shard_count": "VOICE_SHARD_COUNT",
}

_INT_SETTINGS = frozenset({"max_attachment_bytes", "discord_upload_limit_bytes", "jobs_max_receive_count",
                           "voice_health_port", "voice_shard_id", "voice_shard_count"})
_BOOL_SETTINGS = frozenset({"voice_transcribe_messages"})
VOICE_TTS_ENGINES = ("gtts", "polly", "espeak")
VOICE_STT_ENGINES = ("google", "openai", "sphinx")
# Settings with a fixed set of values: anything else fails at start-up, naming the variable.
_CHOICES = {"finetune_provider": PROVIDERS, "voice_tts_engine": VOICE_TTS_ENGINES,
            "voice_stt_engine": VOICE_STT_ENGINES}


@dataclass(frozen=True)
class Settings:
    discord_public_key: str = ""
    discord_application_id: str = ""
    # The token itself (local use) or a Secrets Manager name/ARN or "ssm:/param/name" to resolve it (cloud).
    discord_bot_token: str = field(default="", repr=False)
    discord_bot_token_secret: str = ""
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    attachment_hosts: tuple[str, ...] = DEFAULT_ATTACHMENT_HOSTS
    openai_api_key: str = field(default="", repr=False)
    openai_api_key_secret: str = ""
    openai_base_url: str = ""
    openai_webhook_secret: str = field(default="", repr=False)
    # Where the deployed webhook secret lives: a Secrets Manager name/ARN or ``ssm:/name`` (shared.secrets).
    openai_webhook_secret_secret: str = ""
    # The model that transcribes /ask audio attachments in the worker (no ffmpeg in Lambda: OpenAI's engine).
    openai_transcription_model: str = "gpt-4o-mini-transcribe"
    finetune_provider: str = "openai"
    base_model: str = DEFAULT_BASE_MODEL
    # A JSON model catalog (names, limits, prices) to use instead of the bundled shared/finetune/models.json.
    finetune_models_file: str = ""
    # The IAM role Bedrock assumes to read the training export from the bucket and write its output there.
    bedrock_role_arn: str = ""
    aws_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    data_table: str = ""
    idempotency_table: str = ""
    bucket_name: str = ""
    jobs_queue_url: str = ""
    voice_queue_url: str = ""
    # The jobs queue's redrive maxReceiveCount: on that receive the worker tells the user the job failed.
    jobs_max_receive_count: int = 3
    log_level: str = "INFO"
    # Largest attachment /train downloads, and the size above which files go out as a presigned link
    # instead of an upload (Discord's attachment limit for bots).
    max_attachment_bytes: int = 25 * 1024 * 1024
    # Discord's default upload limit for interaction responses and webhooks; each interaction carries its own
    # (attachment_size_limit), which wins over this.
    discord_upload_limit_bytes: int = 10 * 1024 * 1024
    voice_tts_engine: str = "gtts"
    voice_stt_engine: str = "google"
    # Whether the voice worker reads channel messages (voice messages, audio attachments) to transcribe them;
    # only then does it ask for the privileged message content intent.
    voice_transcribe_messages: bool = False
    # 0 turns the health endpoint off.
    voice_health_port: int = 8081
    voice_shard_id: int = 0
    voice_shard_count: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for attr, name in ENV.items():
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                continue
            raw = raw.strip()
            if attr == "attachment_hosts":
                values[attr] = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
            elif attr == "discord_api_base":
                values[attr] = raw.rstrip("/")
            elif attr in _CHOICES:
                if raw.lower() not in _CHOICES[attr]:
                    raise ConfigError(f"{name} must be one of {', '.join(_CHOICES[attr])}, got {raw!r}")
                values[attr] = raw.lower()
            elif attr in _INT_SETTINGS:
                try:
                    values[attr] = int(raw)
                except ValueError as exc:
                    raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
            elif attr in _BOOL_SETTINGS:
                values[attr] = raw.lower() in ("1", "true", "yes", "on")
            else:
                values[attr] = raw
        return cls(**values)

    @property
    def voice_queue_urls(self) -> tuple[str, ...]:
        """VOICE_QUEUE_URL as a list: one queue, or one per voice shard in shard order (shard i = index i)."""
        return tuple(url.strip() for url in self.voice_queue_url.split(",") if url.strip())

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)
