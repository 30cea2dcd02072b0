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
            await bot.start(token)
    finally:
        if health:
            await health.stop()


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
