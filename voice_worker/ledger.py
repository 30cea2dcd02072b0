"""A durable claim on each queued interaction, so a redelivered voice request does not act twice, and a
request whose worker died half way is not lost.

SQS FIFO deduplicates only within five minutes of sending; a message whose visibility lapsed (worker restart,
slow playback) comes back later. A conditional write in the data table, kept a day by TTL, closes that gap:
a claim is first *taken* with a lease, then marked *done* once the request was handled. A redelivery skips a
done request, leaves one whose lease still runs for later, and takes over one whose lease ran out (its worker
died between claiming and finishing): at least once, never twice while a worker is alive.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.aws import AwsClients
from shared.config import Settings
from shared.storage import keys
from shared.storage.table import ConditionFailed, DataTable

CLAIM_TTL_SECONDS = 24 * 3600
# Shorter than the voice queue's visibility timeout (template.yaml, 120 s): when a dead worker's message comes
# back, its lease is over.
CLAIM_LEASE_SECONDS = 100
TAKEN, DONE, BUSY = "taken", "done", "busy"


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

    def take(self, interaction_id: str, kind: str) -> str:
        """:data:`TAKEN` if this worker may act on the request now, :data:`DONE` if it was handled before,
        :data:`BUSY` if another worker holds a live lease on it.

        Raises NotSaved when the table cannot be reached (the message then stays for redelivery)."""
        now = int(self._wall_clock())
        table = self._data_table()
        pk, sk = keys.voice_request_pk(interaction_id), keys.voice_request_sk()
        try:
            table.update(pk, sk, set={"kind": kind, "worker": self._worker_id, "claimed_at": now, "state": TAKEN,
                                      "lease_until": now + CLAIM_LEASE_SECONDS,
                                      "expires_at": now + CLAIM_TTL_SECONDS},
                         condition="attribute_not_exists(pk) OR (#state = :taken AND lease_until < :now)",
                         names={"#state": "state"}, values={":taken": TAKEN, ":now": now})
        except ConditionFailed:
            item = table.get(pk, sk) or {}
            # A claim without a state was written before leases existed: it was handled.
            return BUSY if item.get("state") == TAKEN else DONE
        return TAKEN

    def claim(self, interaction_id: str, kind: str) -> bool:
        """True if this worker may act on the request now (see :meth:`take`)."""
        return self.take(interaction_id, kind) == TAKEN

    def finish(self, interaction_id: str) -> None:
        """The request was handled (or its user told why not): a redelivery is skipped from now on."""
        self._data_table().update(keys.voice_request_pk(interaction_id), keys.voice_request_sk(),
                                  set={"state": DONE}, remove=("lease_until",))
