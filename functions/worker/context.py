"""What a job gets besides its request: settings and lazily built clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.aws import AwsClients

if TYPE_CHECKING:
    from shared.discord_api import DiscordRest
    from shared.settings import Settings


class WorkerContext(AwsClients):
    """Settings plus the clients a job may use, each built on first use and then kept (one per cold start).

    Tests pass clients in (``s3=...``, ``discord=...``); otherwise boto3 clients honour ``AWS_ENDPOINT_URL``
    and region from :class:`Settings`, so the local stack reaches moto.
    """

    def __init__(self, settings: Settings, *, s3: Any = None, dynamodb: Any = None, sqs: Any = None,
                 discord: DiscordRest | None = None) -> None:
        super().__init__(settings, s3=s3, dynamodb=dynamodb, sqs=sqs)
        self._discord = discord

    @property
    def discord(self) -> DiscordRest:
        with self._lock:
            if self._discord is None:
                from shared.discord_api import DiscordRest

                self._discord = DiscordRest(self.settings)
            return self._discord
