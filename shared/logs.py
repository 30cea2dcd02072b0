"""Structured JSON logs (Powertools Logger) for the project's own loggers, in the worker and watcher functions."""

from __future__ import annotations

import logging
from typing import Any

from shared.config import Settings

# Library code logs with logging.getLogger(__name__) under these packages.
PROJECT_LOGGERS = ("functions", "shared")


def configure_logging(settings: Settings, *, service: str) -> Any:
    """Route the project's loggers through one Powertools Logger; returns it. Call once per cold start."""
    from aws_lambda_powertools import Logger

    service_logger = Logger(service=service, level=settings.log_level)
    for name in PROJECT_LOGGERS:
        target = logging.getLogger(name)
        for handler in service_logger.handlers:
            if handler not in target.handlers:
                target.addHandler(handler)
        target.setLevel(settings.log_level)
        target.propagate = False
    return service_logger
