"""Progress of a long task, shown by editing its deferred reply while it runs.

Renaming or deleting a dataset of 100,000 examples takes minutes; without a word the user cannot tell a slow
task from a lost one. The edits go through the same REST client as the final reply (which waits out Discord's
rate limits), at most one every ``PROGRESS_INTERVAL_SECONDS``, and a failed edit never fails the task: the final
reply says what was done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.errors import BotError

if TYPE_CHECKING:
    from shared.contracts.messages import InteractionRef
    from shared.discord.rest import DiscordRest

logger = logging.getLogger(__name__)

# One edit every few seconds: well inside an interaction webhook's rate limit, and often enough to show motion.
PROGRESS_INTERVAL_SECONDS = 3.0
# Every progress edit starts with this: the final reply never does (the local client waits on past it).
PROGRESS_MARK = "⏳"


class ProgressReply:
    """Called with how far the task is; edits the deferred reply when ``interval`` has passed since the start or
    the last edit (``clock``: seconds, monotonic; tests pass their own)."""

    def __init__(self, discord: DiscordRest, ref: InteractionRef, text: Callable[[str, int], str], *,
                 clock: Callable[[], float], interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        self._discord = discord
        self._ref = ref
        self._text = text
        self._clock = clock
        self._interval = interval
        self._last = clock()
        self.edits = 0

    def __call__(self, step: str, done: int) -> None:
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        try:
            text = f"{PROGRESS_MARK} {self._text(step, done)}"
            self._discord.edit_original(self._ref.application_id, self._ref.token, content=text)
            self.edits += 1
        except BotError as exc:  # the task goes on; its final reply replaces this one anyway
            logger.warning("progress edit for interaction %s failed: %s", self._ref.id, exc)
