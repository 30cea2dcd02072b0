"""Fixtures of the voice worker tests: the template's data table and voice queue (moto), a clips folder, and the
voice tools the worker shells out to. The guild and the voice transport are fakes of tests/support/voice.py."""

from __future__ import annotations

import shutil

import boto3
import pytest

REQUIRED_TOOLS = ("ffmpeg", "espeak-ng")


@pytest.fixture(autouse=True)
def _voice_tools():
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"voice worker tests need {', '.join(missing)} on PATH (apt install them)")


@pytest.fixture
def data_table(aws):
    """The template's data table, as a boto3 Table."""
    return boto3.resource("dynamodb", region_name=aws.settings.aws_region).Table(aws.settings.data_table)


@pytest.fixture
def voice_queue(aws, settings):
    """The template's VoiceQueue (FIFO): the SQS client and the queue's URL."""
    return aws.clients.sqs, settings.voice_queue_url


@pytest.fixture
def work_dir(tmp_path):
    path = tmp_path / "clips"
    path.mkdir()
    return path
