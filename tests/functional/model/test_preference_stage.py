"""Approved pairs as a preference stage: supervised first, then DPO on the model it made.

Through the real clients: signed interactions → the app → the jobs queue (moto SQS) → the worker → FakeOpenAI;
the watcher (schedule ticks and webhook events) chains stage 2 and posts to FakeDiscord.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from functions.watcher import watch
from functions.worker import model_tasks
from infra import interactions as build
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.finetune.exports import _pair_chat, build_training_set
from shared.finetune.planning import plan_job
from shared.finetune.tokens import count_messages
from shared.finetune.training_data import training_examples
from shared.finetune.webhooks import WebhookEvent
from shared.storage import keys
from shared.storage.datasets import DatasetStore
from tests.functional.model.conftest import CHANNEL, GUILD, TRAINER, A, send
from tests.support.examples import chat

MIN_PAIRS = 10  # OpenAI's minimum, from the catalog


def run_one(runner) -> None:
    assert runner.poll_once() == {"received": 1, "failed": 0}


def add_pairs(aws, settings, n: int, *, start: int = 0) -> None:
    """``n`` approved corrections in the dataset: the corrected answer preferred, the bot's own rejected."""
    store = DatasetStore(settings, dynamodb_client=aws.clients.dynamodb)
    store.add_examples(GUILD, "faq", [chat(f"Who wrote book {i}?", f"Author {i} wrote it.",
                                           rejected=f"Nobody knows who wrote book {i}.", source="correction")
                                      for i in range(start, start + n)], upload_id=f"review-{start}")


def estimate(client, runner, fake_discord) -> dict:
    button = send(client, build.component("ft:start:faq", message=build.bot_message(content="report", **A),
                                          **TRAINER, **A))
    run_one(runner)
    return fake_discord.original(button.token)


def press_start(client, runner, fake_discord, shown: dict) -> str:
    [start] = shown["components"][0]["components"]
    pressed = send(client, build.component(start["custom_id"], message=shown, **TRAINER, **A))
    run_one(runner)
    return fake_discord.original(pressed.token)["content"]


