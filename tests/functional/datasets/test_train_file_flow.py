"""The worker's /train file path: CDN → S3 (attachments) → S3 Body → checks → DynamoDB (ingest)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from shared.datasets import DatasetFileRejected
from shared.datasets.ingest import add_upload
from shared.discord.attachments import fetch_attachment_to_s3, upload_key

GUILD = "111"


def line(q: str, a: str) -> bytes:
    return json.dumps(
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
    ).encode()


def train_from_cdn(storage, cdn, filename: str, body: bytes, upload_id: str):
    url = cdn.file(f"/attachments/1/2/{filename}", body)
    key = upload_key(GUILD, upload_id, filename)
    fetch_attachment_to_s3(
        url, settings=storage.settings, s3_client=storage.s3, bucket=storage.bucket, key=key, max_bytes=10**6
    )
    stream = storage.s3.get_object(Bucket=storage.bucket, Key=key)["Body"]  # botocore StreamingBody: not seekable
    return add_upload(
        stream,
        filename,
        store=storage.datasets,
        guild_id=GUILD,
        dataset="faq",
        upload_id=upload_id,
        added_by="u1",
    )


def test_jsonl_and_zip_attachments_flow_into_the_dataset(storage, cdn):
    report = train_from_cdn(
        storage, cdn, "data.jsonl", b"\n".join([line("a", "1"), b"{bad", line("b", "2")]), "i1"
    )
    assert (report.added, report.rejected) == (2, 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("more.jsonl", b"\n".join([line("b", "2"), line("c", "3")]))
        zf.writestr("sheet.csv", b"prompt,completion\nd,4\n")
    report = train_from_cdn(storage, cdn, "pack.zip", buf.getvalue(), "i2")
    assert (report.added, report.duplicates_existing, report.dataset_size) == (2, 1, 4)
    stored = {e.answer: e for e in storage.datasets.iter_examples(GUILD, "faq")}
    assert set(stored) == {"1", "2", "3", "4"}
    assert stored["4"].origin == "sheet.csv:2" and stored["4"].added_by == "u1"


def test_zip_bomb_attachment_adds_nothing(storage, cdn):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.jsonl", b" " * (30 * 1024 * 1024))
    with pytest.raises(DatasetFileRejected, match="zip bomb"):
        train_from_cdn(storage, cdn, "bomb.zip", buf.getvalue(), "i3")
    assert storage.datasets.get_dataset(GUILD, "faq") is None  # a refused file creates nothing


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("bad_member", "body", "reason"),
    [
        ("later.csv", b"question,answer\nq,a\n", "missing: prompt, completion"),
        ("later.json", b'[{"messages": []}]\n', "one JSON object per line"),
    ],
)
def test_zip_with_a_refused_member_saves_nothing(storage, cdn, bad_member, body, reason):
    # More good lines than one write batch come first: nothing of them may be stored when the zip is refused.
    good = b"\n".join(line(f"q{i}", f"a{i}") for i in range(250))
    data = zip_of({"first.jsonl": good, bad_member: body})
    with pytest.raises(DatasetFileRejected, match=reason):
        train_from_cdn(storage, cdn, "pack.zip", data, "i4")
    assert storage.datasets.get_dataset(GUILD, "faq") is None
    assert list(storage.datasets.iter_examples(GUILD, "faq")) == []


def test_file_over_the_cap_midway_keeps_what_was_read_and_says_where_it_stopped(storage):
    from shared.datasets import DatasetLimits

    good = [line(f"q{i}", f"a{i}") for i in range(250)]
    body = b"\n".join(good) + b"\n" + b"\n".join(line("x" * 300, str(i)) for i in range(40)) + b"\n"
    limits = DatasetLimits(max_line_bytes=200, max_file_bytes=len(b"\n".join(good)) + 2000)
    report = add_upload(
        io.BytesIO(body), "big.jsonl", store=storage.datasets, guild_id=GUILD, dataset="faq", upload_id="i5",
        limits=limits,
    )
    assert report.added == 250 and report.dataset_size == 250
    assert report.stopped_at.startswith("line 2")  # the line where the cap was passed, not earlier
    summary = report.summary()
    assert f"Stopped at {report.stopped_at}: That file is too large. Added 250 before that;" in summary
