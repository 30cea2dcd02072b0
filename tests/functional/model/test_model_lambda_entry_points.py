"""The watcher's Lambda entry points from the environment; the worker loads nothing its artifact lacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from functions.watcher import handler as watcher_handler
from infra.fakes.openai_server import webhook_delivery
from shared.config import ENV
from tests.functional.model.conftest import CHANNEL
from tests.support.apigw import make_v1_event, make_v2_event


@pytest.fixture
def environment(settings, monkeypatch):
    for attr, name in ENV.items():
        value = getattr(settings, attr)
        if isinstance(value, tuple):
            value = ",".join(value)
        if value not in ("", None):
            monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(watcher_handler, "_watcher", None)
    monkeypatch.setattr(watcher_handler, "_webhook", None)
    yield
    for name in ("functions", "shared"):
        import logging

        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def test_schedule_and_webhook_handlers(environment, started, fake_openai, fake_discord, webhook_secret):
    result = watcher_handler.schedule_handler({"source": "aws.events"}, None)
    assert result["checked"] == 1 and result["statuses"] == {started.request_id: "queued"}

    fake_openai.auto_advance = False
    fake_openai.set_status(started.job_id, "running")
    fake_openai.set_status(started.job_id, "succeeded")
    body, headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
    bad = watcher_handler.webhook_handler(make_v2_event(body + b" ", headers, path="/openai/webhook"), None)
    assert bad["statusCode"] == 400
    response = watcher_handler.webhook_handler(make_v1_event(body, headers, path="/openai/webhook"), None)
    assert response["statusCode"] == 200, response
    [post] = fake_discord.channel_messages(CHANNEL)
    assert post["attachments"][0]["filename"] == "loss.png"


def test_the_worker_loads_only_what_its_requirements_ship():
    code = (
        "import sys\n"
        "import functions.worker.handler as h\n"
        "assert 'functions.worker.model_tasks' in sys.modules\n"
        "missing = [m for m in ('PIL', 'matplotlib', 'flask', 'discord', 'pydub') if m in sys.modules]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