def request_id(shown: dict) -> str:
    digest = shown["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    return model_tasks.start_request_id(GUILD, "faq", digest)


def sent_lines(aws, settings, digest: str, part: str) -> list[dict]:
    key = keys.export_key(GUILD, f"finetune-faq-{digest}", part, ".jsonl")
    body = aws.clients.s3.get_object(Bucket=settings.bucket_name, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def dpo_jobs(fake_openai) -> list[dict]:
    return [j.data for j in fake_openai.jobs.values() if j.data["method"]["type"] == "dpo"]


def progress_posts(fake_discord) -> list[dict]:
    return [m for m in fake_discord.channel_messages(CHANNEL) if "Stage 1 of 2 (supervised) finished" in m["content"]]


@pytest.fixture
def two_stage(client, runner, watcher, jobs, fake_openai, fake_discord, aws, settings, dataset):
    """A started two-stage job (12 examples, 10 approved pairs) whose stage 1 is running."""
    add_pairs(aws, settings, MIN_PAIRS)
    shown = estimate(client, runner, fake_discord)
    assert press_start(client, runner, fake_discord, shown).startswith("🚀 Fine-tuning job `ftjob-")
    record = jobs.get(GUILD, request_id(shown))
    assert [watcher.tick().statuses[record.request_id] for _ in range(2)] == ["queued", "running"]
    return shown, record


def test_pairs_below_the_minimum_train_in_one_stage_and_at_it_in_two(client, runner, jobs, fake_openai,
                                                                       fake_discord, aws, settings, dataset):
    add_pairs(aws, settings, MIN_PAIRS - 1)
    shown = estimate(client, runner, fake_discord)
    content = shown["content"]
    assert content.startswith("Dataset **faq**: 21 examples, 9 preference pairs")
    assert "Stages: supervised only, on all 21 examples (9 of them the corrected answers of preference pairs)." \
        in content
    assert "No preference stage: 9 pairs, and openai needs at least 10 for a preference stage" in content
    assert "Stage 2" not in content
    press_start(client, runner, fake_discord, shown)
    [job] = fake_openai.jobs.values()
    assert job.data["method"]["type"] == "supervised" and len(fake_openai.files) == 2  # train and validation
    assert jobs.get(GUILD, request_id(shown)).stages == 1

    # The tenth approved pair makes a preference stage: two stages, each priced, one Start for both.
    add_pairs(aws, settings, 1, start=MIN_PAIRS - 1)
    shown = estimate(client, runner, fake_discord)
    content = shown["content"]
    assert content.startswith("Dataset **faq**: 22 examples, 10 preference pairs")
    assert ("Stages: 1) supervised, on all 22 examples (10 of them the corrected answers of preference pairs); "
            "then 2) preference (DPO), on the model stage 1 makes, with 10 pairs: `gpt-4.1-mini-2025-04-14` takes "
            "preference training and 10 pairs reach openai's minimum of 10.") in content
    assert "**Stage 1 of 2 (supervised)** **Estimate for gpt-4.1-mini-2025-04-14** (openai, supervised)" in content
    assert "**Stage 2 of 2 (preference, 10 pairs; both answers of each pair count as training tokens)** " \
           "**Estimate for gpt-4.1-mini-2025-04-14** (openai, dpo)" in content
    assert "No preference stage" not in content and "not part of a DPO job" not in content
    plan = plan_job(training_examples(DatasetStore(settings, dynamodb_client=aws.clients.dynamodb), GUILD, "faq"),
                    settings)
    assert plan.stages == 2 and plan.digest in shown["components"][0]["components"][0]["custom_id"]
    total = plan.estimate.cost_usd + plan.preference_estimate.cost_usd
    assert f"Both stages together ≈ **${total:.2f}**." in content
    assert shown["components"][0]["components"][0]["label"] == f"Start (≈ ${total:.2f})"
    # The DPO stage is billed for both answers of each pair.
    pairs = build_training_set(training_examples(DatasetStore(settings, dynamodb_client=aws.clients.dynamodb),
                                                 GUILD, "faq")).preference
    assert plan.preference_estimate.billing_tokens_per_epoch == sum(count_messages(_pair_chat(p)) for p in pairs)

    files_before = set(fake_openai.files)
    started = press_start(client, runner, fake_discord, shown)
    assert "This is stage 1 of 2; when it finishes, stage 2 (preference, 10 pairs) starts" in started
    record = jobs.get(GUILD, request_id(shown))
    assert (record.stages, record.preference_pairs, record.snapshot) == (2, 10, plan.digest)
    # Both stages' files went up at Start; only stage 1's job was created.
    stem = f"{GUILD}-faq-{record.request_id}"
    assert sorted(fake_openai.files[f]["filename"] for f in set(fake_openai.files) - files_before) == [
        f"{stem}-dpo-train.jsonl", f"{stem}-train.jsonl", f"{stem}-valid.jsonl"]
    assert record.preference_file and not record.preference_validation_file  # 10 pairs: all of them train
    stage1 = fake_openai.jobs[record.job_id].data
    assert stage1["method"]["type"] == "supervised" and stage1["model"] == settings.base_model
    assert len(dpo_jobs(fake_openai)) == 0
    preference = sent_lines(aws, settings, record.snapshot, "preference")
    assert fake_openai.file_content[record.preference_file] == b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for line in preference)
    assert len(preference) == 10 and all(set(line) == {"input", "preferred_output", "non_preferred_output"}
                                         for line in preference)
    assert {"input": {"messages": [{"role": "user", "content": "Who wrote book 3?"}]},
            "preferred_output": [{"role": "assistant", "content": "Author 3 wrote it."}],
            "non_preferred_output": [{"role": "assistant", "content": "Nobody knows who wrote book 3."}]} in preference
    # Stage 1 trains the curated examples and the corrected answers.
    supervised = sent_lines(aws, settings, record.snapshot, "train") + sent_lines(aws, settings, record.snapshot,
                                                                                  "validation")
    # /getfile lists every file sent, the preference one included.
    listed = send(client, build.autocomplete("getfile", focused="name", value="sent", **TRAINER, **A)).reply
    short = record.snapshot[:12]
    assert sorted(c["value"] for c in listed["data"]["choices"] if short in c["value"]) == [
        f"sent-faq-{short}-pref", f"sent-faq-{short}-train", f"sent-faq-{short}-valid"]
    assert len(supervised) == 22 and fake_openai.file_content[stage1["training_file"]] == b"".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for line in sent_lines(aws, settings, record.snapshot, "train"))


