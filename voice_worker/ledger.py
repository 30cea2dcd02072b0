"""A durable claim on each queued interaction, so a redelivered voice request does not act twice.

SQS FIFO deduplicates only within five minutes of sending; a message whose visibility lapsed (worker restart,
slow playback) comes back later. A conditional put in the data table, kept a day by TTL, closes that gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.settings import Settings
from shared.storage import keys

CLAIM_TTL_SECONDS = 24 * 3600


class RequestLedger:
    def __init__(self, settings: Settings, table: Any = None, *, worker_id: str = "voice-worker",
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._table = table
        self._worker_id = worker_id
        self._wall_clock = wall_clock

    def _data_table(self) -> Any:
        if self._table is None:
            import boto3

            resource = boto3.resource("dynamodb", region_name=self._settings.aws_region,
                                      endpoint_url=self._settings.aws_endpoint_url or None)
            self._table = resource.Table(self._settings.data_table)
        return self._table

    def claim(self, interaction_id: str, kind: str) -> bool:
        """True if this worker is the first to take the request; False if it was taken before."""
        from botocore.exceptions import ClientError

        now = int(self._wall_clock())
        try:
            self._data_table().put_item(
                Item={"pk": keys.voice_request_pk(interaction_id), "sk": keys.voice_request_sk(),
                      "kind": kind, "worker": self._worker_id, "claimed_at": now,
                      "expires_at": now + CLAIM_TTL_SECONDS},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
