"""The OpenAI webhook endpoint (Flask app, as apig-wsgi serves it): valid, altered, stale and repeated deliveries,
and the schedule handler's recovery of a start whose provider answer was lost."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest

from functions.watcher.watch import JobWatcher
from functions.watcher.webhook import create_app
from infra.fakes.openai_server import webhook_delivery
from shared.discord.rest import DiscordRest
from shared.errors import ConfigError
from shared.finetune.exports import export_training
from shared.finetune.jobs import JobRequest
from shared.storage.finetune_jobs import FineTuneJobRecord
from tests.functional.model.conftest import CHANNEL, GUILD
from tests.support.examples import many

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def webhook(settings, watcher, aws):
    return create_app(settings, watcher, dynamodb_client=aws.clients.dynamodb).test_client()


def deliver(webhook, body, headers):
    return webhook.post("/openai/webhook", data=body, headers=headers)


def test_valid_delivery_checks_the_job_and_posts_once(webhook, started, fake_openai, fake_discord, jobs,
                                                      webhook_secret):
    fake_openai.auto_advance = False
    fake_openai.set_status(started.job_id, "running")
    fake_openai.set_status(started.job_id, "succeeded")
    body, headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
    response = deliver(webhook, body, headers)
    assert response.status_code == 200 and response.get_json() == {"status": "succeeded"}
    [post] = fake_discord.channel_messages(CHANNEL)
    assert post["attachments"][0]["filename"] == "loss.png"
    assert jobs.get(GUILD, started.request_id).status == "succeeded" and jobs.active() == []
    # The same delivery again (same webhook-id): acknowledged, nothing repeated.
    again = deliver(webhook, body, headers)
    assert again.status_code == 200 and again.get_json() == {"status": "duplicate"}
    # A new delivery for a job already posted: nothing posted twice.
    body2, headers2 = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
    assert deliver(webhook, body2, headers2).status_code == 200
    assert len(fake_discord.channel_messages(CHANNEL)) == 1


def test_altered_and_stale_deliveries_are_refused(webhook, started, fake_discord, jobs, webhook_secret):
    body, headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
    altered = body.replace(started.job_id.encode(), b"ftjob-someoneelse000000000")
    assert deliver(webhook, altered, headers).status_code == 400
    stale_body, stale_headers = webhook_delivery("fine_tuning.job.failed", started.job_id, webhook_secret,
                                                 timestamp=int(time.time()) - 3600)
    assert deliver(webhook, stale_body, stale_headers).status_code == 400
    wrong_key, wrong_headers = webhook_delivery("fine_tuning.job.failed", started.job_id,
                                                "whsec_" + "QUJD" * 8)
    assert deliver(webhook, wrong_key, wrong_headers).status_code == 400
    assert deliver(webhook, body, {}).status_code == 400
    assert fake_discord.channel_messages(CHANNEL) == []
    assert jobs.get(GUILD, started.request_id).status == "validating_files"


def test_delivery_for_an_unknown_job_is_acknowledged(webhook, fake_discord, webhook_secret):
    body, headers = webhook_delivery("fine_tuning.job.succeeded", "ftjob-notours", webhook_secret)
    response = deliver(webhook, body, headers)
    assert response.status_code == 200 and response.get_json() == {"status": "unknown job"}


def test_webhook_needs_its_secret(settings, watcher, aws):
    with pytest.raises(ConfigError):
        create_app(dataclasses.replace(settings, openai_webhook_secret=""), watcher,
                   dynamodb_client=aws.clients.dynamodb)


def test_fake_server_delivers_to_the_endpoint_over_http(settings, watcher, aws, started, fake_openai,
                                                        fake_discord):
    """The fake posts its own signed webhook when a job ends; served here by a real HTTP server."""
    from werkzeug.serving import make_server

    app = create_app(settings, watcher, dynamodb_client=aws.clients.dynamodb)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake_openai.webhook_url = f"http://127.0.0.1:{server.server_port}/openai/webhook"
        fake_openai.auto_advance = False
        fake_openai.set_status(started.job_id, "cancelled")
        deadline = time.monotonic() + 10
        while not fake_openai.webhook_deliveries and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_openai.webhook_deliveries == [("fine_tuning.job.cancelled", 200)]
        [post] = fake_discord.channel_messages(CHANNEL)
        assert "**cancelled**" in post["content"] and post["components"] == []
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_start_whose_answer_was_lost_is_recovered_or_given_up(settings, jobs, provider, fake_openai,
                                                                fake_discord):
    from shared.finetune.catalog import load_catalog

    catalog = load_catalog()
    export = export_training(many(20), catalog.model("openai", MODEL), catalog)
    lost, _ = jobs.record_start(FineTuneJobRecord(guild_id=GUILD, request_id="1300000000000000600", dataset="faq",
                                                  provider="openai", base_model=MODEL, channel_id=CHANNEL))
    provider.start_job(export, JobRequest(request_id=lost.request_id, guild_id=GUILD, dataset="faq"), epochs=3)
    never, _ = jobs.record_start(FineTuneJobRecord(guild_id=GUILD, request_id="1300000000000000601", dataset="faq",
                                                   provider="openai", base_model=MODEL, channel_id=CHANNEL))
    # Lost too, and the job finished meanwhile: found, it still gets its completion post.
    finished, _ = jobs.record_start(FineTuneJobRecord(guild_id=GUILD, request_id="1300000000000000602",
                                                      dataset="faq", provider="openai", base_model=MODEL,
                                                      channel_id=CHANNEL))
    done = provider.start_job(export, JobRequest(request_id=finished.request_id, guild_id=GUILD, dataset="faq"),
                              epochs=3)
    fake_openai.set_status(done.job_id, "succeeded")
    later = datetime.now(UTC) + timedelta(hours=3)
    watcher = JobWatcher(settings, jobs=jobs, provider_factory={"openai": provider}.__getitem__,
                         discord=DiscordRest(settings, sleep=lambda _s: None), now=lambda: later)
    report = watcher.tick()
    assert report.statuses == {lost.request_id: "queued", never.request_id: "failed",
                               finished.request_id: "succeeded"}
    assert jobs.get(GUILD, lost.request_id).job_id
    assert "never started" in jobs.get(GUILD, never.request_id).error
    assert fake_openai.jobs_created() == 2
    [post] = fake_discord.channel_messages(CHANNEL)
    assert done.job_id in post["content"] or "**succeeded**" in post["content"]
    assert [r.request_id for r in jobs.active()] == [lost.request_id] and report.posted == 1


def test_the_deployed_webhook_secret_comes_from_secrets_manager(settings, watcher, aws, started, webhook_secret,
                                                                fake_discord):
    from shared.config import clear_cache

    sm = aws.clients.client("secretsmanager")
    arn = sm.create_secret(Name="openai-webhook", SecretString=webhook_secret)["ARN"]
    deployed = dataclasses.replace(settings, openai_webhook_secret="", openai_webhook_secret_secret=arn)
    clear_cache()
    try:
        app = create_app(deployed, watcher, dynamodb_client=aws.clients.dynamodb).test_client()
        body, headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
        assert deliver(app, body, headers).status_code == 200
        wrong, wrong_headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, "whsec_" + "QUJD" * 8)
        assert deliver(app, wrong, wrong_headers).status_code == 400
    finally:
        clear_cache()


def test_jobs_are_followed_on_the_provider_they_started_on(settings, jobs, provider, started, aws, openai_client,
                                                           fake_discord, webhook_secret):
    """The deployment switched to Bedrock after an OpenAI job started: that job is still OpenAI's."""
    from functions.worker import model_tasks
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import InteractionRef
    from shared.contracts.messages import TaskRequest as QueuedJob
    from shared.finetune.webhooks import WebhookVerifier

    switched = dataclasses.replace(settings, finetune_provider="bedrock")
    watcher = JobWatcher(switched, jobs=jobs, provider_factory={"openai": provider}.__getitem__,
                         discord=DiscordRest(switched, sleep=lambda _s: None))
    assert watcher.tick().statuses == {started.request_id: "queued"}
    body, headers = webhook_delivery("fine_tuning.job.succeeded", started.job_id, webhook_secret)
    assert watcher.on_event(WebhookVerifier(webhook_secret).verify(body, headers)) == ("running", False)

    ctx = WorkerServices(switched, aws=aws.clients, openai=openai_client, finetune_provider=provider)
    ref = InteractionRef(id="1300000000000000901", application_id=switched.discord_application_id, token="t",
                         guild_id=GUILD, channel_id=CHANNEL, user_id="5", member_permissions=1 << 5)
    done = model_tasks.cancel_finetune(QueuedJob("cancel_finetune", ref, {"request_id": started.request_id}), ctx)
    assert "is cancelled" in done.content and jobs.get(GUILD, started.request_id).status == "cancelled"


def test_a_check_that_loses_the_post_claim_draws_nothing(watcher, jobs, started, fake_openai, fake_discord):
    fake_openai.set_status(started.job_id, "succeeded")
    assert jobs.claim_post(started)  # another check (the webhook) is posting it
    assert watcher.check(started) == ("succeeded", False)
    # No metrics were fetched for a chart nobody will post.
    metrics_reads = ("GET /files/{id}/content", "GET /fine_tuning/jobs/{id}/checkpoints")
    assert not [c for c in fake_openai.counts if c.startswith(metrics_reads)]
    assert fake_discord.channel_messages(CHANNEL) == []
