"""The job store's reads that run on every keystroke or tick stay small (moto DynamoDB)."""

from __future__ import annotations

from shared.finetune.jobs import FineTuneJob
from shared.storage.finetune_jobs import FineTuneJobRecord
from tests.functional.model.conftest import BASE, GUILD


def finished(n: int, status: str = "succeeded") -> FineTuneJob:
    return FineTuneJob(provider="openai", job_id=f"ftjob-{n}", status=status, base_model=BASE,
                       fine_tuned_model=f"ft:{BASE}:org::{n}" if status == "succeeded" else None,
                       created_at=1_700_000_000 + n, finished_at=1_700_000_100 + n)


def test_model_choices_are_one_short_newest_first_query(jobs, aws):
    for n in range(8):
        record, _ = jobs.record_start(FineTuneJobRecord(guild_id=GUILD, request_id=f"{GUILD}-faq-{n:016d}",
                                                        dataset="faq", provider="openai", base_model=BASE))
        update = jobs.update_from_provider(record, finished(n, "succeeded" if n % 2 else "failed"))
        jobs.update_from_provider(update, finished(n, "succeeded" if n % 2 else "failed"))  # a repeat tick
    read: list[int] = []
    client = aws.clients.dynamodb
    def count(parsed, **_):
        read.append(parsed.get("Count", 0))

    client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        assert jobs.fine_tuned_models(GUILD, limit=2) == [f"ft:{BASE}:org::7", f"ft:{BASE}:org::5"]
        assert read == [2]  # one query, two items read: not every job record of the guild
        assert jobs.fine_tuned_models(GUILD) == [f"ft:{BASE}:org::{n}" for n in (7, 5, 3, 1)]
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", count)
