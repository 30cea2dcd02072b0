"""Fixtures of the voice worker tests: a discord.py client with a guild built from gateway payloads (no network),
a voice client replaced at the transport, moto for SQS and DynamoDB, and recorders for replies."""

from __future__ import annotations

import warnings

# SpeechRecognition imports aifc, which Python 3.13 removed; the standard-aifc package that replaces it warns once
# at import, so the libraries are imported here before filterwarnings=error applies to tests.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="aifc was removed in Python 3.13", category=DeprecationWarning)
    import discord  # noqa: F401
    import pydub  # noqa: F401
    import speech_recognition  # noqa: F401

import asyncio
import inspect
import shutil

import boto3
import pytest
from moto import mock_aws

from shared.config import Settings

REQUIRED_TOOLS = ("ffmpeg", "espeak-ng")


@pytest.fixture(autouse=True)
def _voice_tools():
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"voice worker tests need {', '.join(missing)} on PATH (apt install them)")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def data_table(aws):
    ddb = boto3.resource("dynamodb", region_name="us-east-1")
    table = ddb.create_table(
        TableName="data", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    return table


@pytest.fixture
def voice_queue(aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="voice.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "false", "VisibilityTimeout": "30"})["QueueUrl"]
    return sqs, url


@pytest.fixture
def settings(data_table, voice_queue) -> Settings:
    _, url = voice_queue
    return Settings(data_table="data", voice_queue_url=url, aws_region="us-east-1",
                    discord_bot_token="not-a-real-token", voice_tts_engine="espeak")


@pytest.fixture
def work_dir(tmp_path):
    path = tmp_path / "clips"
    path.mkdir()
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests in a fresh event loop (no asyncio plugin is installed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), 60))
        return True
    return None
