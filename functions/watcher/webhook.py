"""The OpenAI webhook endpoint: ``POST /openai/webhook``, a Flask view of a few lines.

The exact body bytes are verified (Standard Webhooks signature and timestamp, via ``WebhookVerifier``): a
delivery that does not verify gets 400 and is never processed. A repeat (same ``webhook-id``) is acknowledged
without a second effect (Powertools idempotency, keyed by it). A fine-tuning event then goes through the same
check as the schedule, which also covers any delivery that is lost or fails here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, request

from shared.config import Settings, secret_value
from shared.finetune.exceptions import WebhookRejected
from shared.finetune.webhooks import DeliveryLog, WebhookEvent, WebhookVerifier
from shared.web import json_errors

from .watch import JobWatcher

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
# The template's OpenAIWebhookFunction Timeout: outside Lambda (the local stack) a delivery gets as long.
HANDLING_SECONDS = 30


class _Deadline:
    """Lambda's context as far as Powertools needs it, for a request served outside Lambda."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def create_app(settings: Settings, watcher: JobWatcher, *, dynamodb_client: Any,
               verifier: WebhookVerifier | None = None) -> Flask:
    """The webhook app. Without a webhook secret there is nothing to verify against: the route is absent
    (404 for every call) and the schedule alone watches jobs."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    json_errors(app)

    if verifier is None:
        secret = secret_value(settings.openai_webhook_secret, settings.openai_webhook_secret_secret,
                              settings=settings)
        if not secret:
            logger.warning("no OPENAI_WEBHOOK_SECRET_SECRET (or OPENAI_WEBHOOK_SECRET): the webhook route is off")
            return app
        verifier = WebhookVerifier(secret)
    deliveries = DeliveryLog(settings.idempotency_table, dynamodb_client)

    def check_job(event: WebhookEvent) -> str:
        result = watcher.on_event(event)
        return result[0] if result else "unknown job"

    @app.post("/openai/webhook")
    def openai_webhook() -> tuple[Response, int]:
        body = request.get_data(cache=False)
        try:
            event = verifier.verify(body, dict(request.headers))
        except WebhookRejected:
            return jsonify({"error": "signature did not verify"}), 400
        if not event.is_fine_tuning:
            return jsonify({"status": "ignored"}), 200
        try:
            lambda_context = request.environ.get("apig_wsgi.context") or _Deadline(HANDLING_SECONDS)
            status = deliveries.handle_once(event, check_job, lambda_context=lambda_context)
        except Exception as exc:  # no delivery record is kept; a redelivery or the schedule checks the job again
            logger.error("webhook %s for job %s: check failed: %r", event.event_id, event.job_id, exc)
            return jsonify({"status": "accepted; the next scheduled check will retry"}), 202
        if status is None:
            return jsonify({"status": "duplicate"}), 200
        return jsonify({"status": status}), 200

    return app