def test_bedrock_has_no_preference_stage_and_trains_the_pairs_as_answers(aws, settings, dataset):
    from functions.worker.services import WorkerServices

    add_pairs(aws, settings, 12)
    bsettings = dataclasses.replace(settings, finetune_provider="bedrock", base_model="amazon.nova-micro-v1:0:128k",
                                    bedrock_role_arn="arn:aws:iam::123456789012:role/bedrock-customization")
    ctx = WorkerServices(bsettings, aws=aws.clients)
    ref = InteractionRef(id="1300000000000000711", application_id=A["application_id"], token="itok-nova",
                         guild_id=GUILD, channel_id=CHANNEL, user_id="9", member_permissions=1 << 5)
    shown = model_tasks.start_finetune(TaskRequest("start_finetune", ref, {"dataset": "faq"}), ctx)
    assert "Stages: supervised only, on all 24 examples (12 of them the corrected answers of preference pairs)." \
        in shown.content
    assert "No preference stage: `amazon.nova-micro-v1:0:128k` has no preference training; each pair trains as " \
           "its corrected answer." in shown.content
    assert "Stage 2" not in shown.content
    digest = shown.components[0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    model_tasks.start_finetune(TaskRequest("start_finetune", ref, {"dataset": "faq", "confirm": digest}), ctx)
    record = ctx.stores.finetune_jobs.get(GUILD, model_tasks.start_request_id(GUILD, "faq", digest))
    assert record.stages == 1 and record.job_id and not record.preference_file
    lines = sent_lines(aws, bsettings, digest, "train") + sent_lines(aws, bsettings, digest, "validation")
    answers = {line["messages"][-1]["content"][0]["text"] for line in lines}
    assert len(lines) == 24 and "Author 5 wrote it." in answers and "Nobody knows who wrote book 5." not in answers


def test_the_watcher_starts_stage_2_once_under_a_racing_tick_and_webhook(client, two_stage, watcher, jobs,
                                                                        fake_openai, fake_discord):
    _shown, record = two_stage
    stage1_id = record.job_id
    # The schedule's tick read the record while stage 1 was still running; the webhook's delivery comes first.
    stale = jobs.get(GUILD, record.request_id)
    event = WebhookEvent(delivery_id="evt_1", event_id="evt_1", type="fine_tuning.job.succeeded",
                         job_id=stage1_id, created_at=0)
    status, posted = watcher.on_event(event)
    assert not posted
    assert watcher.check(stale) == ("running", False)  # the tick, late: stage 2 is started already
    assert watcher.on_event(event)[1] is False  # and a redelivered event starts nothing either
    [dpo] = dpo_jobs(fake_openai)
    assert len(progress_posts(fake_discord)) == 1

    current = jobs.get(GUILD, record.request_id)
    stage1 = fake_openai.jobs[stage1_id].data
    assert dpo["model"] == stage1["fine_tuned_model"] and dpo["model"].startswith("ft:gpt-4.1-mini-2025-04-14:")
    assert dpo["training_file"] == current.preference_file
    assert dpo["method"] == {"type": "dpo", "dpo": {"hyperparameters": {
        "n_epochs": current.preference_epochs, "batch_size": 1, "learning_rate_multiplier": 1.8, "beta": 0.1}}}
    assert dpo["metadata"]["request_id"] == f"{record.request_id}-dpo"
    assert (current.job_id, current.stage1_job_id, current.stage1_model) == (dpo["id"], stage1_id,
                                                                             stage1["fine_tuned_model"])
    assert status == "validating_files" and current.status == dpo["status"] == "queued"  # the redelivery checked it
    assert jobs.find_by_provider_job("openai", dpo["id"]).request_id == record.request_id
    [post] = progress_posts(fake_discord)
    assert post["content"].startswith(f"Stage 1 of 2 (supervised) finished; stage 2 (preference, 10 pairs) started "
                                      f"on `{stage1['fine_tuned_model']}`: job `{dpo['id']}`.")
    # Stage 1's model is the guild's already: /model lists it; /jobs shows the stage.
    assert stage1["fine_tuned_model"] in jobs.fine_tuned_models(GUILD)
    listing = send(client, build.slash("jobs", **TRAINER, **A)).reply["data"]["content"]
    assert f"`{dpo['id']}` **queued** · stage 2 of 2 (preference) on `{stage1['fine_tuned_model']}`" in listing


def test_both_stages_run_and_the_completion_post_names_them(client, runner, two_stage, watcher, jobs, fake_openai,
                                                            fake_discord):
    _shown, record = two_stage
    statuses = [watcher.tick().statuses.get(record.request_id) for _ in range(4)]
    # Stage 1 succeeds and stage 2 starts (validating_files); it is then followed to its end.
    assert statuses == ["validating_files", "queued", "running", "succeeded"]
    assert jobs.active() == []
    done = jobs.get(GUILD, record.request_id)
    [_progress, post] = fake_discord.channel_messages(CHANNEL)
    assert "**succeeded**" in post["content"] and "Final training loss" in post["content"]
    assert (f"Both stages ran: stage 1 (supervised, job `{done.stage1_job_id}`) made `{done.stage1_model}`; stage 2 "
            f"(preference, 10 pairs) trained it into `{done.fine_tuned_model}`.") in post["content"]
    # Each stage's tokens as the provider reported them: the summary line is stage 2's, the sentence adds stage 1's.
    stage1_tokens = fake_openai.jobs[done.stage1_job_id].data["trained_tokens"]
    stage2_tokens = fake_openai.jobs[done.job_id].data["trained_tokens"]
    assert stage1_tokens and stage2_tokens and done.stage1_trained_tokens == stage1_tokens
    assert f"Trained tokens: {stage2_tokens:,}" in post["content"]
    assert (f"Stage 1 trained {stage1_tokens:,} tokens, {stage1_tokens + stage2_tokens:,} with stage 2's above."
            in post["content"])
    assert done.fine_tuned_model != done.stage1_model and post["attachments"][0]["filename"] == "loss.png"
    [make_active] = post["components"][0]["components"]
    send(client, build.component(make_active["custom_id"], message=post, **TRAINER, **A))
    assert jobs.active_model(GUILD, "unset") == done.fine_tuned_model
    # The final model answers with the preferred answer (the fake's models remember their training lines).
    asked = send(client, build.slash("ask", options={"prompt": "Who wrote book 4?"}, **A))
    run_one(runner)
    assert fake_discord.original(asked.token)["content"].startswith("Author 4 wrote it.")


def test_a_failed_stage_2_start_is_retried_on_the_next_tick(two_stage, watcher, jobs, fake_openai, fake_discord):
    _shown, record = two_stage
    fake_openai.fail_next(500, path="/fine_tuning/jobs", method="POST")
    assert watcher.tick().statuses[record.request_id] == "running"
    failed_once = jobs.get(GUILD, record.request_id)
    assert failed_once.stage2_failures == 1 and not failed_once.stage1_job_id and dpo_jobs(fake_openai) == []
    assert [r.request_id for r in jobs.active()] == [record.request_id] and fake_discord.channel_messages(CHANNEL) == []
    assert watcher.tick().statuses[record.request_id] == "validating_files"
    assert len(dpo_jobs(fake_openai)) == 1 and len(progress_posts(fake_discord)) == 1


def test_stage_2_that_never_starts_is_reported_with_stage_1s_model(client, runner, two_stage, watcher, jobs,
                                                                   fake_openai, fake_discord):
    _shown, record = two_stage
    fake_openai.fail_next(500, times=watch.STAGE2_START_ATTEMPTS, path="/fine_tuning/jobs", method="POST")
    report = [watcher.tick() for _ in range(watch.STAGE2_START_ATTEMPTS)]
    assert [r.statuses[record.request_id] for r in report] == ["running"] * (watch.STAGE2_START_ATTEMPTS - 1) + [
        "failed"]
    assert report[-1].posted == 1 and jobs.active() == [] and dpo_jobs(fake_openai) == []
    failed = jobs.get(GUILD, record.request_id)
    [post] = fake_discord.channel_messages(CHANNEL)
    assert post["content"].startswith(f"❌ Stage 2 of 2 (preference, 10 pairs) could not be started after "
                                      f"{watch.STAGE2_START_ATTEMPTS} tries: ")
    assert f"its model `{failed.stage1_model}` exists and can still be made active." in post["content"]
    [make_active, retry] = post["components"][0]["components"]
    send(client, build.component(make_active["custom_id"], message=post, **TRAINER, **A))
    assert jobs.active_model(GUILD, "unset") == failed.stage1_model
    assert watcher.tick().checked == 0
    # Once the provider takes jobs again, Retry stage 2 starts it on stage 1's model.
    send(client, build.component(retry["custom_id"], message=post, **TRAINER, **A))
    run_one(runner)
    assert watcher.tick().statuses[record.request_id] == "validating_files"
    [dpo] = dpo_jobs(fake_openai)
    assert dpo["model"] == failed.stage1_model and dpo["metadata"]["request_id"] == f"{record.request_id}-dpo-2"


def test_a_failed_stage_2_offers_stage_1s_model(client, two_stage, watcher, jobs, fake_openai, fake_discord):
    _shown, record = two_stage
    watcher.tick()  # stage 1 succeeds, stage 2 starts
    stage2 = jobs.get(GUILD, record.request_id)
    fake_openai.set_status(stage2.job_id, "failed")
    assert watcher.tick().statuses[record.request_id] == "failed"
    [_progress, post] = fake_discord.channel_messages(CHANNEL)
    assert "**failed**" in post["content"]
    assert (f"Stage 2 of 2 (preference, 10 pairs) failed. Stage 1 (supervised, job `{stage2.stage1_job_id}`) "
            f"finished: its model `{stage2.stage1_model}` exists and can still be made active.") in post["content"]
    [make_active, _retry] = post["components"][0]["components"]
    activated = send(client, build.component(make_active["custom_id"], message=post, **TRAINER, **A))
    assert stage2.stage1_model in activated.reply["data"]["content"]
    assert jobs.active_model(GUILD, "unset") == stage2.stage1_model


def test_retry_stage_2_trains_only_stage_2_again_on_stage_1s_model(client, runner, two_stage, watcher, jobs,
                                                                    fake_openai, fake_discord):
    _shown, record = two_stage
    watcher.tick()  # stage 1 succeeds, stage 2 starts
    first = jobs.get(GUILD, record.request_id)
    fake_openai.set_status(first.job_id, "failed")
    watcher.tick()
    [_progress, post] = fake_discord.channel_messages(CHANNEL)
    [_make_active, retry] = post["components"][0]["components"]
    assert retry["label"] == "Retry stage 2"
    supervised_jobs = len(fake_openai.jobs) - len(dpo_jobs(fake_openai))

    pressed = send(client, build.component(retry["custom_id"], message=post, **TRAINER, **A))
    run_one(runner)
    assert fake_discord.original(pressed.token)["content"].startswith(
        f"🔁 Stage 2 (preference, 10 pairs) will start again on `{first.stage1_model}` at the next check; stage 1 "
        "is not trained (or billed) again.")
    again = send(client, build.component(retry["custom_id"], message=post, **TRAINER, **A))  # a second press
    run_one(runner)
    assert "no failed preference stage to retry" in fake_discord.original(again.token)["content"]

    statuses = [watcher.tick().statuses.get(record.request_id) for _ in range(4)]
    assert statuses == ["validating_files", "queued", "running", "succeeded"]
    [_failed, retried] = dpo_jobs(fake_openai)
    assert retried["model"] == first.stage1_model and retried["training_file"] == first.preference_file
    assert retried["metadata"]["request_id"] == f"{record.request_id}-dpo-2"
    assert len(fake_openai.jobs) - len(dpo_jobs(fake_openai)) == supervised_jobs  # stage 1 did not run again
    done = jobs.get(GUILD, record.request_id)
    assert (done.status, done.stage1_model, done.job_id) == ("succeeded", first.stage1_model, retried["id"])
    messages = fake_discord.channel_messages(CHANNEL)
    assert f"started again on `{first.stage1_model}` (retry 1): job `{retried['id']}`" in messages[2]["content"]
    assert "Both stages ran" in messages[3]["content"] and "**succeeded**" in messages[3]["content"]
    assert jobs.active() == []


def test_cancel_during_stage_2_then_start_again(client, runner, two_stage, watcher, jobs, fake_openai, fake_discord):
    shown, record = two_stage
    watcher.tick()
    stage2 = jobs.get(GUILD, record.request_id)
    cancel = send(client, build.component(f"ft:cancel:{record.request_id}", message=shown, **TRAINER, **A))
    run_one(runner)
    reply = fake_discord.original(cancel.token)
    assert reply["content"].startswith(f"⏹️ Stage 2 (preference) job `{stage2.job_id}` is cancelled. Stage 1's "
                                       f"model `{stage2.stage1_model}` exists and can still be made active.")
    assert fake_openai.jobs[stage2.job_id].data["status"] == "cancelled"
    assert fake_openai.jobs[stage2.stage1_job_id].data["status"] == "succeeded"
    assert jobs.get(GUILD, record.request_id).status == "cancelled" and jobs.active() == []
    [make_active] = reply["components"][0]["components"]
    send(client, build.component(make_active["custom_id"], message=reply, **TRAINER, **A))
    assert jobs.active_model(GUILD, "unset") == stage2.stage1_model

    # Start again: a new attempt of the same estimate, both stages again.
    again = press_start(client, runner, fake_discord, shown)
    assert again.startswith("🚀 Fine-tuning job `ftjob-") and "stage 1 of 2" in again
    second = jobs.get(GUILD, f"{record.request_id}-2")
    assert second.stages == 2 and second.preference_file and second.preference_file != stage2.preference_file
    statuses = [watcher.tick().statuses.get(second.request_id) for _ in range(3)]
    assert statuses[-1] == "validating_files" and len(dpo_jobs(fake_openai)) == 2
    assert jobs.get(GUILD, second.request_id).in_stage2


def test_a_cancel_after_stage_1_ended_unseen_starts_no_stage_2_and_keeps_its_model(client, runner, two_stage, watcher,
                                                                                    jobs, fake_openai, fake_discord):
    shown, record = two_stage
    fake_openai.set_status(record.job_id, "succeeded")  # stage 1 ended; no check has seen it yet
    stage1 = fake_openai.jobs[record.job_id].data
    cancel = send(client, build.component(f"ft:cancel:{record.request_id}", message=shown, **TRAINER, **A))
    run_one(runner)
    reply = fake_discord.original(cancel.token)
    assert reply["content"].startswith(
        "⏹️ Stage 1 (supervised) had already finished, so only stage 2 (preference) is cancelled: it will not "
        f"start. Stage 1's model `{stage1['fine_tuned_model']}` exists and can be made active.")
    stored = jobs.get(GUILD, record.request_id)
    assert (stored.status, stored.stage1_model, stored.stage2_cancelled_by) == (
        "cancelled", stage1["fine_tuned_model"], build.DEFAULT_USER)
    [make_active] = reply["components"][0]["components"]
    send(client, build.component(make_active["custom_id"], message=reply, **TRAINER, **A))
    assert jobs.active_model(GUILD, "unset") == stage1["fine_tuned_model"]

    # However often the watcher looks, no stage 2 starts; the channel is told once, and the job leaves the list.
    for _ in range(3):
        watcher.tick()
    assert dpo_jobs(fake_openai) == []
    [post] = [m for m in fake_discord.channel_messages(CHANNEL) if "before it started" in m["content"]]
    assert f"was cancelled by <@{stored.stage2_cancelled_by}> before it started." in post["content"]
    assert jobs.active() == []


def test_a_cancel_while_the_watcher_starts_stage_2_cancels_what_it_started(client, runner, two_stage, watcher, jobs,
                                                                         fake_openai, fake_discord, monkeypatch):
    shown, record = two_stage
    provider = watcher.provider("openai")
    start = provider.start_preference_job
    replies = []

    def start_then_cancel(*args, **kwargs):
        started = start(*args, **kwargs)
        # The cancel lands between the provider creating stage 2 and the record naming it.
        cancel = send(client, build.component(f"ft:cancel:{record.request_id}", message=shown, **TRAINER, **A))
        run_one(runner)
        replies.append(fake_discord.original(cancel.token)["content"])
        return started

    monkeypatch.setattr(provider, "start_preference_job", start_then_cancel)
    assert watcher.tick().statuses[record.request_id] == "cancelled"
    [dpo] = dpo_jobs(fake_openai)
    assert dpo["status"] == "cancelled"
    assert replies[0].startswith("⏹️ Stage 1 (supervised) had already finished")
    watcher.tick()
    stored = jobs.get(GUILD, record.request_id)
    assert (stored.status, stored.job_id) == ("cancelled", dpo["id"]) and stored.stage1_model
    [post] = [m for m in fake_discord.channel_messages(CHANNEL) if m.get("components")]
    assert f"Stage 1 (supervised, job `{stored.stage1_job_id}`) finished" in post["content"]
    assert jobs.active() == []
