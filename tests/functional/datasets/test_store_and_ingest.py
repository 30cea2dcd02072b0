"""DatasetStore and ingest against DynamoDB in moto, through the real boto3 client."""

from __future__ import annotations

import io
import json

import pytest

from shared.datasets.ingest import add_text, add_upload
from shared.domain.examples import ChatMessage, Example
from shared.errors import InvalidInput, NotFound
from shared.storage import keys
from shared.storage.datasets import NAME_RULE, InvalidName, validate_dataset_name

GUILD = "111"


def chat_line(q: str, a: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})


def upload(storage, lines: list[str], upload_id: str = "i1", dataset: str = "faq", **kwargs):
    data = ("\n".join(lines) + "\n").encode()
    return add_upload(
        io.BytesIO(data),
        "data.jsonl",
        store=storage.datasets,
        guild_id=GUILD,
        dataset=dataset,
        upload_id=upload_id,
        **kwargs,
    )


_NOT_A_PATH = "Dataset names are plain names, not paths or URLs. " + NAME_RULE


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("../x", _NOT_A_PATH),
        ("/etc/passwd", _NOT_A_PATH),
        ("a/b", _NOT_A_PATH),
        ("..%2Fx", _NOT_A_PATH),
        ("%2e%2e", _NOT_A_PATH),
        ("a\\b", _NOT_A_PATH),
        ("C:data", _NOT_A_PATH),
        ("~root", _NOT_A_PATH),
        ("", "Give the dataset a name. " + NAME_RULE),
        ("x" * 33, NAME_RULE),
        ("has space", NAME_RULE),
        ("ünï", NAME_RULE),
    ],
)
def test_path_like_and_bad_dataset_names_are_refused(raw, message):
    with pytest.raises(InvalidName) as err:
        validate_dataset_name(raw)
    assert err.value.user_message == message


def test_names_are_canonical():
    assert validate_dataset_name("  Support-FAQ_2 ") == "support-faq_2"


def test_path_like_names_write_nothing(storage):
    for raw in ("../other", "%2e%2e%2fother", "/abs"):
        with pytest.raises(InvalidInput):
            upload(storage, [chat_line("q", "a")], dataset=raw)
    assert storage.dynamodb.scan(TableName=storage.table)["Count"] == 0


def test_upload_adds_counts_and_reports_rejections(storage):
    report = upload(storage, [chat_line("q1", "a1"), "{oops", chat_line("q2", "a2"), chat_line("q1", "a1")])
    assert (report.added, report.rejected, report.duplicates_in_file) == (2, 1, 1)
    assert report.reasons[0].line == 2
    assert report.dataset_size == 2 and report.positive_count == 2
    text = report.summary()
    assert "added 2 examples" in text and "line 2" in text and "1 repeated in the upload" in text


def test_duplicates_across_uploads_are_skipped_and_counted(storage):
    upload(storage, [chat_line("q1", "a1"), chat_line("q2", "a2")], upload_id="i1")
    report = upload(storage, [chat_line("q2", "a2"), chat_line("q3", "a3")], upload_id="i2")
    assert (report.added, report.duplicates_existing) == (1, 1)
    assert "1 already in the dataset" in report.summary()
    # The same chat marked negative is a different example (behaviour to avoid), so it is added.
    report = upload(storage, [chat_line("q2", "a2")], upload_id="i3", positive=False)
    assert report.added == 1
    info = storage.datasets.require_dataset(GUILD, "faq")
    assert (info.example_count, info.positive_count, info.negative_count) == (4, 3, 1)


def test_redelivered_upload_counts_its_own_writes_as_added_not_twice(storage):
    lines = [chat_line(f"q{i}", "a") for i in range(5)]
    first = upload(storage, lines, upload_id="same")
    again = upload(storage, lines, upload_id="same")
    assert first.added == again.added == 5 and again.duplicates_existing == 0
    assert storage.datasets.require_dataset(GUILD, "faq").example_count == 5


