"""OpenAI webhook deliveries (``fine_tuning.job.*``): verify, parse, and ignore repeats.

OpenAI signs deliveries per Standard Webhooks: headers ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed with the ``whsec_`` secret).
Verification uses the ``openai`` package's own ``client.webhooks.verify_signature``, which also rejects stale
(and far-future) timestamps. A redelivery carries the same ``webhook-id``; :func:`remember_delivery` records
it
with a conditional put so the caller processes each delivery once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.finetune.exceptions import WebhookRejected

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_SECONDS = 300
DELIVERY_RECORD_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class WebhookEvent:
    delivery_id: str
    event_id: str
    type: str
    job_id: str
    created_at: int

    @property
    def is_fine_tuning(self) -> bool:
        return self.type.startswith("fine_tuning.job.")


class WebhookVerifier:
    """Verifies deliveries with one secret. The openai client (no network use) is built lazily."""

    def __init__(
        self, secret: str, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS, client: Any = None
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required (OPENAI_WEBHOOK_SECRET)")
        self._secret = secret
        self._tolerance = tolerance
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            # Only the webhooks helper is used: no request is ever sent with this key.
            self._client = OpenAI(api_key="webhook-verification", webhook_secret=self._secret)
        return self._client

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> WebhookEvent:
        """The parsed event, or :class:`WebhookRejected` for a bad signature, a stale delivery or a bad
        body."""
        from openai import InvalidWebhookSignatureError

        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            self.client.webhooks.verify_signature(
                payload=body, headers=lowered, secret=self._secret, tolerance=self._tolerance
            )
        except (InvalidWebhookSignatureError, ValueError, TypeError) as exc:
            # ValueError: a required header is missing or not a number; TypeError: a non-ASCII signature,
            # which hmac.compare_digest refuses to compare.
            logger.warning("webhook rejected: %s", exc)
            raise WebhookRejected(detail=str(exc)) from exc
        try:
            data = json.loads(body)
            event = WebhookEvent(
                delivery_id=lowered["webhook-id"],
                event_id=str(data["id"]),
                type=str(data["type"]),
                job_id=str(data["data"]["id"]),
                created_at=int(data.get("created_at") or 0),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise WebhookRejected(detail=f"signed body is not an event: {type(exc).__name__}") from None
        return event


class DeliveryLog:
    """Each webhook delivery handled once, through Powertools idempotency keyed by ``webhook-id``.

    The record lives in the idempotency table under its own key prefix. A handler that raises leaves no record,
    so the service's redelivery is handled again; a repeat of a handled delivery gets ``None``.
    """

    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._repeat = threading.local()

        def on_repeat(response: Any, idempotent_data: Any) -> Any:
            self._repeat.seen = True
            return response

        config = IdempotencyConfig(event_key_jmespath="delivery_id", raise_on_no_idempotency_key=True,
                                   expires_after_seconds=DELIVERY_RECORD_TTL_SECONDS, response_hook=on_repeat)
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._config = config
        self._once = idempotent_function(data_keyword_argument="delivery", persistence_store=persistence,
                                         config=config, key_prefix="openai-webhook")(self._run)
        self._handler: Callable[[WebhookEvent], str] | None = None

    def _run(self, *, delivery: dict[str, Any], event: WebhookEvent) -> str:
        assert self._handler is not None
        return self._handler(event)

    def handle_once(self, event: WebhookEvent, handler: Callable[[WebhookEvent], str], *,
                    lambda_context: Any) -> str | None:
        """``handler(event)``'s result the first time; ``None`` for a delivery handled before.

        ``lambda_context`` (anything with ``get_remaining_time_in_millis``) bounds how long a delivery may stay
        in progress: one that crashed mid-way is handled again after that.
        """
        self._config.register_lambda_context(lambda_context)
        self._repeat.seen = False
        self._handler = handler
        result = self._once(delivery={"delivery_id": event.delivery_id}, event=event)
        return None if self._repeat.seen else str(result)
