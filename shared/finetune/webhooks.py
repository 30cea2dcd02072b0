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
import time
from collections.abc import Mapping
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


def remember_delivery(table_name: str, event: WebhookEvent, *, dynamodb_client: Any = None) -> bool:
    """Record a delivery id in the idempotency table; True the first time, False for a repeat.

    The record uses the Powertools table's schema (``id``, TTL ``expiration``) under its own key prefix.
    """
    if dynamodb_client is None:
        import boto3

        dynamodb_client = boto3.client("dynamodb")
    try:
        dynamodb_client.put_item(
            TableName=table_name,
            Item={
                "id": {"S": f"openai-webhook#{event.delivery_id}"},
                "expiration": {"N": str(int(time.time()) + DELIVERY_RECORD_TTL_SECONDS)},
                "status": {"S": "COMPLETED"},
                "event_type": {"S": event.type},
                "job_id": {"S": event.job_id},
            },
            ConditionExpression="attribute_not_exists(id)",
        )
    except dynamodb_client.exceptions.ConditionalCheckFailedException:
        logger.info("webhook delivery %s already processed", event.delivery_id)
        return False
    return True
