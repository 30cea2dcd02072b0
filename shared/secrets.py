"""Secrets (bot token, API keys) resolved from Secrets Manager or SSM Parameter Store, cached.

A setting such as ``DISCORD_BOT_TOKEN_SECRET`` holds a reference, never the secret: a Secrets Manager name or
ARN, or ``ssm:/parameter/name`` for a SecureString parameter. Powertools' parameter providers cache each value
for ``max_age`` seconds, so a warm Lambda does not call AWS on every invocation. boto3 and Powertools are
imported only when a reference is resolved: the voice worker and the CLI may run with plain values and never
load them. """

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.settings import Settings

SSM_PREFIX = "ssm:"
DEFAULT_MAX_AGE = 300

# Providers hold the cache; one per (service, endpoint, region), built on first use.
_providers: dict[tuple[str, str, str], Any] = {}
_providers_lock = threading.Lock()


def _provider(service: str, settings: Settings | None) -> Any:
    from shared.aws import AwsClients
    from shared.settings import Settings

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
