"""Configuration: every name the project reads, and the one resolver for "a value or a secret reference".

Parts build a frozen :class:`Settings` once from a mapping (``os.environ`` in production, a dict in tests) and
pass it down; nothing else reads the environment.

Secrets (bot token, API keys, the webhook secret) are given either as the value itself (local use) or as a
reference in the matching ``*_SECRET`` setting: a Secrets Manager name or ARN, or ``ssm:/parameter/name`` for a
SecureString parameter. Powertools' parameter providers cache each value for ``max_age`` seconds, so a warm
Lambda does not call AWS on every invocation. boto3 and Powertools are imported only when a reference is
resolved: the voice worker and the CLI may run with plain values and never load them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConfigError

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
DEFAULT_ATTACHMENT_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
PROVIDERS = ("bedrock", "openai")
# The model each provider tunes when BASE_MODEL is not set.
DEFAULT_BASE_MODELS = {"bedrock": "amazon.nova-micro-v1:0:128k", "openai": "gpt-4.1-mini-2025-04-14"}
DEFAULT_PROVIDER = "bedrock"
DEFAULT_BASE_MODEL = DEFAULT_BASE_MODELS[DEFAULT_PROVIDER]

# Environment variable names. The README's configuration table documents each one.
ENV = {
    "discord_public_key": "DISCORD_PUBLIC_KEY",
    "discord_application_id": "DISCORD_APPLICATION_ID",
    "discord_bot_token": "DISCORD_BOT_TOKEN",
    "discord_bot_token_secret": "DISCORD_BOT_TOKEN_SECRET",
    "discord_api_base": "DISCORD_API_BASE",
    "discord_gateway_url": "DISCORD_GATEWAY_URL",
    "discord_ca_file": "DISCORD_CA_FILE",
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
    "aws_endpoint_url_bedrock": "AWS_ENDPOINT_URL_BEDROCK",
    "aws_endpoint_url_bedrock_runtime": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
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
    # The main gateway the voice worker dials, and a PEM file of extra CAs it trusts (beside the system's) for
    # the gateway and voice servers: the local stack points both at its local gateway.
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    discord_ca_file: str = ""
    attachment_hosts: tuple[str, ...] = DEFAULT_ATTACHMENT_HOSTS
    openai_api_key: str = field(default="", repr=False)
    openai_api_key_secret: str = ""
    openai_base_url: str = ""
    openai_webhook_secret: str = field(default="", repr=False)
    # Where the deployed webhook secret lives: a Secrets Manager name/ARN or ``ssm:/name`` (shared.config).
    openai_webhook_secret_secret: str = ""
    # The model that transcribes /ask audio attachments in the worker (no ffmpeg in Lambda: OpenAI's engine).
    openai_transcription_model: str = "gpt-4o-mini-transcribe"
    finetune_provider: str = DEFAULT_PROVIDER
    # Empty means the provider's default model (DEFAULT_BASE_MODELS), filled in at construction.
    base_model: str = ""
    # A JSON model catalog (names, limits, prices) to use instead of the bundled shared/finetune/models.json.
    finetune_models_file: str = ""
    # The IAM role Bedrock assumes to read the training export from the bucket and write its output there.
    bedrock_role_arn: str = ""
    aws_endpoint_url: str = ""
    # boto3's own service-specific endpoints: they win over AWS_ENDPOINT_URL for their service, as in botocore.
    aws_endpoint_url_bedrock: str = ""
    aws_endpoint_url_bedrock_runtime: str = ""
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

    # Whether base_model is the provider default (not chosen): dataclasses.replace() with another provider
    # then gives that provider's default rather than keeping a model the new provider cannot tune.
    base_model_is_default: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        default = DEFAULT_BASE_MODELS.get(self.finetune_provider, "")
        carried = self.base_model_is_default and self.base_model in DEFAULT_BASE_MODELS.values()
        if not self.base_model or carried:
            object.__setattr__(self, "base_model", default)
            object.__setattr__(self, "base_model_is_default", True)
        else:
            object.__setattr__(self, "base_model_is_default", False)

    def endpoint_url_for(self, service: str) -> str:
        """The endpoint a boto3 client for ``service`` should use, empty for AWS's own: the service-specific
        setting (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` for ``bedrock-runtime``) before ``AWS_ENDPOINT_URL``."""
        specific = {"bedrock": self.aws_endpoint_url_bedrock,
                    "bedrock-runtime": self.aws_endpoint_url_bedrock_runtime}.get(service, "")
        return specific or self.aws_endpoint_url

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


# -- secrets ---------------------------------------------------------------------------------------------

SSM_PREFIX = "ssm:"
DEFAULT_MAX_AGE = 300

# Providers hold the cache; one per (service, endpoint, region), built on first use.
_providers: dict[tuple[str, str, str], Any] = {}
_providers_lock = threading.Lock()


def _provider(service: str, settings: Settings | None) -> Any:
    from shared.aws import AwsClients
    settings = settings if settings is not None else Settings.from_env()
    key = (service, settings.aws_endpoint_url, settings.aws_region)
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            from aws_lambda_powertools.utilities import parameters

            # The same client rules as every other part (AWS_ENDPOINT_URL and region from Settings).
            client = AwsClients(settings).client(service)
            if service == "ssm":
                provider = parameters.SSMProvider(boto3_client=client)
            else:
                provider = parameters.SecretsProvider(boto3_client=client)
            _providers[key] = provider
        return provider


def _unwrap(value: Any, ref: str) -> str:
    """A secret stored as JSON with a single field (the console's key/value form) yields that field."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    text = str(value).strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and len(data) == 1:
            (inner,) = data.values()
            return str(inner).strip()
        raise ConfigError(f"secret {ref!r} is a JSON object with {len(data)} fields; store the value alone")
    return text


def resolve_secret(value_or_ref: str, *, settings: Settings | None = None,
                   max_age: int = DEFAULT_MAX_AGE, force_fetch: bool = False) -> str:
    """Return the secret that ``value_or_ref`` names: ``ssm:/name`` or a Secrets Manager name/ARN.

    ``settings`` supplies the AWS endpoint and region (the local stack points them at moto);
    ``force_fetch`` skips the cache (after a rotation).
    Raises :class:`ConfigError` when the reference is empty or cannot be resolved; the message names the
    reference, never the value.
    """
    ref = (value_or_ref or "").strip()
    if not ref:
        raise ConfigError("no secret reference configured")
    try:
        if ref.startswith(SSM_PREFIX):
            name = ref[len(SSM_PREFIX):]
            value = _provider("ssm", settings).get(name, max_age=max_age, decrypt=True,
                                                    force_fetch=force_fetch)
        else:
            value = _provider("secretsmanager", settings).get(ref, max_age=max_age, force_fetch=force_fetch)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"could not resolve secret {ref!r}: {type(exc).__name__}") from None
    secret = _unwrap(value, ref)
    if not secret:
        raise ConfigError(f"secret {ref!r} is empty")
    return secret


def clear_cache() -> None:
    """Forget cached providers and values (tests; rotation)."""
    with _providers_lock:
        _providers.clear()


def secret_value(value: str, reference: str, *, settings: Settings) -> str:
    """A secret given either as ``value`` itself or as ``reference`` to resolve; empty when neither is set."""
    if value:
        return value
    if reference:
        return resolve_secret(reference, settings=settings)
    return ""
