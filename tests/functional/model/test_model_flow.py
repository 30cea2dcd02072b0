"""From a dataset to a fine-tuned model that answers, and back: the whole loop through the real clients.

Signed interactions → the Flask app → the jobs queue (moto SQS) → the worker → FakeOpenAI (real openai
client) and FakeDiscord (real REST client); the watcher polls and posts; a correction of the fine-tuned
model's answer comes back as a preference pair in the next export.
"""

from __future__ import annotations

import dataclasses
import json
import time

from functions.worker import model_tasks
from infra import interactions as build
from shared.contracts.messages import InteractionRef, TaskRequest
from shared.storage import keys
from shared.storage.datasets import DatasetStore
from shared.storage.exchanges import ExchangeStore
from shared.storage.table import DataTable
from tests.functional.model.conftest import CHANNEL, GUILD, TRAINER, A, qa, send

PNG = b"\x89PNG\r\n\x1a\n"


def run_one(runner) -> None:
    assert runner.poll_once() == {"received": 1, "failed": 0}


def estimate_and_confirm(client, runner, fake_discord, dataset):
    """The "Start training" button, then the Start button of the estimate it shows."""
    button = send(client, build.component(f"ft:start:{dataset}", message=build.bot_message(content="report", **A),
                                          **TRAINER, **A))
    assert button.reply == {"type": 5}
    run_one(runner)
    estimate = fake_discord.original(button.token)
    [start] = estimate["components"][0]["components"]
    assert start["custom_id"].startswith(f"ft:go:{dataset}:") and start["label"].startswith("Start (≈ $")
    confirm = send(client, build.component(start["custom_id"], message=estimate, **TRAINER, **A))
    return estimate, confirm


def start_id(estimate) -> str:
    """The job id of an estimate: its guild, dataset and export digest (from its Start button)."""
    _, _, dataset, digest = estimate["components"][0]["components"][0]["custom_id"].split(":")
    return f"{GUILD}-{dataset}-{digest}"


