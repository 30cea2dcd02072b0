"""The bucket's lifecycle rules (template.yaml), evaluated on keys the code really builds: uploads and /ask
recordings expire, pending reply files expire, old versions expire, and the training data stays."""

from __future__ import annotations

from infra.template import load_template
from shared.discord.attachments import upload_key
from shared.storage.keys import archive_key, export_key, pending_reply_key

RULES = load_template()["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]


def matching(key: str) -> list[dict]:
    """The enabled rules that apply to ``key``, as S3 decides it: the rule's prefix starts the key."""
    found = []
    for rule in RULES:
        prefix = rule.get("Prefix", (rule.get("Filter") or {}).get("Prefix", ""))
        if rule["Status"] == "Enabled" and key.startswith(prefix):
            found.append(rule)
    return found


def expires_after(key: str) -> int | None:
    days = [rule["ExpirationInDays"] for rule in matching(key) if "ExpirationInDays" in rule]
    return min(days) if days else None


def noncurrent_expires_after(key: str) -> int | None:
    days = [rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in matching(key)
            if "NoncurrentVersionExpiration" in rule]
    return min(days) if days else None


def test_uploads_and_recordings_expire_after_30_days():
    for key in (upload_key("200000000000000001", "1300000000000000001", "data.jsonl"),
                upload_key("200000000000000001", "1300000000000000002", "question.ogg")):
        assert expires_after(key) == 30, key
        assert noncurrent_expires_after(key) == 1, key


def test_pending_reply_files_expire_after_a_day():
    assert expires_after(pending_reply_key("200000000000000001", "1300000000000000003", 0, "report.md")) == 1
    assert expires_after(pending_reply_key(None, "1300000000000000004", 0, "report.md")) == 1


def test_training_data_stays_but_its_old_versions_go():
    for key in (archive_key("200000000000000001", "faq", 3, "20260101T000000Z"),
                export_key("200000000000000001", "corrections", "20260101T000000Z", ".jsonl")):
        assert expires_after(key) is None, key
        assert noncurrent_expires_after(key) == 30, key


def test_every_key_has_its_noncurrent_versions_expired():
    # With versioning on, an overwritten or deleted object lives on as a noncurrent version until a rule ends it.
    assert any("NoncurrentVersionExpiration" in rule and matching("anything/at/all") for rule in RULES)
