"""SnapStart for the interactions function: prepare, before the snapshot, what the first request would build.

With SnapStart on (the template's ``SnapStart`` parameter), Lambda initialises the function once when a version is
published, runs the before-snapshot hooks, and snapshots memory; a cold start then resumes from that snapshot. So the
hook builds what the first command would otherwise pay for: the AWS clients (botocore's service models, endpoint
rules and credential chain), the storage objects on top of them and the modules they import, and Flask's first
request (one signed PING through the whole app, signature check included). It makes no network call: connections
opened before a snapshot would be stale after it.

``snapshot_restore_py`` ships with Lambda's Python runtimes (3.12 and later); elsewhere nothing is registered and
nothing changes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from nacl.signing import SigningKey

from shared.storage.stores import Stores

log = logging.getLogger(__name__)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def prepare_first_request(stores: Stores, handler: Handler) -> None:
    """Build the clients and stores, and run Flask's first request, without touching the network."""
    aws = stores.aws
    for client in (aws.dynamodb, aws.s3, aws.sqs):  # creating a client makes no request
        client.meta.service_model.operation_names  # noqa: B018 - loads the service model now
    for store in ("table", "feedback", "exchanges", "instructions", "datasets", "files"):
        getattr(stores, store)
    # A PING signed with a throwaway key: the real verifier runs every step, Ed25519 included, and refuses it (401).
    body = json.dumps({"type": 1, "id": "0", "application_id": "0", "token": "x", "version": 1}).encode()
    timestamp = str(int(time.time()))
    signature = SigningKey.generate().sign(timestamp.encode() + body).signature.hex()
    event = {"version": "2.0", "routeKey": "POST /interactions", "rawPath": "/interactions", "rawQueryString": "",
             "headers": {"content-type": "application/json", "x-signature-ed25519": signature,
                         "x-signature-timestamp": timestamp},
             "requestContext": {"http": {"method": "POST", "path": "/interactions", "protocol": "HTTP/1.1",
                                         "sourceIp": "127.0.0.1", "userAgent": "snapstart"},
                                "stage": "$default"},
             "body": body.decode(), "isBase64Encoded": False}
    status = handler(event, None).get("statusCode")
    log.info("prepared for the snapshot (warm-up request answered %s)", status)


def register_hooks(stores: Stores, handler: Handler) -> bool:
    """Register :func:`prepare_first_request` to run before a SnapStart snapshot; False where there is none."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(prepare_first_request, stores, handler)
    return True