def test_dataset_to_trained_model_to_answer_to_correction(client, runner, watcher, jobs, fake_openai, fake_discord,
                                                          aws, settings, dataset):
    # 1. The estimate comes first and spends nothing.
    estimate, confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    assert "**Estimate for gpt-4.1-mini-2025-04-14**" in estimate["content"]
    assert "≈ **$" in estimate["content"] and "Nothing is spent until you press **Start**" in estimate["content"]
    assert "simulated" in estimate["content"]
    assert fake_openai.jobs_created() == 0

    # 2. Start: recorded first, then created with metadata naming the request.
    run_one(runner)
    started = fake_discord.original(confirm.token)["content"]
    assert started.startswith("🚀 Fine-tuning job `ftjob-") and "≈ **$" in started
    [record] = jobs.recent(GUILD)
    assert (record.request_id, record.dataset, record.provider, record.channel_id) == (
        start_id(estimate), "faq", "openai", CHANNEL)
    assert record.requested_by == build.DEFAULT_USER and record.estimated_cost_usd and record.snapshot
    fake_job = fake_openai.jobs[record.job_id].data
    assert fake_job["metadata"]["request_id"] == start_id(estimate)
    assert [r.request_id for r in jobs.active()] == [start_id(estimate)]
    assert jobs.find_by_provider_job("openai", record.job_id) == jobs.get(GUILD, record.request_id)
    # The export that was sent is kept in the bucket under the estimated digest.
    export_key = keys.export_key(GUILD, f"finetune-faq-{record.snapshot}", "train", ".jsonl")
    sent = aws.clients.s3.get_object(Bucket=settings.bucket_name, Key=export_key)["Body"].read()
    assert sent == fake_openai.file_content[fake_job["training_file"]]
    # /getfile lists the files sent to the provider, and serves them.
    listed = send(client, build.autocomplete("getfile", focused="name", value="sent", **TRAINER, **A)).reply
    sent_ids = [c["value"] for c in listed["data"]["choices"]]
    assert sorted(sent_ids) == [f"sent-faq-{record.snapshot[:12]}-train", f"sent-faq-{record.snapshot[:12]}-valid"]
    fetched = send(client, build.slash("getfile", options={"name": sorted(sent_ids)[0]}, **TRAINER, **A))
    run_one(runner)
    [attachment] = fake_discord.original(fetched.token)["attachments"]
    assert fake_discord.attachment_bytes(attachment["id"]) == sent

    # 3. The watcher follows every status, paused included, and posts once on success.
    seen = [watcher.tick().statuses[record.request_id] for _ in range(2)]
    assert seen == ["queued", "running"]
    fake_openai.set_status(record.job_id, "paused")
    assert watcher.tick().statuses[record.request_id] == "paused"
    assert jobs.get(GUILD, record.request_id).status == "paused" and len(jobs.active()) == 1
    assert fake_discord.channel_messages(CHANNEL) == []
    fake_openai.set_status(record.job_id, "running")
    report = watcher.tick()
    assert report.statuses[record.request_id] == "succeeded" and report.posted == 1
    assert jobs.active() == [] and watcher.tick().checked == 0

    [post] = fake_discord.channel_messages(CHANNEL)
    done = jobs.get(GUILD, record.request_id)
    assert done.fine_tuned_model and done.fine_tuned_model in post["content"]
    assert "**succeeded**" in post["content"] and "Final training loss" in post["content"]
    assert f"<@{build.DEFAULT_USER}>" in post["content"] and post["allowed_mentions"] == {"parse": []}
    [chart] = post["attachments"]
    assert chart["filename"] == "loss.png"
    assert fake_discord.attachment_bytes(chart["id"]).startswith(PNG)
    [make_active] = post["components"][0]["components"]
    assert make_active["custom_id"] == f"ft:use:{record.request_id}"

    # 4. Make it active (a trainer only).
    refused = send(client, build.component(make_active["custom_id"], message=post, **A))
    assert "Manage Server" in refused.reply["data"]["content"]
    activated = send(client, build.component(make_active["custom_id"], message=post, **TRAINER, **A))
    assert done.fine_tuned_model in activated.reply["data"]["content"]
    assert jobs.active_model(GUILD, "unset") == done.fine_tuned_model
    # Other settings on the same record are kept.
    assert DatasetStore(settings, dynamodb_client=aws.clients.dynamodb).guild_settings(
        GUILD).selected_dataset == "faq"

    # 5. /ask is answered by the fine-tuned model, with buttons, and the exchange is recorded.
    trained = [json.loads(line) for line in sent.decode().splitlines()]
    question, answer = trained[0]["messages"][0]["content"], trained[0]["messages"][-1]["content"]
    asked = send(client, build.slash("ask", options={"prompt": question}, **A))
    assert asked.reply == {"type": 5}
    run_one(runner)
    reply = fake_discord.original(asked.token)
    # The local fake answers, and the reply says the provider is simulated.
    assert reply["content"] == f"{answer}\n_(The provider is simulated: this is the local fake, not a real model.)_"
    assert len(fake_discord.edits(asked.token)) == 1  # one edit: the exchange is recorded from its answer
    assert [c["custom_id"] for c in reply["components"][0]["components"]] == ["vote:up", "vote:down", "fix"]
    exchange = ExchangeStore(DataTable(settings.data_table, aws.clients.dynamodb)).get(GUILD, reply["id"])
    assert (exchange.prompt, exchange.answer, exchange.model) == (question, answer, done.fine_tuned_model)

    # 6. A member's correction through the app's button and modal (prefilled with the answer only) waits for
    # review; the trainer approves it into the dataset...
    answer_message = build.bot_message(content=reply["content"], message_id=reply["id"], **A)
    modal = send(client, build.component("fix", message=answer_message, **A)).reply
    assert modal["data"]["custom_id"] == f"correct:{reply['id']}"
    assert modal["data"]["components"][0]["component"]["value"] == answer
    saved = send(client, build.modal_submit(f"correct:{reply['id']}", values={"correction": "Fact 0 is proven."},
                                            **A))
    assert "A trainer will review it" in saved.reply["data"]["content"]
    # Until a trainer approves it, the correction changes no estimate.
    waiting = send(client, build.component("ft:start:faq", message=build.bot_message(content="report", **A),
                                           **TRAINER, **A))
    run_one(runner)
    assert fake_discord.original(waiting.token)["components"] == estimate["components"]
    assert fake_discord.original(waiting.token)["content"].startswith("Dataset **faq**: 12 examples, 0 preference")
    page = send(client, build.slash("review", **TRAINER, **A)).reply
    approve = page["data"]["components"][0]["components"][0]["custom_id"]
    approved = send(client, build.component(approve, message=build.bot_message(content="page", **A), **TRAINER,
                                            **A)).reply
    assert "Approved: added to **faq** as a preference pair" in approved["data"]["content"]

    # 7. ...and the next job trains the curated examples with the corrected answer among them (one pair is
    # under OpenAI's minimum of 10 for a preference stage, and the estimate says so).
    estimate2, _confirm2 = estimate_and_confirm(client, runner, fake_discord, dataset)
    content = estimate2["content"]
    assert content.startswith("Dataset **faq**: 13 examples, 1 preference pairs")
    assert "Stages: supervised only, on all 13 examples (1 of them the corrected answers of preference pairs)" in \
        content
    assert "No preference stage: 1 pairs, and openai needs at least 10" in content
    run_one(runner)
    second = jobs.get(GUILD, start_id(estimate2))
    key = keys.export_key(GUILD, f"finetune-faq-{second.snapshot}", "train", ".jsonl")
    lines = [json.loads(x) for x in aws.clients.s3.get_object(Bucket=settings.bucket_name, Key=key)["Body"]
             .read().decode().splitlines()]
    key = keys.export_key(GUILD, f"finetune-faq-{second.snapshot}", "validation", ".jsonl")
    lines += [json.loads(x) for x in aws.clients.s3.get_object(Bucket=settings.bucket_name, Key=key)["Body"]
              .read().decode().splitlines()]
    assert len(lines) == 13 and all("messages" in line for line in lines)
    assert {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": "Fact 0 is proven."}]} in lines
    assert fake_openai.jobs[second.job_id].data["method"]["type"] == "supervised"


def test_below_the_minimum_the_estimate_says_what_is_missing_and_offers_no_start(client, runner, fake_discord,
                                                                                  aws, settings, fake_openai):
    store = DatasetStore(settings, dynamodb_client=aws.clients.dynamodb)
    store.add_examples(GUILD, store.ensure_dataset(GUILD, "tiny").name,
                       [qa(f"What is {i}?", f"It is {i}.") for i in range(9)], upload_id="seed")
    button = send(client, build.component("ft:start:tiny", message=build.bot_message(content="report", **A),
                                          **TRAINER, **A))
    run_one(runner)
    estimate = fake_discord.original(button.token)
    assert estimate["content"].startswith("Dataset **tiny**: 9 examples, 0 preference pairs")
    assert "Not enough to start a job: `gpt-4.1-mini-2025-04-14` needs at least 10 training examples; this " \
           "dataset gives 9. Add 1 more" in estimate["content"]
    assert not estimate.get("components")
    assert fake_openai.jobs_created() == 0


def test_start_again_after_cancel_and_after_failure(client, runner, watcher, jobs, fake_openai, fake_discord,
                                                    dataset):
    estimate, _confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    run_one(runner)
    first = jobs.get(GUILD, start_id(estimate))
    [start] = estimate["components"][0]["components"]
    # While it runs, another click starts nothing.
    busy = send(client, build.component(start["custom_id"], message=estimate, **TRAINER, **A))
    run_one(runner)
    assert fake_discord.original(busy.token)["content"].startswith(f"Already started: job `{first.job_id}`")
    assert fake_openai.jobs_created() == 1

    cancel = send(client, build.component(f"ft:cancel:{first.request_id}", message=estimate, **TRAINER, **A))
    run_one(runner)
    assert "cancelled" in fake_discord.original(cancel.token)["content"]
    again = send(client, build.component(start["custom_id"], message=estimate, **TRAINER, **A))
    run_one(runner)
    assert fake_discord.original(again.token)["content"].startswith("🚀 Fine-tuning job `ftjob-")
    assert fake_openai.jobs_created() == 2
    second = jobs.get(GUILD, f"{start_id(estimate)}-2")
    assert second.job_id and second.job_id != first.job_id

    # The provider fails the second one: Start makes a third attempt.
    fake_openai.set_status(second.job_id, "failed")
    assert watcher.tick().statuses[second.request_id] == "failed"
    third = send(client, build.component(start["custom_id"], message=estimate, **TRAINER, **A))
    run_one(runner)
    assert fake_discord.original(third.token)["content"].startswith("🚀 Fine-tuning job `ftjob-")
    assert fake_openai.jobs_created() == 3
    assert jobs.get(GUILD, f"{start_id(estimate)}-3").job_id


def test_a_redelivered_start_finds_its_job_and_never_pays_twice(client, runner, worker_ctx, jobs, fake_openai,
                                                                fake_discord, aws, settings, dataset):
    estimate, _confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    digest = estimate["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    ref = InteractionRef(id="1300000000000000777", application_id=settings.discord_application_id,
                         token="itok-redelivered", guild_id=GUILD, channel_id=CHANNEL, user_id="5",
                         member_permissions=1 << 5)
    request = TaskRequest("start_finetune", ref, {"dataset": "faq", "confirm": digest})
    # The same message delivered again after the worker died mid-way (no idempotency record to stop it).
    first = model_tasks.start_finetune(request, worker_ctx)
    again = model_tasks.start_finetune(request, worker_ctx)
    assert fake_openai.jobs_created() == 1
    record = jobs.get(GUILD, start_id(estimate))
    assert record.job_id in first.content and f"Already started: job `{record.job_id}`" in again.content
    # Crash between the provider's create and the record update: the record knows no job id yet.
    aws.clients.dynamodb.update_item(TableName=settings.data_table,
                                     Key={"pk": {"S": keys.guild_pk(GUILD)},
                                          "sk": {"S": keys.job_sk(start_id(estimate))}},
                                     UpdateExpression="REMOVE job_id SET #s = :s",
                                     ExpressionAttributeNames={"#s": "status"},
                                     ExpressionAttributeValues={":s": {"S": "starting"}})
    third = model_tasks.start_finetune(request, worker_ctx)
    assert fake_openai.jobs_created() == 1 and record.job_id in third.content
    assert jobs.get(GUILD, start_id(estimate)).job_id == record.job_id

    # And through the queue: the confirming interaction's message, sent twice, is the same estimate: no new job.
    body = aws.clients.sqs.receive_message(QueueUrl=settings.jobs_queue_url, MaxNumberOfMessages=1,
                                           VisibilityTimeout=0)["Messages"][0]["Body"]
    aws.clients.sqs.send_message(QueueUrl=settings.jobs_queue_url, MessageBody=body)
    assert runner.poll_once()["failed"] == 0
    runner.poll_once()
    assert fake_openai.jobs_created() == 1
    assert [r.request_id for r in jobs.recent(GUILD)] == [start_id(estimate)]


def test_a_second_click_on_the_same_estimate_is_told_the_job_already_started(client, runner, jobs, fake_openai,
                                                                             fake_discord, dataset):
    estimate, confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    run_one(runner)
    [start] = estimate["components"][0]["components"]
    # Another trainer (or an impatient one) presses the same Start button again.
    second = send(client, build.component(start["custom_id"], message=estimate, **TRAINER, **A))
    assert second.interaction_id != confirm.interaction_id
    run_one(runner)
    record = jobs.get(GUILD, start_id(estimate))
    assert fake_openai.jobs_created() == 1
    assert fake_discord.original(second.token)["content"].startswith(f"Already started: job `{record.job_id}`")
    assert [r.request_id for r in jobs.recent(GUILD)] == [record.request_id]


def test_a_click_while_another_is_creating_the_job_creates_nothing(client, runner, jobs, fake_openai, fake_discord,
                                                                   worker_ctx, settings, dataset):
    estimate, _ = estimate_and_confirm(client, runner, fake_discord, dataset)
    digest = estimate["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    # The first click's worker has recorded the start and is uploading: it holds the start lease.
    first = InteractionRef(id="1300000000000000781", application_id=settings.discord_application_id,
                           token="itok-1", guild_id=GUILD, channel_id=CHANNEL, user_id="5", member_permissions=1 << 5)
    record, _ = jobs.record_start(model_tasks.FineTuneJobRecord(
        guild_id=GUILD, request_id=start_id(estimate), dataset="faq", provider="openai",
        base_model=settings.base_model, requested_by=first.user_id, channel_id=CHANNEL, snapshot=digest))
    assert jobs.claim_start(record, lease_seconds=600)
    second = InteractionRef(id="1300000000000000782", application_id=settings.discord_application_id,
                            token="itok-2", guild_id=GUILD, channel_id=CHANNEL, user_id="6", member_permissions=1 << 5)
    outcome = model_tasks.start_finetune(TaskRequest("start_finetune", second, {"dataset": "faq", "confirm": digest}),
                                        worker_ctx)
    assert outcome.content.startswith("Already starting") and fake_openai.jobs_created() == 0
    # Once the first attempt is over (here: it failed before creating anything), a retry may create the job.
    jobs.release_start(record)
    retried = model_tasks.start_finetune(TaskRequest("start_finetune", first, {"dataset": "faq", "confirm": digest}),
                                        worker_ctx)
    assert "🚀" in retried.content and fake_openai.jobs_created() == 1


def test_a_crashed_starts_lease_expires_before_its_message_returns(client, runner, jobs, fake_discord, settings,
                                                                   dataset):
    from infra.template import function_timeout, load_template

    estimate, _ = estimate_and_confirm(client, runner, fake_discord, dataset)
    digest = estimate["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    record, _ = jobs.record_start(model_tasks.FineTuneJobRecord(
        guild_id=GUILD, request_id=start_id(estimate), dataset="faq", provider="openai",
        base_model=settings.base_model, requested_by="5", channel_id=CHANNEL, snapshot=digest))
    started_at = time.time()
    lease = model_tasks.START_LEASE_SECONDS
    assert jobs.claim_start(record, lease_seconds=lease, now=started_at)  # then the worker crashes: no release
    worker_timeout = function_timeout("WorkerFunction")
    visibility = int(load_template()["Resources"]["JobsQueue"]["Properties"]["VisibilityTimeout"])
    # While the first run may still be alive, nobody else creates the job...
    assert not jobs.claim_start(record, lease_seconds=lease, now=started_at + worker_timeout)
    # ...and when the queue brings the crashed run's message back, its lease is over: the start is retried.
    assert jobs.claim_start(record, lease_seconds=lease, now=started_at + visibility)


def test_failed_and_cancelled_jobs_are_posted_without_activation(client, runner, watcher, jobs, fake_openai,
                                                                 fake_discord, dataset):
    fake_openai.job_outcome = "failed"
    estimate, _confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    run_one(runner)
    for _ in range(3):
        watcher.tick()
    [post] = fake_discord.channel_messages(CHANNEL)
    assert "**failed**" in post["content"] and "Error: training_failed" in post["content"]
    assert post["components"] == [] and post["attachments"] == []
    assert jobs.get(GUILD, start_id(estimate)).status == "failed"


def test_jobs_lists_and_cancels(client, runner, watcher, jobs, fake_openai, fake_discord, dataset):
    estimate, _confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    run_one(runner)
    record = jobs.get(GUILD, start_id(estimate))
    listing = send(client, build.slash("jobs", **TRAINER, **A)).reply["data"]
    assert record.job_id in listing["content"] and "validating_files" in listing["content"]
    [cancel] = listing["components"][0]["components"]
    assert cancel["custom_id"] == f"ft:cancel:{record.request_id}"
    assert "Manage Server" in send(client, build.slash("jobs", **A)).reply["data"]["content"]
    assert "Manage Server" in send(client, build.component(cancel["custom_id"], message={}, **A)).reply["data"][
        "content"]
    pressed = send(client, build.component(cancel["custom_id"], message={}, **TRAINER, **A))
    assert pressed.reply == {"type": 5, "data": {"flags": 64}}
    run_one(runner)
    assert "is cancelled" in fake_discord.original(pressed.token)["content"]
    assert fake_openai.jobs[record.job_id].data["status"] == "cancelled"
    assert jobs.get(GUILD, record.request_id).status == "cancelled" and jobs.active() == []


def test_model_shows_and_sets_only_known_models(client, jobs, settings):
    shown = send(client, build.slash("model", **TRAINER, **A)).reply["data"]["content"]
    assert f"Active model: `{settings.base_model}`" in shown
    bad = send(client, build.slash("model", options={"name": "gpt-5-secret"}, **TRAINER, **A)).reply
    assert "is not a model of this server" in bad["data"]["content"] and jobs.active_model(GUILD, "unset") == "unset"
    ok = send(client, build.slash("model", options={"name": settings.base_model}, **TRAINER, **A)).reply
    assert settings.base_model in ok["data"]["content"] and jobs.active_model(GUILD, "unset") == settings.base_model
    choices = send(client, build.autocomplete("model", focused="name", value="mini", **TRAINER, **A)).reply
    assert choices["data"]["choices"] == [{"name": settings.base_model, "value": settings.base_model}]


def test_model_and_its_autocomplete_are_for_trainers_only(client, jobs, settings):
    # A plain member (no Manage Server): neither shown the models, nor able to set one.
    shown = send(client, build.slash("model", **A)).reply["data"]
    assert "Manage Server" in shown["content"] and settings.base_model not in shown["content"]
    assert shown["flags"] == 64
    refused = send(client, build.slash("model", options={"name": settings.base_model}, **A)).reply["data"]
    assert "Manage Server" in refused["content"]
    assert jobs.active_model(GUILD, "unset") == "unset"
    choices = send(client, build.autocomplete("model", focused="name", value="mini", **A)).reply
    assert choices["data"]["choices"] == []


def test_openai_refusing_fine_tuning_is_a_clear_message(client, runner, jobs, fake_openai, fake_discord, dataset):
    estimate, confirm = estimate_and_confirm(client, runner, fake_discord, dataset)
    fake_openai.refuse_fine_tuning = True
    run_one(runner)
    content = fake_discord.original(confirm.token)["content"]
    assert content.startswith("The model provider does not allow fine-tuning for this account.")
    assert "FINETUNE_PROVIDER" in content
    record = jobs.get(GUILD, start_id(estimate))
    assert record.status == "failed" and record.job_id == "" and jobs.active() == []
    assert fake_openai.jobs_created() == 0


def test_ask_transcribes_an_audio_attachment(client, runner, fake_openai, fake_discord):
    url = fake_discord.add_cdn_file("1/2/question.ogg", b"OggS" + b"\x00" * 200, content_type="audio/ogg")
    attachment = {"id": "1300000000000000901", "url": url, "filename": "question.ogg", "content_type": "audio/ogg",
                  "size": 204}
    asked = send(client, build.slash("ask", options={"prompt": "Please answer:"},
                                     attachments={"audio": attachment}, **A))
    run_one(runner)
    content = fake_discord.original(asked.token)["content"]
    assert content.startswith(f"> 🎤 {fake_openai.transcription_text}")
    assert f"You said: Please answer:\n\n{fake_openai.transcription_text}" in content
    assert fake_openai.counts["POST /audio/transcriptions 200"] == 1




def test_an_answer_is_handed_to_the_voice_worker_of_the_guilds_shard(aws, settings, worker_ctx, fake_openai,
                                                                     fake_discord, client):
    from functions.worker.handler import build_worker
    from functions.worker.local_runner import LocalRunner
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import VoiceRequest
    from shared.contracts.sharding import shard_for_guild

    sqs = aws.clients.sqs
    urls = [sqs.create_queue(QueueName=f"voice-shard-{i}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for i in range(2)]
    sharded = dataclasses.replace(settings, voice_queue_url=",".join(urls))
    ctx = WorkerServices(sharded, aws=aws.clients, discord=worker_ctx.discord, openai=worker_ctx.openai,
                        finetune_provider=worker_ctx.finetune_provider)
    runner = LocalRunner(build_worker(sharded, ctx=ctx).handle_batch,
                         sqs, sharded.jobs_queue_url, wait_seconds=0)
    send(client, build.slash("ask", options={"prompt": "Say hello"}, **A))
    run_one(runner)
    mine = urls[shard_for_guild(GUILD, 2)]
    [message] = sqs.receive_message(QueueUrl=mine, MaxNumberOfMessages=10).get("Messages", [])
    request = VoiceRequest.from_json(message["Body"])
    assert request.kind == "speak_answer" and "Say hello" in request.args.text
    other = urls[1 - shard_for_guild(GUILD, 2)]
    assert sqs.receive_message(QueueUrl=other, MaxNumberOfMessages=10).get("Messages", []) == []


def test_a_long_answer_says_it_is_cut_and_attaches_the_whole(client, runner, fake_discord):
    prompt = " ".join(f"word{n}" for n in range(500))  # the fake echoes it: an answer of about 3,900 characters
    asked = send(client, build.slash("ask", options={"prompt": prompt}, **A))
    run_one(runner)
    reply = fake_discord.original(asked.token)
    assert len(reply["content"]) <= 2000
    assert "the whole of it is attached (answer.md)" in reply["content"]
    (attachment,) = reply["attachments"]
    assert attachment["filename"] == "answer.md"
    whole = fake_discord.attachment_bytes(attachment["id"]).decode()
    assert whole.endswith("word499") and prompt in whole
