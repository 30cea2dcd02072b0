"""boto3 clients built lazily from Settings, once per process.

boto3 is imported on first use, not at import time: the interactions function answers PING without it, which
keeps the cold start short.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from shared.settings import Settings


class AwsClients:
    def __init__(self, settings: Settings, *, session: Any = None) -> None:
        self._settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            session = self._session or self._default_session
            kwargs: dict[str, Any] = {"region_name": self._settings.aws_region}
            if self._settings.aws_endpoint_url:
                kwargs["endpoint_url"] = self._settings.aws_endpoint_url
            self._clients[service] = session.client(service, **kwargs)
        return self._clients[service]

    @cached_property
    def _default_session(self) -> Any:
        import boto3

        return boto3.session.Session()

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")
