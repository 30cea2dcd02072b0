"""``python -m voice_worker``: check that voice can work, then run until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from shared.config import Settings, secret_value
from shared.errors import ConfigError

log = logging.getLogger("voice_worker")


def resolve_bot_token(settings: Settings) -> str:
    """The token itself, or the secret it names (``ssm:/name``, or a Secrets Manager name or ARN)."""
    token = secret_value(settings.discord_bot_token, settings.discord_bot_token_secret, settings=settings)
    if not token:
        raise ConfigError("DISCORD_BOT_TOKEN or DISCORD_BOT_TOKEN_SECRET must be set")
    return token


def build_bot(settings: Settings) -> Any:
    """One AwsClients for the process: boto3 clients are thread-safe, and every to_thread worker shares them."""
    from shared.aws import AwsClients
    from shared.storage.stores import Stores
    from voice_worker.answers import ModelAnswerer
    from voice_worker.bot import VoiceBot
    from voice_worker.guild_settings import VoiceSettingsStore
    from voice_worker.ledger import RequestLedger
    from voice_worker.replies import RestReplier
    from voice_worker.stt import Transcriber
    from voice_worker.tts import Synthesizer, build_engines

    aws = AwsClients(settings)
    return VoiceBot(
        settings,
        synthesizer=Synthesizer(build_engines(settings, aws), settings.voice_tts_engine),
        settings_store=VoiceSettingsStore(settings, aws),
        replier=RestReplier(settings),
        ledger=RequestLedger(settings, aws, worker_id=f"voice-shard-{settings.voice_shard_id}"),
        transcriber=Transcriber(settings) if settings.voice_transcribe_messages else None,
        # Transcribed voice messages get the model's answer too, when a model provider is configured.
        answerer=(ModelAnswerer(settings, stores=Stores(settings, aws))
                  if settings.voice_transcribe_messages and _can_answer(settings) else None),
        aws=aws,
    )


def _can_answer(settings: Settings) -> bool:
    if settings.finetune_provider == "openai":
        return bool(settings.openai_api_key or settings.openai_api_key_secret)
    return True


def install_signal_handlers(bot: Any) -> None:
    """SIGTERM (orchestrator stop) and SIGINT (Ctrl-C) start the graceful shutdown."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _start_shutdown, bot, sig)


def _start_shutdown(bot: Any, sig: signal.Signals) -> None:
    log.info("received %s", sig.name)
    bot.shutdown_task = asyncio.ensure_future(bot.shutdown())


async def run(settings: Settings) -> None:
    from voice_worker.health import HealthServer

    bot = build_bot(settings)
    token = resolve_bot_token(settings)
    install_signal_handlers(bot)
    health = HealthServer(bot.health, settings.voice_health_port) if settings.voice_health_port else None
    if health:
        await health.start()
    try:
        async with bot:
            await bot.login(token)
            await probe_gateway(bot)
            await bot.connect(reconnect=True)
    finally:
        if health:
            await health.stop()


async def probe_gateway(bot: Any) -> None:
    """Open and close the main gateway once: discord.py retries an unreachable gateway forever, but at
    start-up that is a configuration problem to report."""
    import discord.gateway

    url = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.with_query(v=10, encoding="json")
    socket = await asyncio.wait_for(bot.http.ws_connect(str(url)), 30)
    await socket.close()


def explain_start_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure to reach or be accepted by Discord; None for anything unexpected."""
    import ssl

    import aiohttp
    import discord

    if isinstance(exc, discord.LoginFailure):
        return f"Discord refused the bot token (DISCORD_BOT_TOKEN) at {settings.discord_api_base}"
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return ("Discord refused the privileged intents this worker asks for (message content, needed by "
                "VOICE_TRANSCRIBE_MESSAGES): enable them for the application or turn transcription off")
    if isinstance(exc, discord.ConnectionClosed):
        meaning = {4004: "authentication failed (bad token)", 4010: "invalid shard", 4011: "sharding required",
                   4012: "invalid API version", 4013: "invalid intents", 4014: "disallowed intents"}
        what = meaning.get(exc.code or 0, exc.reason or "no reason given")
        return f"Discord closed the gateway connection at {settings.discord_gateway_url} (code {exc.code}: {what})"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
        return (f"the TLS certificate of Discord's servers was not trusted ({exc}); for a local gateway set "
                "DISCORD_CA_FILE to its CA")
    if isinstance(exc, discord.HTTPException):
        return f"Discord's API at {settings.discord_api_base} answered {exc.status} while logging in"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the gateway at {settings.discord_gateway_url} refused the websocket ({exc.status})"
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return (f"cannot reach Discord (API {settings.discord_api_base}, gateway {settings.discord_gateway_url}): "
                f"{exc or type(exc).__name__}")
    return None


def record_stopped(settings: Settings, reason: str) -> None:
    """Voice commands then answer at once that voice is off, with this reason."""
    from shared.storage.stores import Stores
    from voice_worker.bot import presence_index

    try:
        Stores(settings).voice_presence.stopped(presence_index(settings), reason)
    except Exception:
        log.debug("could not record that voice is off", exc_info=True)


def main(argv: list[str] | None = None) -> int:
    from voice_worker.preflight import voice_problems

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problems = voice_problems(settings)
    if problems:
        for problem in problems:
            log.error("cannot start: %s", problem)
        return 2
    try:
        asyncio.run(run(settings))
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except Exception as exc:
        reason = explain_start_failure(exc, settings)
        if reason is None:
            raise
        log.error("stopped: %s", reason)
        record_stopped(settings, reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
