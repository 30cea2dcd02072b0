"""What a job gets besides its request: settings and lazily built clients."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.discord_api import DiscordRest
    from shared.settings import Settings


class WorkerContext:
    """Settings plus the clients a job may use, each built on first use and then kept (one per cold start).

    Tests pass clients in (``s3=...``, ``discord=...``); otherwise boto3 clients honour ``AWS_ENDPOINT_URL``
    and region from :class:`Settings`, so the local stack reaches moto.
    """

    def __init__(self, settings: Settings, *, s3: Any = None, dynamodb: Any = None, sqs: Any = None,
                 discord: DiscordRest | None = None, boto3_session: Any = None) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        for name, client in (("s3", s3), ("dynamodb", dynamodb), ("sqs", sqs)):
            if client is not None:
                self._clients[name] = client
        self._discord = discord
        self._session = boto3_session
        self._lock = threading.Lock()

    def client(self, service_name: str) -> Any:
        """A boto3 client for ``service_name`` (e.g. ``"bedrock-runtime"``), built once."""
        with self._lock:
            client = self._clients.get(service_name)
            if client is None:
                client = self._build_client(service_name)
                self._clients[service_name] = client
            return client

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def discord(self) -> DiscordRest:
        with self._lock:
            if self._discord is None:
                from shared.discord_api import DiscordRest

                self._discord = DiscordRest(self.settings)
            return self._discord

    def _build_client(self, service_name: str) -> Any:
        import boto3

        if self._session is None:
            self._session = boto3.session.Session()
        kwargs: dict[str, Any] = {"region_name": self.settings.aws_region}
        if self.settings.aws_endpoint_url:
            kwargs["endpoint_url"] = self.settings.aws_endpoint_url
        return self._session.client(service_name, **kwargs)