@pytest.mark.parametrize(
    ("racer", "added", "duplicates"),
    [
        ("other", 1, 1),  # another upload stored it first: a duplicate
        ("mine", 2, 0),  # an earlier delivery of this same upload stored it: counted as added, once
    ],
)
def test_racing_writer_is_caught_by_the_condition(storage, monkeypatch, racer, added, duplicates):
    storage.datasets.ensure_dataset(GUILD, "faq")
    ex = Example(messages=(ChatMessage("user", "q"), ChatMessage("assistant", "a")))
    other = Example(messages=(ChatMessage("user", "z"), ChatMessage("assistant", "a")))
    storage.datasets.add_examples(GUILD, "faq", [ex], upload_id=racer)
    # The racer writes between our look-up and our transaction: only that first look-up misses it; the
    # look-up of the owners after the failed transaction is the real one.
    real = storage.datasets._existing
    calls: list[list[str]] = []

    def first_lookup_misses(pk: str, fingerprints: list[str]) -> dict[str, str]:
        calls.append(fingerprints)
        return {} if len(calls) == 1 else real(pk, fingerprints)

    monkeypatch.setattr(storage.datasets, "_existing", first_lookup_misses)
    result = storage.datasets.add_examples(GUILD, "faq", [ex, other], upload_id="mine")
    assert len(calls) == 2
    assert (result.added, result.duplicates_existing) == (added, duplicates)
    assert storage.datasets.require_dataset(GUILD, "faq").example_count == 2


def test_many_examples_paginate_and_round_trip(storage):
    lines = [chat_line(f"question {i}", f"answer {i}") for i in range(250)]
    report = upload(storage, lines)
    assert report.added == 250
    got = list(storage.datasets.iter_examples(GUILD, "faq", page_size=40))
    assert len(got) == 250
    assert {e.answer for e in got} == {f"answer {i}" for i in range(250)}


def test_text_example_and_its_error(storage):
    report = add_text("Q: hi A: hello", store=storage.datasets, guild_id=GUILD, dataset="faq", upload_id="t1")
    assert report.added == 1 and report.dataset_size == 1
    with pytest.raises(InvalidInput) as err:
        add_text("hello there", store=storage.datasets, guild_id=GUILD, dataset="faq", upload_id="t2")
    assert "Q: your question A: the answer" in err.value.user_message


def test_select_dataset_and_autocomplete(storage):
    assert storage.datasets.guild_settings(GUILD).selected_dataset == "default"
    for name in ("alpha", "alps", "beta"):
        storage.datasets.ensure_dataset(GUILD, name)
    storage.datasets.ensure_dataset("222", "alpine")  # another guild's
    chosen = storage.datasets.select_dataset(GUILD, "Alps", positive=False)
    assert (chosen.selected_dataset, chosen.default_positive) == ("alps", False)
    assert [d.name for d in storage.datasets.list_datasets(GUILD, "al")] == ["alpha", "alps"]
    assert storage.datasets.list_datasets(GUILD, "../") == []
    assert len(storage.datasets.list_datasets(GUILD)) == 3
    # Selecting again without positive keeps the flag.
    assert storage.datasets.select_dataset(GUILD, "beta").default_positive is False


def test_autocomplete_caps_at_25(storage):
    for i in range(30):
        storage.datasets.ensure_dataset(GUILD, f"d{i:02d}")
    assert len(storage.datasets.list_datasets(GUILD)) == 25


def test_unknown_dataset_is_not_found(storage):
    with pytest.raises(NotFound):
        storage.datasets.require_dataset(GUILD, "nope")


def record_transactions(storage) -> list[list[dict]]:
    """The TransactItems of every TransactWriteItems call the store makes (a botocore event hook)."""
    seen: list[list[dict]] = []

    def hook(params: dict, **_: object) -> None:
        seen.append(params["TransactItems"])

    storage.dynamodb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", hook)
    return seen


