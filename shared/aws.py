"""boto3 clients built lazily from Settings, once per process.

boto3 is imported on first use, not at import time: the interactions function answers PING without it, which
keeps the cold start short. Services named in ``botocore_services`` are built by botocore alone: their clients are
the same (boto3's additions are S3 transfers and resources), and a process that needs only those never imports
boto3 and s3transfer.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.config import Settings


class AwsClients:
    """One boto3 client per service, built on first use; tests pass ready clients in (``s3=...``)."""

    def __init__(self, settings: Settings, *, session: Any = None, s3: Any = None, dynamodb: Any = None,
                 sqs: Any = None, botocore_services: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        self._session = session
        self._botocore_services = botocore_services
        self._botocore_session: Any = None
        self._clients: dict[str, Any] = {
            name: client for name, client in (("s3", s3), ("dynamodb", dynamodb), ("sqs", sqs)) if client is not None
        }
        # Powertools' batch processor and the voice worker call from threads.
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` (e.g. ``"bedrock-runtime"``) in the configured region.

        The endpoint is the service's own setting (``AWS_ENDPOINT_URL_BEDROCK``, ...) before
        ``AWS_ENDPOINT_URL``, the precedence botocore itself applies: one endpoint for every client would send
        Bedrock's calls to the embedded S3/DynamoDB."""
        with self._lock:
            if service not in self._clients:
                kwargs: dict[str, Any] = {"region_name": self.settings.aws_region}
                endpoint = self.settings.endpoint_url_for(service)
                if endpoint:
                    kwargs["endpoint_url"] = endpoint
                if service in self._botocore_services and self._session is None:
                    if self._botocore_session is None:
                        import botocore.session

                        self._botocore_session = botocore.session.get_session()
                    self._clients[service] = self._botocore_session.create_client(service, **kwargs)
                else:
                    if self._session is None:
                        import boto3

                        self._session = boto3.session.Session()
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
