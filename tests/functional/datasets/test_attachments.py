"""Downloads from a local CDN on 127.0.0.1 into S3 (moto), through the real requests client."""

from __future__ import annotations

import hashlib
import os

import pytest

from shared.discord.attachment_rules import (
    AttachmentGone,
    AttachmentHostNotAllowed,
    AttachmentRedirected,
    AttachmentTooLarge,
    check_attachment_url,
)
from shared.discord.attachments import PART_SIZE, fetch_attachment_to_s3, upload_key
from shared.errors import InvalidInput


def fetch(storage, url: str, key: str = "guilds/1/uploads/a.jsonl", max_bytes: int = 1024 * 1024):
    return fetch_attachment_to_s3(
        url, settings=storage.settings, s3_client=storage.s3, bucket=storage.bucket, key=key, max_bytes=max_bytes
    )


def test_small_file_lands_in_s3_with_size_and_sha256(storage, cdn):
    body = b'{"messages": []}\n' * 100
    stored = fetch(storage, cdn.file("/attachments/1/2/a.jsonl", body))
    assert stored.size == len(body)
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert storage.s3.get_object(Bucket=storage.bucket, Key=stored.key)["Body"].read() == body


def test_large_file_uses_multipart_upload(storage, cdn):
    body = os.urandom(PART_SIZE * 2 + 12345)
    stored = fetch(storage, cdn.file("/big.bin", body, chunked=True), max_bytes=len(body))
    head = storage.s3.head_object(Bucket=storage.bucket, Key=stored.key)
    assert head["ContentLength"] == len(body)
    assert head["ETag"].endswith('-3"')  # three parts
    assert stored.sha256 == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/attachments/a.jsonl",
        "https://cdn.discordapp.com.evil.example/a.jsonl",
        "https://user@cdn.discordapp.com/a.jsonl",
        "http://cdn.discordapp.com/attachments/a.jsonl",  # plain http to a public host
        "ftp://cdn.discordapp.com/a.jsonl",
        "https://cdn.discordapp.com:8443/a.jsonl",
        "file:///etc/passwd",
        "http://127.0.0.2/a.jsonl",  # loopback but not listed
        "https://[::1]/a.jsonl",
    ],
)
def test_urls_off_the_allow_list_are_refused_before_any_request(storage, cdn, url):
    with pytest.raises(AttachmentHostNotAllowed) as err:
        fetch(storage, url)
    assert "Discord's CDN" in err.value.user_message
    assert cdn.hits == []


def test_discord_cdn_url_passes_the_check(settings):
    url = "https://cdn.discordapp.com/attachments/1/2/data.jsonl?ex=1&is=2&hm=3"
    assert check_attachment_url(url, settings) == url


def test_redirect_is_refused_not_followed(storage, cdn):
    target = cdn.file("/elsewhere", b"secret")
    url = cdn.redirect("/attachments/r.jsonl", target)
    with pytest.raises(AttachmentRedirected) as err:
        fetch(storage, url)
    assert "redirect" in err.value.user_message
    assert cdn.hits == ["/attachments/r.jsonl"]
    assert "Contents" not in storage.s3.list_objects_v2(Bucket=storage.bucket)


def test_oversize_with_honest_content_length_is_refused_early(storage, cdn):
    with pytest.raises(AttachmentTooLarge) as err:
        fetch(storage, cdn.file("/big", b"x" * 2048), max_bytes=1024)
    assert err.value.user_message == "That file is larger than 1024 bytes."


def test_oversize_with_lying_content_length_is_cut_while_streaming(storage, cdn):
    body = b"x" * (3 * 1024 * 1024)
    url = cdn.file("/liar", body, chunked=True)  # no Content-Length at all
    with pytest.raises(AttachmentTooLarge) as err:
        fetch(storage, url, max_bytes=1024 * 1024)
    assert err.value.user_message == "That file is larger than 1 MB."
    assert "Contents" not in storage.s3.list_objects_v2(Bucket=storage.bucket)


def test_oversize_multipart_is_aborted(storage, cdn):
    body = b"y" * (PART_SIZE + PART_SIZE // 2)
    url = cdn.file("/liar2", body, chunked=True)
    with pytest.raises(AttachmentTooLarge):
        fetch(storage, url, max_bytes=PART_SIZE + 1024)
    assert storage.s3.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []
    assert "Contents" not in storage.s3.list_objects_v2(Bucket=storage.bucket)


def test_expired_link_gets_a_clear_message(storage, cdn):
    with pytest.raises(AttachmentGone) as err:
        fetch(storage, cdn.url("/missing"))
    assert isinstance(err.value, InvalidInput)
    assert "upload it again" in err.value.user_message


def test_upload_key_is_server_generated():
    assert upload_key("42", "999", "../../etc/passwd") == "guilds/42/uploads/999"
    assert upload_key("42", "999", "My Data.JSONL") == "guilds/42/uploads/999.jsonl"
