"""Time as moto's SQS sees it, moved forward by tests instead of slept through.

A failed record comes back after the worker's retry delay (tens of seconds, the template's numbers): tests
advance this clock by exactly that much rather than shortening the delay.
"""

from __future__ import annotations

from typing import Any

import moto.sqs.models as sqs_models


class SqsClock:
    def __init__(self, monkeypatch: Any) -> None:
        self.offset = 0.0
        real_millis, real_seconds = sqs_models.unix_time_millis, sqs_models.unix_time
        monkeypatch.setattr(sqs_models, "unix_time_millis", lambda *a: real_millis(*a) + self.offset * 1000)
        monkeypatch.setattr(sqs_models, "unix_time", lambda *a: real_seconds(*a) + self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
