"""Archives, /getfile's file store and the trainer check, against moto S3 + DynamoDB."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.datasets.archives import create_archive
from shared.datasets.ingest import add_upload
from shared.discord.permissions import ADMINISTRATOR, MANAGE_GUILD, require_trainer
from shared.errors import Forbidden, InvalidInput, NotFound, NotSaved
from shared.storage import keys
from shared.storage.files import CORRECTIONS_LOG_ID, FileRecord

GUILD = "111"
OTHER = "222"


def fill(
    storage, guild: str = GUILD, dataset: str = "faq", n: int = 3, positive: bool = True, upload_id: str = "u"
):
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        )
        for i in range(n)
    ]
    add_upload(
        io.BytesIO("\n".join(lines).encode()),
        "d.jsonl",
        store=storage.datasets,
        guild_id=guild,
        dataset=dataset,
        upload_id=upload_id,
        positive=positive,
    )


def archive(storage, guild: str = GUILD, dataset: str = "faq", when: datetime | None = None) -> FileRecord:
    return create_archive(
        guild,
        dataset,
        created_by="u1",
        datasets=storage.datasets,
        files=storage.files,
        now=when or datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
    )


def test_archive_has_examples_and_manifest_with_checksums(storage):
    fill(storage, n=3)
    preference = json.dumps(
        {
            "input": {"messages": [{"role": "user", "content": "p"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        }
    )
    add_upload(
        io.BytesIO(preference.encode()),
        "p.jsonl",
        store=storage.datasets,
        guild_id=GUILD,
        dataset="faq",
        upload_id="p",
    )
    fill(storage, n=2, positive=False, upload_id="neg")
    record = archive(storage)
    assert record.file_id == "archive-faq-v1"
    assert record.key == "guilds/111/archives/faq/v1-20260501T120000Z.zip"
    body = storage.s3.get_object(Bucket=storage.bucket, Key=record.key)["Body"].read()
    assert len(body) == record.size and hashlib.sha256(body).hexdigest() == record.sha256
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert sorted(zf.namelist()) == ["examples.jsonl", "manifest.json"]
        examples = zf.read("examples.jsonl")
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["counts"] == {"examples": 6, "positive": 4, "negative": 2, "preference_pairs": 1}
    assert manifest["files"]["examples.jsonl"]["sha256"] == hashlib.sha256(examples).hexdigest()
    assert (manifest["dataset"], manifest["version"], manifest["created_by"]) == ("faq", 1, "u1")
    assert manifest["created_at"] == "2026-05-01T12:00:00Z"
    lines = [json.loads(x) for x in examples.decode().splitlines()]
    assert len(lines) == 6 and any(x.get("rejected") == "bad" for x in lines)


def test_archive_versions_are_new_objects_never_overwritten(storage):
    fill(storage)
    first = archive(storage)
    fill(storage, n=5, upload_id="more")
    second = archive(storage)
    assert (first.file_id, second.file_id) == ("archive-faq-v1", "archive-faq-v2")
    assert first.key != second.key
    assert storage.files.get(GUILD, "archive-faq-v1").sha256 == first.sha256  # v1 untouched
    # A second writer of an existing version record is refused, and so is an existing S3 key.
    with pytest.raises(NotSaved):
        storage.files.register(first)
    from shared.datasets.archives import _upload_once

    with pytest.raises(NotSaved):
        _upload_once(storage.s3, storage.bucket, first.key, io.BytesIO(b"x"), 1, "0")
    assert storage.s3.get_object(Bucket=storage.bucket, Key=first.key)["ContentLength"] == first.size


def test_empty_or_missing_dataset_is_not_archived(storage):
    storage.datasets.ensure_dataset(GUILD, "empty")
    with pytest.raises(InvalidInput, match="empty"):
        archive(storage, dataset="empty")
    with pytest.raises(NotFound):
        archive(storage, dataset="ghost")
    with pytest.raises(InvalidInput):
        archive(storage, dataset="../faq")


def test_getfile_lists_and_resolves_only_the_guilds_own_files(storage):
    fill(storage)
    fill(storage, guild=OTHER)
    mine = archive(storage)
    theirs = archive(storage, guild=OTHER)
    assert mine.file_id == theirs.file_id == "archive-faq-v1"
    listed = storage.files.list_files(GUILD)
    assert [r.file_id for r in listed] == [CORRECTIONS_LOG_ID, "archive-faq-v1"]
    assert storage.files.get(GUILD, "archive-faq-v1").key.startswith("guilds/111/")
    assert storage.files.get(OTHER, "archive-faq-v1").key.startswith("guilds/222/")
    # Only ids; the other guild's key, paths and encodings go nowhere.
    for name in (
        theirs.key,
        "../222/archives",
        "/etc/passwd",
        "%2e%2e%2f",
        "guilds/222/archives/faq",
        "a" * 80,
    ):
        with pytest.raises(InvalidInput):
            storage.files.resolve_for_getfile(GUILD, name)
    with pytest.raises(NotFound):
        storage.files.get(GUILD, "archive-faq-v9")


def test_register_refuses_keys_outside_the_guild(storage):
    record = FileRecord("x-1", GUILD, "guilds/222/archives/a.zip", "a.zip", "archive", 1)
    with pytest.raises(ValueError):
        storage.files.register(record)


def test_corrections_log_is_generated_from_the_data_table(storage):
    put = storage.dynamodb.put_item
    table = storage.table
    put(
        TableName=table,
        Item={
            "pk": {"S": keys.guild_pk(GUILD)},
            "sk": {"S": keys.correction_sk("9001")},
            "original_text": {"S": "Lyon"},
            "correction": {"S": "Paris"},
            "message_id": {"S": "55"},
            "user_id": {"S": "7"},
            "created_at": {"S": "2026-05-01T10:00:00Z"},
            "votes": {"N": "2"},
        },
    )
    put(
        TableName=table,
        Item={
            "pk": {"S": keys.guild_pk(GUILD)},
            "sk": {"S": keys.feedback_sk("9002")},
            "text": {"S": "great answer"},
            "user_id": {"S": "8"},
            "score": {"N": "0.5"},
        },
    )
    put(
        TableName=table,
        Item={
            "pk": {"S": keys.guild_pk(OTHER)},
            "sk": {"S": keys.feedback_sk("9003")},
            "text": {"S": "other guild"},
        },
    )
    record = storage.files.resolve_for_getfile(GUILD, "Corrections-Log", requested_by="u1")
    assert record.file_id == CORRECTIONS_LOG_ID and record.key.startswith("guilds/111/exports/")
    body = storage.files.open(record).read()
    assert hashlib.sha256(body).hexdigest() == record.sha256
    rows = [json.loads(x) for x in body.decode().splitlines()]
    assert rows == [
        {
            "type": "correction",
            "id": "9001",
            "original_text": "Lyon",
            "correction": "Paris",
            "message_id": "55",
            "user_id": "7",
            "created_at": "2026-05-01T10:00:00Z",
            "votes": 2,
        },
        {"type": "feedback", "id": "9002", "text": "great answer", "user_id": "8", "score": 0.5},
    ]


def test_small_files_are_attached_large_ones_get_a_presigned_link(storage):
    fill(storage)
    record = archive(storage)
    assert storage.files.delivery(record).as_link is False
    before = int(time.time())
    link = storage.files.delivery(record, max_attachment_bytes=10, expires_in=300)
    after = int(time.time())
    assert link.as_link and link.expires_in == 300
    # This client presigns with SigV2 (as boto3 does for S3 in us-east-1): Expires is the epoch second.
    expires = int(parse_qs(urlsplit(link.url).query)["Expires"][0])
    assert before + 300 <= expires <= after + 300
    assert record.key.split("/")[-1] in link.url


def member(permissions: int, roles: list[str] | None = None) -> dict:
    return {"permissions": str(permissions), "roles": roles or [], "user": {"id": "7"}}


@pytest.mark.parametrize("bits", [MANAGE_GUILD, ADMINISTRATOR, MANAGE_GUILD | 1 << 10])
def test_manage_server_or_admin_may_train(bits):
    assert require_trainer({"guild_id": GUILD, "member": member(bits)}) == GUILD


def test_trainer_role_may_train():
    interaction = {"guild_id": GUILD, "member": member(1 << 10, roles=["555"])}
    assert require_trainer(interaction, trainer_role_id="555") == GUILD
    with pytest.raises(Forbidden, match="trainer role"):
        require_trainer(interaction, trainer_role_id="556")


def test_member_without_permission_is_refused():
    with pytest.raises(Forbidden) as err:
        require_trainer({"guild_id": GUILD, "member": member(1 << 10 | 1 << 11)})
    assert "Manage Server" in err.value.user_message


def test_direct_messages_are_refused():
    with pytest.raises(Forbidden, match="only in a server"):
        require_trainer({"user": {"id": "7"}})


def test_trainer_role_from_guild_settings(storage):
    storage.datasets.set_trainer_role(GUILD, "555")
    role = storage.datasets.guild_settings(GUILD).trainer_role_id
    assert require_trainer({"guild_id": GUILD, "member": member(0, ["555"])}, trainer_role_id=role) == GUILD


def test_corrections_log_exports_overwrite_one_object(storage):
    first = storage.files.resolve_for_getfile(GUILD, CORRECTIONS_LOG_ID)
    time.sleep(1.05)  # a later second: a timestamped key would differ
    second = storage.files.resolve_for_getfile(GUILD, CORRECTIONS_LOG_ID)
    assert first.key == second.key
    listed = storage.s3.list_objects_v2(Bucket=storage.bucket, Prefix=keys.bucket_prefix(GUILD) + "exports/")
    assert [o["Key"] for o in listed["Contents"]] == [second.key]
