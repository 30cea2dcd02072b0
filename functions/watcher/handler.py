"""The watcher Lambda's two entry points, composed once per cold start (on the first call, not at import):

- ``functions.watcher.handler.schedule_handler``: an EventBridge schedule (e.g. every 5 minutes) → one tick;
- ``functions.watcher.handler.webhook_handler``: API Gateway ``POST /openai/webhook`` → the Flask app through
  apig-wsgi, which hands Flask the exact body bytes OpenAI signed.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from typing import Any

from shared.config import Settings
from shared.discord.rest import DiscordRest
from shared.logs import configure_logging

from .watch import JobWatcher, build_watcher

_lock = threading.Lock()
_watcher: JobWatcher | None = None
_webhook: Any = None


def _cold_start() -> JobWatcher:
    global _watcher
    with _lock:
        if _watcher is None:
            settings = Settings.from_env()
            configure_logging(settings, service="watcher")
            _watcher = build_watcher(settings)
        return _watcher


# Kept back from the invocation's remaining time, so a refused wait still ends in a clean return.
DEADLINE_MARGIN_SECONDS = 5.0


def discord_deadline(discord: DiscordRest, context: Any) -> AbstractContextManager[None]:
    """Discord's waits (rate limits, backoff) end before the invocation does; no limit outside Lambda."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return nullcontext()
    return discord.deadline(max(0.0, context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS))


def schedule_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    watcher = _cold_start()
    with discord_deadline(watcher.discord, context):
        return asdict(watcher.tick())


def webhook_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _webhook
    watcher = _cold_start()
    with _lock:
        if _webhook is None:
            from apig_wsgi import make_lambda_handler

            from shared.aws import AwsClients

            from .webhook import create_app

            settings = watcher.settings
            app = create_app(settings, watcher, dynamodb_client=AwsClients(settings).dynamodb)
            _webhook = make_lambda_handler(app, binary_support=True)
    with discord_deadline(watcher.discord, context):
        return _webhook(event, context)
