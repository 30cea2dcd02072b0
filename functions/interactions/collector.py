"""The garbage collector over a cold start: off while the function builds what it keeps, on again after.

Importing Flask and botocore and building the first DynamoDB client make some 80,000 objects that live as long as
the process. With the collector on, its passes walk them again and again while they are being made: 60–90 ms of a
cold ``/feedback`` here (``gc.callbacks`` timing), most of it four generation-1 passes. So the handler module
builds everything with it off (:func:`paused_until_first_request`), and :class:`FirstRequestResumesCollector`
turns it back on once the first request (or SnapStart's warm-up request) has been answered, after moving
everything built so far to the permanent generation (``gc.freeze``), which later passes skip. Warm requests are
collected as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@contextmanager
def paused_until_first_request() -> Iterator[None]:
    """Turn the collector off for the block; on again at once if the block fails (an init that raises)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        if was_enabled:
            gc.enable()
        raise


class FirstRequestResumesCollector:
    """Wraps the Lambda handler: after the first call, however it ends, the collector runs again."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._resumed = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return self._handler(event, context)
        finally:
            if not self._resumed:
                self._resumed = True
                gc.freeze()
                gc.enable()
