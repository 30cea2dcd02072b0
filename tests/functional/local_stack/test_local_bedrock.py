"""`make run` starts the Bedrock fake only for what the environment leaves unset."""

from __future__ import annotations

from infra.local_stack import LOCAL_BEDROCK_ROLE_ARN, LocalStack, start_fake_bedrock
from infra.template import Provisioned
from shared.config import Settings


def stack() -> LocalStack:
    return LocalStack(Settings(), Provisioned(refs={"IdempotencyTable": "idempotency"}), "http://127.0.0.1:1", None,
                      {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_DEFAULT_REGION": "us-east-1"})


def test_no_settings_start_the_fake_and_a_local_role():
    local = stack()
    fake = start_fake_bedrock(local, {})
    try:
        assert fake is not None
        assert local.settings.endpoint_url_for("bedrock") == fake.url
        assert local.settings.endpoint_url_for("bedrock-runtime") == fake.url
        assert local.settings.endpoint_url_for("s3") == "http://127.0.0.1:1"
        assert local.settings.bedrock_role_arn == LOCAL_BEDROCK_ROLE_ARN
    finally:
        fake.stop()


def test_settings_in_the_environment_are_used_and_no_fake_starts():
    local = stack()
    environ = {"AWS_ENDPOINT_URL_BEDROCK": "https://bedrock.us-east-1.amazonaws.com",
               "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "https://bedrock-runtime.us-east-1.amazonaws.com",
               "BEDROCK_ROLE_ARN": "arn:aws:iam::111122223333:role/mine"}
    local.base_environment.update(environ)
    assert start_fake_bedrock(local, environ) is None
    assert local.settings.endpoint_url_for("bedrock-runtime") == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert local.settings.bedrock_role_arn == "arn:aws:iam::111122223333:role/mine"
