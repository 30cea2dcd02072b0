"""The worker Lambda: ``functions.worker.handler.lambda_handler`` (SQS event source, partial batch responses).

Configuration is read once per cold start in :func:`build_worker`, on the first invocation, not at import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from functions.worker.outcome import TaskFunction
from functions.worker.processor import TaskProcessor
from functions.worker.services import WorkerServices
from functions.worker.tasks import TASKS
from shared.config import Settings
from shared.contracts.messages import TaskKind
from shared.logs import configure_logging

SERVICE = "worker"
logger = logging.getLogger(__name__)

_worker: TaskProcessor | None = None
_worker_lock = threading.Lock()


def build_worker(settings: Settings, *, tasks: Mapping[TaskKind, TaskFunction] | None = None,
                 ctx: WorkerServices | None = None) -> TaskProcessor:
    """Compose the worker: the context (clients built lazily) and the processor over the task table."""
    return TaskProcessor(ctx or WorkerServices(settings), TASKS if tasks is None else tasks)


def _cold_start() -> TaskProcessor:
    global _worker
    with _worker_lock:
        if _worker is None:
            settings = Settings.from_env()
            configure_logging(settings, service=SERVICE)
            _worker = build_worker(settings)
            _report_prerequisites(settings)
        return _worker


def _report_prerequisites(settings: Settings) -> None:
    """What the configured fine-tuning provider lacks, once per cold start (the estimate says it again)."""
    from shared.errors import BotError
    from shared.finetune.catalog import load_catalog
    from shared.finetune.readiness import startup_report

    try:
        for problem in startup_report(settings, load_catalog(settings)):
            logger.warning("fine-tuning prerequisite: %s", problem)
    except BotError as exc:
        logger.error("fine-tuning catalog: %s", exc)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The event holds interaction tokens: it is never logged, only its records' ids.
    return _cold_start().handle_batch(event, context)
