"""The collector is off while the handler module builds, and on again (with init's objects frozen) after the
first request, whether that request succeeds, fails, or init itself fails. Each case runs in a fresh process:
the collector's state is process-wide."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.interactions.collector import FirstRequestResumesCollector, paused_until_first_request
from infra import interactions as build
from infra.signing import InteractionSigner
from tests.support.apigw import make_v2_event

REPO = Path(__file__).resolve().parents[3]

_RUN = r"""
import gc, json, sys
event = json.loads(sys.stdin.read())
from functions.interactions.handler import lambda_handler
states = {"after_import": gc.isenabled()}
status = lambda_handler(event, None)["statusCode"]
states.update(status=status, after_first=gc.isenabled(), frozen=gc.get_freeze_count())
lambda_handler(event, None)
states["after_second"] = gc.isenabled()
print(json.dumps(states))
"""


def _run(code: str, event: dict, public_key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DISCORD_PUBLIC_KEY": public_key, "DISCORD_APPLICATION_ID": "1"}
    return subprocess.run([sys.executable, "-c", code], input=json.dumps(event), cwd=REPO, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("signed", [True, False], ids=["ping", "forged"])
def test_collector_is_off_during_init_and_on_after_the_first_request(signed):
    signer = InteractionSigner.generate()
    body = build.encode(build.ping(application_id="1"))
    headers = signer.headers(body) if signed else InteractionSigner.generate().headers(body)
    out = _run(_RUN, make_v2_event(body, headers), signer.public_key_hex)
    states = json.loads(out.stdout)
    assert states["status"] == (200 if signed else 401)
    assert states["after_import"] is False
    assert states["after_first"] is True and states["after_second"] is True
    # Flask, the signature check and the app: thousands of objects the collector no longer walks.
    assert states["frozen"] > 10_000


def test_a_failed_init_leaves_the_collector_on():
    code = ("import gc\ntry:\n    import functions.interactions.handler\nexcept Exception as exc:\n"
            "    print(type(exc).__name__, gc.isenabled())")
    out = _run(code, {}, "not-a-key")
    assert out.stdout.split() == ["ConfigError", "True"]


def test_a_request_that_raises_still_resumes_the_collector():
    def broken(_event, _context):
        raise RuntimeError("boom")

    assert gc_enabled_after(broken)


def gc_enabled_after(handler) -> bool:
    import gc

    try:
        with paused_until_first_request():
            wrapped = FirstRequestResumesCollector(handler)
        with pytest.raises(RuntimeError):
            wrapped({}, None)
        return gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
