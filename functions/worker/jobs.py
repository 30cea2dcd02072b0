"""The job registry: one function per :class:`~shared.contracts.messages.JobRequest` kind.

A job module registers its function with the default registry::

    from functions.worker.jobs import JobOutcome, job

    @job("archive")
    def archive(request: JobRequest, ctx: WorkerContext) -> JobOutcome:
        ...
        return JobOutcome(content="Archived.", files=[("archive.zip", data)])

and is listed in :data:`functions.worker.handler.JOB_MODULES` so that the cold start imports it. A job
raises a :class:`~shared.errors.BotError` to refuse (its ``user_message`` becomes the reply) or to ask for
another delivery (``retryable``); anything else is a bug, logged with its trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import BotError

if TYPE_CHECKING:
    from functions.worker.context import WorkerContext
    from shared.contracts.messages import JobRequest


# A job argument: deliver the outcome as a follow-up message rather than by editing the original response
# (a job chained from another on the same interaction, whose reply stays in place).
REPLY_AS_FOLLOWUP = "reply_as_followup"


@dataclass(frozen=True)
class JobOutcome:
    """What the deferred reply becomes: an edit of the original response (a follow-up for a chained job)."""

    content: str | None = None
    embeds: list[dict[str, Any]] | None = None
    components: list[dict[str, Any]] | None = None
    files: Sequence[tuple[str, bytes]] = ()
    allowed_mentions: dict[str, Any] | None = None
    # Called with the message Discord returns for the reply (its id, ...), e.g. to record what it answered.
    on_delivered: Callable[[dict[str, Any]], None] | None = None


JobFunction = Callable[["JobRequest", "WorkerContext"], JobOutcome]


class UnknownJobKind(BotError):
    """No function is registered for a queued kind: the worker is older than the interactions function.

    Retryable on purpose: the message stays on the queue (then the DLQ) until a worker that knows it runs.
    """

    user_message = "I couldn't run that command right now. Please try again later."
    retryable = True


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, JobFunction] = {}

    def register(self, kind: str) -> Callable[[JobFunction], JobFunction]:
        """Decorator: ``@registry.register("train")``. A kind is registered once."""

        def decorator(function: JobFunction) -> JobFunction:
            self.add(kind, function)
            return function

        return decorator

    def add(self, kind: str, function: JobFunction) -> None:
        if not kind or not isinstance(kind, str):
            raise ValueError("a job kind is a non-empty string")
        existing = self._jobs.get(kind)
        if existing is not None and existing is not function:
            raise ValueError(f"job kind {kind!r} is already registered to {existing.__qualname__}")
        self._jobs[kind] = function

    def get(self, kind: str) -> JobFunction:
        try:
            return self._jobs[kind]
        except KeyError:
            raise UnknownJobKind(detail=f"no job registered for kind {kind!r}") from None


# The registry job modules add themselves to at import; it holds plain functions, no clients.
registry = JobRegistry()


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Register a job function for ``kind`` with the default registry."""
    return registry.register(kind)
