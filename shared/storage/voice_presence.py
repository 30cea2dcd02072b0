"""Whether a voice worker is running, so that voice commands can say at once that voice is off, and why.

The voice worker polling a voice queue writes a heartbeat under ``VOICE_WORKER`` / ``QUEUE#{index}`` while
its gateway connection is ready, and a ``stopped`` record with the reason when it stops or cannot start. The
interactions function reads it before queueing a voice request: a request nobody will take would only leave
the user looking at "thinking…".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.storage import keys
from shared.storage.table import DataTable

HEARTBEAT_SECONDS = 30
STALE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS
RECORD_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class VoiceWorkerStatus:
    running: bool
    reason: str = ""  # why voice is off; empty while running


class VoicePresence:
    def __init__(self, table: DataTable, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def _item(self, queue_index: int, **fields: object) -> dict[str, object]:
        now = int(self._clock())
        return {"pk": keys.voice_worker_pk(), "sk": keys.voice_worker_sk(queue_index), "type": "voice_worker",
                "seen_at": now, "expires_at": now + RECORD_TTL_SECONDS, **fields}

    def beat(self, queue_index: int) -> None:
        self._table.put(self._item(queue_index, state="running"))

    def stopped(self, queue_index: int, reason: str) -> None:
        self._table.put(self._item(queue_index, state="stopped", reason=reason[:500]))

    def status(self, queue_index: int) -> VoiceWorkerStatus:
        item = self._table.get(keys.voice_worker_pk(), keys.voice_worker_sk(queue_index))
        if item is None:
            return VoiceWorkerStatus(False, "no voice worker has connected to Discord")
        if item.get("state") == "stopped":
            return VoiceWorkerStatus(False, str(item.get("reason") or "the voice worker stopped"))
        age = self._clock() - float(item.get("seen_at") or 0)
        if age > STALE_AFTER_SECONDS:
            return VoiceWorkerStatus(False, f"the voice worker has not been heard from for {int(age)} s")
        return VoiceWorkerStatus(True)
