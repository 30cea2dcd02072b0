"""Putting a task on the jobs queue and a voice action on the voice queue (SQS)."""

from __future__ import annotations

import logging
from typing import Any

from shared.contracts.messages import TaskRequest, VoiceRequest
from shared.errors import UpstreamError

logger = logging.getLogger(__name__)

# SQS's own limit on a message body.
MAX_BODY_BYTES = 256 * 1024


def enqueue_task(sqs_client: Any, queue_url: str, request: TaskRequest) -> str:
    return _send(sqs_client, queue_url, request, {})


def voice_message_group(request: VoiceRequest) -> dict[str, str]:
    """FIFO parameters of the voice queue: one ordered group per guild; the interaction id deduplicates, so a
    replayed interaction is queued once."""
    return {"MessageGroupId": str(request.interaction.guild_id or "dm"),
            "MessageDeduplicationId": request.interaction.id}


def enqueue_voice(sqs_client: Any, queue_url: str, request: VoiceRequest) -> str:
    """Send ``request`` to the voice queue (SQS FIFO); return the SQS message id."""
    return _send(sqs_client, queue_url, request, voice_message_group(request))


def _send(sqs_client: Any, queue_url: str, request: TaskRequest | VoiceRequest, fifo: dict[str, str]) -> str:
    """Send ``request`` to ``queue_url``; return the SQS message id.

    The body carries the interaction token (the worker needs it), so it is never logged; the ``kind`` and the
    interaction id travel as message attributes too, for tracing without reading the body.
    Raises :class:`UpstreamError` (retryable) when SQS refuses, and ``ValueError`` for a body over SQS's
    limit.
    """
    body = request.to_json()
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise ValueError(f"job {request.kind!r} is larger than an SQS message; store its data first")
    try:
        response = sqs_client.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            **fifo,
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": request.kind},
                "interaction_id": {"DataType": "String", "StringValue": request.interaction.id},
            },
        )
    except Exception as exc:
        # Only the error's type and AWS code: a parameter error's text could quote the body, token included.
        error = getattr(exc, "response", None)
        code = error.get("Error", {}).get("Code", "") if isinstance(error, dict) else ""
        reason = f"{type(exc).__name__} {code}".strip()
        logger.error("could not enqueue job %s for interaction %s: %s", request.kind, request.interaction.id,
                     reason)
        raise UpstreamError(detail=f"jobs queue refused the message: {reason}") from None
    message_id = str(response["MessageId"])
    logger.info("enqueued job %s for interaction %s as %s", request.kind, request.interaction.id, message_id)
    return message_id
