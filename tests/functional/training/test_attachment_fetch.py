"""shared.discord.attachments details the flows do not show: its HTTP session and what its errors carry."""

from __future__ import annotations

import socket
import traceback
from typing import ClassVar

import pytest
import requests

from shared.config import Settings
from shared.discord import attachments
from shared.discord.attachment_rules import AttachmentGone, AttachmentUnavailable
from shared.discord.attachments import fetch_attachment_to_s3

SIGNED_QUERY = "ex=6789&is=1234&hm=SIGNATURE-abcdef0123"


class CountingSession(requests.Session):
    closed: ClassVar[list[requests.Session]] = []

    def close(self) -> None:
        CountingSession.closed.append(self)
        super().close()


def test_the_session_it_makes_is_closed_after_success_and_failure(stack, monkeypatch):
    CountingSession.closed = []
    monkeypatch.setattr(attachments.requests, "Session", CountingSession)
    url = stack.fake.add_cdn_file("1/2/a.jsonl", b"{}\n")
    fetch_attachment_to_s3(url, settings=stack.settings, s3_client=stack.aws.clients.s3,
                           bucket=stack.settings.bucket_name, key="guilds/1/uploads/a.jsonl")
    with pytest.raises(AttachmentGone):
        fetch_attachment_to_s3(url.replace("a.jsonl", "gone.jsonl"), settings=stack.settings,
                               s3_client=stack.aws.clients.s3, bucket=stack.settings.bucket_name,
                               key="guilds/1/uploads/b.jsonl")
    assert len(CountingSession.closed) == 2

    # A session the caller passes in stays the caller's to close.
    mine = CountingSession()
    fetch_attachment_to_s3(url, settings=stack.settings, s3_client=stack.aws.clients.s3,
                           bucket=stack.settings.bucket_name, key="guilds/1/uploads/c.jsonl", session=mine)
    assert mine not in CountingSession.closed
    mine.close()


def test_a_failed_download_does_not_carry_the_signed_url_in_its_traceback():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: the connection is refused, and requests' error text holds the URL.
    settings = Settings(attachment_hosts=(f"127.0.0.1:{port}",))
    url = f"http://127.0.0.1:{port}/attachments/1/2/a.jsonl?{SIGNED_QUERY}"
    with pytest.raises(AttachmentUnavailable) as caught:
        fetch_attachment_to_s3(url, settings=settings, s3_client=None, bucket="b", key="guilds/1/uploads/a.jsonl")
    text = "".join(traceback.format_exception(caught.value))
    assert "SIGNATURE" not in text and "hm=" not in text
    assert "ConnectionError" in str(caught.value)
    assert f"127.0.0.1:{port}/attachments/1/2/a.jsonl" in str(caught.value)  # where, without the signature
