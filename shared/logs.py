"""Structured JSON logs (Powertools Logger) for the project's own loggers, in the worker and watcher functions."""

from __future__ import annotations

import logging
from typing import Any

from shared.config import Settings

# Library code logs with logging.getLogger(__name__) under these packages.
PROJECT_LOGGERS = ("functions", "shared")
# The HTTP and AWS clients' loggers. At DEBUG they print requests and responses verbatim: a secret's value
# (GetSecretValue), the bot token, interaction tokens in queue message bodies. Whatever LOG_LEVEL says (the
# template allows DEBUG), they stay at INFO or above.
WIRE_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "openai", "httpx", "httpcore")


def quiet_wire_loggers() -> None:
    """Keep the clients' wire logging off at every log level; call once per process, at its start."""
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


def configure_logging(settings: Settings, *, service: str) -> Any:
    """Route the project's loggers through one Powertools Logger; returns it. Call once per cold start."""
    from aws_lambda_powertools import Logger

    quiet_wire_loggers()
    service_logger = Logger(service=service, level=settings.log_level)
    for name in PROJECT_LOGGERS:
        target = logging.getLogger(name)
        for handler in service_logger.handlers:
            if handler not in target.handlers:
                target.addHandler(handler)
        target.setLevel(settings.log_level)
        target.propagate = False
    return service_logger
