"""The worker Lambda: ``functions.worker.handler.lambda_handler`` (SQS event source, partial batch responses).

Configuration is read once per cold start in :func:`build_worker`, on the first invocation, not at import.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from functions.worker.context import WorkerContext
from functions.worker.jobs import JobRegistry, registry
from functions.worker.processor import JobProcessor
from shared.settings import Settings

# Modules that register job functions (``@job("kind")``) when imported. The lead adds each job module here.
JOB_MODULES: tuple[str, ...] = ("functions.worker.training_jobs", "functions.worker.model_jobs")

SERVICE = "worker"
# Loggers of the project's own packages: they get the structured (JSON) handler of the Powertools Logger.
PROJECT_LOGGERS = ("functions", "shared")

_worker: JobProcessor | None = None
_worker_lock = threading.Lock()


def build_worker(settings: Settings, *, job_registry: JobRegistry | None = None,
                 ctx: WorkerContext | None = None,
                 job_modules: tuple[str, ...] = JOB_MODULES) -> JobProcessor:
    """Compose the worker: import the job modules, build the context (clients lazily) and the processor."""
    for name in job_modules:
        importlib.import_module(name)
    return JobProcessor(ctx or WorkerContext(settings), job_registry or registry)


def configure_logging(settings: Settings) -> Any:
    """Structured JSON logs (Powertools Logger) for the project's loggers; returns the Powertools Logger."""
    from aws_lambda_powertools import Logger

    service_logger = Logger(service=SERVICE, level=settings.log_level)
    for name in PROJECT_LOGGERS:
        target = logging.getLogger(name)
        for handler in service_logger.handlers:
            if handler not in target.handlers:
                target.addHandler(handler)
        target.setLevel(settings.log_level)
        target.propagate = False
    return service_logger


def _cold_start() -> JobProcessor:
    global _worker
    with _worker_lock:
        if _worker is None:
            settings = Settings.from_env()
            configure_logging(settings)
            _worker = build_worker(settings)
        return _worker


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The event holds interaction tokens: it is never logged, only its records' ids.
    return _cold_start().handle_batch(event, context)
