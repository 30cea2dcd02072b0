"""The watcher Lambda's two entry points, composed once per cold start (on the first call, not at import):

- ``functions.watcher.handler.schedule_handler``: an EventBridge schedule (e.g. every 5 minutes) → one tick;
- ``functions.watcher.handler.webhook_handler``: API Gateway ``POST /openai/webhook`` → the Flask app through
  apig-wsgi, which hands Flask the exact body bytes OpenAI signed.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from shared.config import Settings
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


def schedule_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return asdict(_cold_start().tick())


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
    return _webhook(event, context)
