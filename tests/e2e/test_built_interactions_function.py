"""The `sam build` artifact of the interactions function, under the Lambda Runtime Interface Emulator."""

import base64
import json
from copy import deepcopy

import pytest

from infra import interactions as build
from infra.signing import InteractionSigner
from infra.template import function_environment, provision
from shared.aws import AwsClients
from shared.config import Settings
from tests.support.emulator import (
    EmulatedFunction,
    generated_http_api_event,
    install_runtime_client,
    sam_build,
)
from tests.support.moto_server import moto_server

pytestmark = pytest.mark.e2e
APP = "100000000000000077"


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def function(tmp_path_factory, signer, moto_endpoint):
    monkeypatch = pytest.MonkeyPatch()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    root = tmp_path_factory.mktemp("sam")
    artifact = sam_build("InteractionsFunction", root / "build")
    runtime_client = install_runtime_client(root / "ric")
    clients = AwsClients(Settings(aws_endpoint_url=moto_endpoint))
    provisioned = provision(clients, prefix="e2e",
                            parameters={"DiscordPublicKey": signer.public_key_hex, "DiscordApplicationId": APP})
    environment = {**function_environment(provisioned, "InteractionsFunction"), "AWS_ENDPOINT_URL": moto_endpoint,
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1"}
    emulated = EmulatedFunction(artifact, runtime_client, "functions.interactions.handler.lambda_handler",
                                environment).start()
    emulated.clients = clients
    emulated.provisioned = provisioned
    yield emulated
    emulated.stop()
    monkeypatch.undo()


@pytest.fixture(scope="module")
def base_event():
    return generated_http_api_event()


def http_api_event(base, body: bytes, headers: dict) -> dict:
    event = deepcopy(base)
    event.update(rawPath="/interactions", rawQueryString="", routeKey="POST /interactions",
                 headers={k.lower(): v for k, v in headers.items()},
                 body=base64.b64encode(body).decode(), isBase64Encoded=True)
    event.pop("cookies", None)
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"].update(method="POST", path="/interactions")
    return event


def body_of(response: dict):
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None


def test_artifact_holds_only_the_function_and_its_dependencies(function):
    names = {p.name for p in function.artifact.iterdir()}
    assert {"functions", "shared", "flask", "nacl", "apig_wsgi"} <= names
    assert not names & {"tests", "voice_worker", "infra", "openai", "matplotlib", "discord"}


def test_ping(function, signer, base_event):
    body = build.encode(build.ping(application_id=APP))
    response = function.invoke(http_api_event(base_event, body, signer.headers(body)))
    assert response["statusCode"] == 200, function.logs()
    assert body_of(response) == {"type": 1}


def test_hi(function, signer, base_event):
    body = build.encode(build.slash("hi", application_id=APP))
    response = function.invoke(http_api_event(base_event, body, signer.headers(body)))
    assert body_of(response)["data"]["content"] == "HI!"


def test_bad_signature_is_401(function, signer, base_event):
    body = build.encode(build.ping(application_id=APP))
    response = function.invoke(http_api_event(base_event, body, InteractionSigner.generate().headers(body)))
    assert response["statusCode"] == 401


def test_feedback_reaches_dynamodb(function, signer, base_event):
    body = build.encode(build.slash("feedback", options={"text": "from the emulator"}, application_id=APP))
    response = function.invoke(http_api_event(base_event, body, signer.headers(body)))
    assert body_of(response)["data"]["content"] == "Thanks, your feedback is saved.", function.logs()
    items = function.clients.dynamodb.scan(TableName=function.provisioned.refs["DataTable"])["Items"]
    assert any(item.get("text", {}).get("S") == "from the emulator" for item in items)


def test_emulator_reports_init_duration(function):
    assert function.init_durations_ms(), function.logs()
