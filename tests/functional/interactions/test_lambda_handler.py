"""The Lambda entry point with both API Gateway payload formats, against the template's resources in moto."""

import base64
import importlib
import json
import sys

import pytest

from infra import interactions as build
from shared.errors import ConfigError
from tests.conftest import APPLICATION_ID
from tests.support.apigw import make_v1_event, make_v2_event


@pytest.fixture
def lambda_handler(aws, monkeypatch):
    for name, value in {**aws.provisioned.parameters, **_env(aws)}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("functions.interactions.handler", None)
    module = importlib.import_module("functions.interactions.handler")
    yield module.lambda_handler
    sys.modules.pop("functions.interactions.handler", None)


def _env(aws):
    from infra.template import function_environment

    return function_environment(aws.provisioned, "InteractionsFunction")


def _decode(response):
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None


@pytest.mark.parametrize("make_event", [make_v1_event, make_v2_event])
@pytest.mark.parametrize("base64_body", [False, True])
def test_ping_and_hi_through_both_payload_formats(lambda_handler, signer, make_event, base64_body):
    for interaction, expected in ((build.ping(application_id=APPLICATION_ID), {"type": 1}),
                                  (build.slash("hi", application_id=APPLICATION_ID), None)):
        body = build.encode(interaction)
        response = lambda_handler(make_event(body, signer.headers(body), base64_body=base64_body), None)
        assert response["statusCode"] == 200
        payload = _decode(response)
        if expected:
            assert payload == expected
        else:
            assert payload["data"]["content"] == "HI!"


@pytest.mark.parametrize("make_event", [make_v1_event, make_v2_event])
def test_bad_signature_is_401(lambda_handler, signer, make_event):
    body = build.encode(build.ping(application_id=APPLICATION_ID))
    headers = signer.headers(body)
    headers["X-Signature-Ed25519"] = "00" * 64
    response = lambda_handler(make_event(body, headers), None)
    assert response["statusCode"] == 401


def test_feedback_through_the_lambda_handler_lands_in_dynamodb(lambda_handler, signer, aws):
    body = build.encode(build.slash("feedback", options={"text": "via lambda"}, application_id=APPLICATION_ID))
    response = lambda_handler(make_v2_event(body, signer.headers(body)), None)
    assert _decode(response)["data"]["content"] == "Thanks, your feedback is saved."
    items = aws.clients.dynamodb.scan(TableName=aws.settings.data_table)["Items"]
    assert [i["text"]["S"] for i in items] == ["via lambda"]


def test_missing_public_key_fails_at_start_up(aws, monkeypatch):
    monkeypatch.delenv("DISCORD_PUBLIC_KEY", raising=False)
    sys.modules.pop("functions.interactions.handler", None)
    with pytest.raises(ConfigError):
        importlib.import_module("functions.interactions.handler")
    sys.modules.pop("functions.interactions.handler", None)
