"""The worker's /train file path: CDN → S3 (attachments) → S3 Body → checks → DynamoDB (ingest)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from shared.attachments import fetch_attachment_to_s3, upload_key
from shared.datasets import DatasetFileRejected
from shared.datasets.ingest import add_upload
from tests.datasets.conftest import BUCKET

GUILD = "111"


def line(q: str, a: str) -> bytes:
    return json.dumps(
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    ).encode()


def train_from_cdn(aws, cdn, filename: str, body: bytes, upload_id: str):
    url = cdn.file(f"/attachments/1/2/{filename}", body)
    key = upload_key(GUILD, upload_id, filename)
    fetch_attachment_to_s3(
        url, settings=aws.settings, s3_client=aws.s3, bucket=BUCKET, key=key, max_bytes=10**6
    )
    stream = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"]  # botocore StreamingBody: not seekable
    return add_upload(
        stream,
        filename,
        store=aws.datasets,
        guild_id=GUILD,
        dataset="faq",
        upload_id=upload_id,
        added_by="u1",
    )


def test_jsonl_and_zip_attachments_flow_into_the_dataset(aws, cdn):
    report = train_from_cdn(
        aws, cdn, "data.jsonl", b"\n".join([line("a", "1"), b"{bad", line("b", "2")]), "i1"
    )
    assert (report.added, report.rejected) == (2, 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("more.jsonl", b"\n".join([line("b", "2"), line("c", "3")]))
        zf.writestr("sheet.csv", b"prompt,completion\nd,4\n")
    report = train_from_cdn(aws, cdn, "pack.zip", buf.getvalue(), "i2")
    assert (report.added, report.duplicates_existing, report.dataset_size) == (2, 1, 4)
    stored = {e.answer: e for e in aws.datasets.iter_examples(GUILD, "faq")}
    assert set(stored) == {"1", "2", "3", "4"}
    assert stored["4"].origin == "sheet.csv:2" and stored["4"].added_by == "u1"


def test_zip_bomb_attachment_adds_nothing(aws, cdn):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.jsonl", b" " * (30 * 1024 * 1024))
    with pytest.raises(DatasetFileRejected, match="zip bomb"):
        train_from_cdn(aws, cdn, "bomb.zip", buf.getvalue(), "i3")
    info = aws.datasets.get_dataset(GUILD, "faq")
    assert info is not None and info.example_count == 0
