"""The SnapStart hook of the interactions function: what it prepares, and that it needs no network."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import snapshot_restore_py
from apig_wsgi import make_lambda_handler

from functions.interactions.app import create_app
from functions.interactions.snapstart import register_hooks
from infra import interactions as build
from infra.signing import InteractionSigner
from shared.config import Settings
from shared.storage.stores import Stores
from tests.support.apigw import make_v2_event

REPO = Path(__file__).resolve().parents[3]
APP = "100000000000000001"


@pytest.fixture
def registry():
    before = list(snapshot_restore_py._before_snapshot_registry)
    yield snapshot_restore_py._before_snapshot_registry
    snapshot_restore_py._before_snapshot_registry[:] = before


def test_the_hook_builds_clients_stores_and_a_warm_app_without_the_network(registry, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "x")
    signer = InteractionSigner.generate()
    # Port 9 (discard) on loopback: any request made before the snapshot would fail the hook.
    settings = Settings(discord_public_key=signer.public_key_hex, discord_application_id=APP,
                        aws_endpoint_url="http://127.0.0.1:9", aws_region="us-east-1", data_table="t",
                        bucket_name="b")
    stores = Stores(settings)
    handler = make_lambda_handler(create_app(settings, stores=stores), binary_support=True)
    assert register_hooks(stores, handler)
    assert "table" not in vars(stores)  # nothing built at import: PING's cold start stays light

    for entry in registry[len(registry) - 1:]:  # as the runtime does before it takes the snapshot
        func, args, kwargs = entry
        func(*args, **kwargs)
    built = vars(stores)
    assert {"table", "feedback", "exchanges", "instructions", "datasets", "files"} <= set(built)
    assert {"dynamodb", "s3", "sqs"} <= set(stores.aws._clients)

    body = build.encode(build.ping(application_id=APP))
    response = handler(make_v2_event(body, signer.headers(body)), None)
    assert json.loads(response["body"]) == {"type": 1}


def test_the_handler_registers_the_hook_and_stays_light_at_import():
    env = {**os.environ, "DISCORD_PUBLIC_KEY": InteractionSigner.generate().public_key_hex}
    code = ("import json, sys, snapshot_restore_py; import functions.interactions.handler; "
            "print(json.dumps([len(snapshot_restore_py._before_snapshot_registry), 'boto3' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [1, False]
