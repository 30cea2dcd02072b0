"""The worker Lambda: ``functions.worker.handler.lambda_handler`` (SQS event source, partial batch responses).

Configuration is read once per cold start in :func:`build_worker`, on the first invocation, not at import.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from functions.worker.context import WorkerContext
from functions.worker.jobs import JobRegistry, registry
from functions.worker.processor import JobProcessor
from shared.config import Settings
from shared.logs import configure_logging

# Modules that register job functions (``@job("kind")``) when imported. The lead adds each job module here.
JOB_MODULES: tuple[str, ...] = ("functions.worker.training_jobs", "functions.worker.model_jobs")

SERVICE = "worker"

_worker: JobProcessor | None = None
_worker_lock = threading.Lock()


def build_worker(settings: Settings, *, job_registry: JobRegistry | None = None,
                 ctx: WorkerContext | None = None,
                 job_modules: tuple[str, ...] = JOB_MODULES) -> JobProcessor:
    """Compose the worker: import the job modules, build the context (clients lazily) and the processor."""
    for name in job_modules:
        importlib.import_module(name)
    return JobProcessor(ctx or WorkerContext(settings), job_registry or registry)


def _cold_start() -> JobProcessor:
    global _worker
    with _worker_lock:
        if _worker is None:
            settings = Settings.from_env()
            configure_logging(settings, service=SERVICE)
            _worker = build_worker(settings)
        return _worker


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The event holds interaction tokens: it is never logged, only its records' ids.
    return _cold_start().handle_batch(event, context)
