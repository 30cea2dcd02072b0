"""Where the voice worker finds Discord: REST base, main gateway, and the CAs it trusts for TLS.

discord.py reads its REST base and gateway URL from class attributes (``Route.BASE``,
``DiscordWebSocket.DEFAULT_GATEWAY``); the voice websocket URL comes from Discord itself
(VOICE_SERVER_UPDATE). Extra CAs are added to the system store in an SSL context given to the client's
connector, so the system's trust is kept (``SSL_CERT_FILE`` would replace it).
"""

from __future__ import annotations

import ssl
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl

from shared.config import Settings
from shared.errors import ConfigError


def tls_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.discord_ca_file:
        try:
            context.load_verify_locations(cafile=settings.discord_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"DISCORD_CA_FILE {settings.discord_ca_file!r} is not a readable PEM file: "
                              f"{exc}") from exc
    return context


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at ``settings``' REST base and gateway (process-wide: one bot per process)."""
    url = yarl.URL(settings.discord_gateway_url)
    if url.scheme not in ("ws", "wss") or not url.host:
        raise ConfigError(f"DISCORD_GATEWAY_URL must be a ws:// or wss:// URL, got {settings.discord_gateway_url!r}")
    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = url


def client_options(settings: Settings) -> dict[str, Any]:
    """discord.py client options for ``settings``: a connector that trusts DISCORD_CA_FILE (built on the
    running loop), or nothing when the system store is enough."""
    if not settings.discord_ca_file:
        return {}
    import aiohttp

    return {"connector": aiohttp.TCPConnector(limit=0, ssl=tls_context(settings))}
