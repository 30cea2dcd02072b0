"""A durable claim on each queued interaction, so a redelivered voice request does not act twice.

SQS FIFO deduplicates only within five minutes of sending; a message whose visibility lapsed (worker restart,
slow playback) comes back later. A conditional put in the data table, kept a day by TTL, closes that gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.aws import AwsClients
from shared.config import Settings
from shared.storage import keys
from shared.storage.table import DataTable

CLAIM_TTL_SECONDS = 24 * 3600


class RequestLedger:
    def __init__(self, settings: Settings, aws: AwsClients | None = None, *, table: DataTable | None = None,
                 worker_id: str = "voice-worker", wall_clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._aws = aws
        self._table = table
        self._worker_id = worker_id
        self._wall_clock = wall_clock

    def _data_table(self) -> DataTable:
        if self._table is None:
            self._table = DataTable(self._settings.data_table, (self._aws or AwsClients(self._settings)).dynamodb)
        return self._table

    def claim(self, interaction_id: str, kind: str) -> bool:
        """True if this worker is the first to take the request; False if it was taken before.

        Raises NotSaved when the table cannot be reached (the message then stays for redelivery)."""
        now = int(self._wall_clock())
        return self._data_table().put_new(
            {"pk": keys.voice_request_pk(interaction_id), "sk": keys.voice_request_sk(), "kind": kind,
             "worker": self._worker_id, "claimed_at": now, "expires_at": now + CLAIM_TTL_SECONDS})
