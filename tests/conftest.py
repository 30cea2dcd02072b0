"""Fixtures shared by every test area: fake AWS credentials, a generated application key, the template's
resources on moto, and a signed-interaction client for the Flask app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from functions.interactions.app import create_app
from infra.signing import InteractionSigner
from infra.template import Provisioned, function_environment, provision
from shared.aws import AwsClients
from shared.config import Settings
from shared.storage.stores import Stores

APPLICATION_ID = "100000000000000042"


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never reach a real account, whatever the developer's shell has.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def signer() -> InteractionSigner:
    return InteractionSigner.generate()


@dataclass
class LocalAws:
    clients: AwsClients
    provisioned: Provisioned
    settings: Settings


@pytest.fixture
def aws(signer: InteractionSigner) -> Iterator[LocalAws]:
    """Every table, bucket and queue of template.yaml, in moto, and Settings pointing at them."""
    with mock_aws():
        clients = AwsClients(Settings())
        provisioned = provision(
            clients, parameters={"DiscordPublicKey": signer.public_key_hex, "DiscordApplicationId": APPLICATION_ID,
                                 # A deployment with the voice worker, so the functions get the voice queue.
                                 "VoiceImageUri": "voice-worker-image"}
        )
        environment = function_environment(provisioned, "InteractionsFunction")
        environment["IDEMPOTENCY_TABLE"] = provisioned.refs["IdempotencyTable"]
        yield LocalAws(clients, provisioned, Settings.from_env(environment))


@dataclass
class InteractionClient:
    """Posts interactions to the Flask app the way Discord does, signed with the test key."""

    flask_client: Any
    signer: InteractionSigner

    def post(self, interaction: dict[str, Any], **kwargs: Any) -> Any:
        body = json.dumps(interaction).encode()
        return self.flask_client.post("/interactions", data=body, headers=self.signer.headers(body), **kwargs)

    def send(self, interaction: dict[str, Any]) -> dict[str, Any]:
        response = self.post(interaction)
        assert response.status_code == 200, response.data
        return response.get_json()


@pytest.fixture
def stores(aws: LocalAws) -> Stores:
    return Stores(aws.settings, aws=aws.clients)


@pytest.fixture
def app_client(aws: LocalAws, stores: Stores, signer: InteractionSigner) -> InteractionClient:
    app = create_app(aws.settings, stores=stores)
    return InteractionClient(app.test_client(), signer)
