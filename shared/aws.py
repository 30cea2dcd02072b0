"""boto3 clients built lazily from Settings, once per process.

boto3 is imported on first use, not at import time: the interactions function answers PING without it, which
keeps the cold start short.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.config import Settings


class AwsClients:
    """One boto3 client per service, built on first use; tests pass ready clients in (``s3=...``)."""

    def __init__(self, settings: Settings, *, session: Any = None, s3: Any = None, dynamodb: Any = None,
                 sqs: Any = None) -> None:
        self.settings = settings
        self._session = session
        self._clients: dict[str, Any] = {
            name: client for name, client in (("s3", s3), ("dynamodb", dynamodb), ("sqs", sqs)) if client is not None
        }
        # Powertools' batch processor and the voice worker call from threads.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (e.g. ``"bedrock-runtime"``), honouring AWS_ENDPOINT_URL and region."""
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    import boto3

                    self._session = boto3.session.Session()
                kwargs: dict[str, Any] = {"region_name": self.settings.aws_region}
                if self.settings.aws_endpoint_url:
                    kwargs["endpoint_url"] = self.settings.aws_endpoint_url
                self._clients[service] = self._session.client(service, **kwargs)
            return self._clients[service]

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")