def test_upload_batches_fill_whole_transactions(storage):
    from shared.storage.datasets import MAX_EXAMPLES_PER_TRANSACTION

    transactions = record_transactions(storage)
    n = 2 * MAX_EXAMPLES_PER_TRANSACTION
    report = upload(storage, [chat_line(f"q{i}", "a") for i in range(n)])
    assert report.added == n
    # Each write batch is one transaction of examples plus the counter update; no 1-example stragglers.
    assert [len(t) for t in transactions] == [MAX_EXAMPLES_PER_TRANSACTION + 1] * 2


def test_transaction_size_counts_bytes_not_characters(storage):
    from shared.storage.datasets import TRANSACTION_BYTES

    storage.datasets.ensure_dataset(GUILD, "faq")
    transactions = record_transactions(storage)
    # 100k characters of 3 UTF-8 bytes each: ~300 KB an item, well over the cap if characters were counted.
    examples = [
        Example(messages=(ChatMessage("user", f"q{i}"), ChatMessage("assistant", "€" * 100_000)))
        for i in range(25)
    ]
    assert storage.datasets.add_examples(GUILD, "faq", examples, upload_id="big").added == 25
    sizes = [
        sum(len(a["Put"]["Item"]["data"]["S"].encode()) for a in t if "Put" in a) for t in transactions
    ]
    assert len(sizes) > 2 and max(sizes) <= TRANSACTION_BYTES


def test_a_poison_upload_stores_the_good_lines_and_reports_each_bad_one(storage):
    good = [chat_line(f"question {n}", f"answer {n}") for n in range(3)]
    lone_surrogate = '{"messages": [{"role": "user", "content": "hi \\ud83d"}, {"role": "assistant", "content": "ok"}]}'
    huge_number = '{"messages": [{"role": "user", "content": "n"}, {"role": "assistant", "content": "x"}], "n": ' + (
        "9" * 5000) + "}"
    lines = [good[0], lone_surrogate, good[1], huge_number, good[2]]
    report = upload(storage, lines)
    assert report.added == 3 and report.rejected == 2
    reasons = {r.line: r.reason for r in report.reasons}
    assert "surrogate" in reasons[2] and "too many digits" in reasons[4]
    assert report.dataset_size == 3


def test_a_csv_row_too_big_to_store_is_rejected_alone(storage):
    # Control characters pass every text check but become 6-byte escapes in the stored JSON.
    big = "\x01" * 100_000
    rows = ["prompt,completion", "hello,world", f'"{big}",answer', "bye,now"]
    report = add_upload(io.BytesIO(("\n".join(rows) + "\n").encode()), "data.csv", store=storage.datasets,
                        guild_id=GUILD, dataset="faq", upload_id="i2")
    assert report.added == 2 and report.rejected == 1
    (reason,) = report.reasons
    assert reason.line == 3 and "once stored" in reason.reason


def test_deleting_a_large_dataset_reads_its_keys_a_page_at_a_time(storage):
    upload(storage, [chat_line(f"question {i}", f"answer {i}") for i in range(60)])
    # 2,000 more stored directly: the point is the delete's reads, not the upload's transactions.
    pk = keys.examples_pk(GUILD, "faq")
    for start in range(0, 2000, 25):
        storage.dynamodb.batch_write_item(RequestItems={storage.settings.data_table: [
            {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": keys.example_sk(f"bulk{i:05d}")},
                                     "data": {"S": "{}"}}}} for i in range(start, start + 25)]})
    queries = []
    storage.dynamodb.meta.events.register("before-call.dynamodb.Query", lambda **_: queries.append(1))
    progress = []
    try:
        deleted = storage.datasets.delete_dataset(GUILD, "faq", progress=lambda step, n: progress.append(n))
    finally:
        storage.dynamodb.meta.events.unregister("before-call.dynamodb.Query")
    assert deleted == 2060 and progress[-1] == 2060
    remaining = storage.dynamodb.query(TableName=storage.settings.data_table, KeyConditionExpression="pk = :pk",
                                       ExpressionAttributeValues={":pk": {"S": pk}}, Select="COUNT")["Count"]
    assert remaining == 0
    # Three pages of keys and one last look from the start, not one query per 25 examples (83).
    assert len(queries) <= 5
