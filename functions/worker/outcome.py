"""What a task gives back, and how a task refuses.

A task is a plain function ``(request, ctx) -> TaskOutcome`` for one :class:`~shared.contracts.messages.TaskKind`,
listed in :data:`functions.worker.tasks.TASKS`. It raises a :class:`~shared.errors.BotError` to refuse (its
``user_message`` becomes the reply) or to ask for another delivery (``retryable``); anything else is a bug,
logged with its trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import TaskRequest


@dataclass(frozen=True)
class TaskOutcome:
    """What the deferred reply becomes: an edit of the original response (a follow-up for a chained task)."""

    content: str | None = None
    embeds: list[dict[str, Any]] | None = None
    components: list[dict[str, Any]] | None = None
    files: Sequence[tuple[str, bytes]] = ()
    allowed_mentions: dict[str, Any] | None = None
    # Called with the message Discord returns for the reply (its id, ...), e.g. to record what it answered.
    on_delivered: Callable[[dict[str, Any]], None] | None = None


TaskFunction = Callable[["TaskRequest", "WorkerServices"], TaskOutcome]
