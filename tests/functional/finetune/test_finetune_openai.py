"""The OpenAI backend through the real openai client against the fake server on loopback."""

from __future__ import annotations

import pytest

from shared.finetune.charts import completion_post
from shared.finetune.exceptions import (
    FineTuningUnavailable,
    InferenceFailed,
    JobNotFound,
    ProviderBusy,
    ProviderRejected,
)
from shared.finetune.exports import export_training
from shared.finetune.jobs import JobRequest
from shared.finetune.providers import OpenAIProvider, build_provider
from shared.openai_api import OPENAI_MAX_RETRIES
from tests.support.examples import chat, many

EPOCHS = 4  # the plan's choice, passed in: the provider sends it as it is
MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def provider(settings, openai_client, catalog):
    return OpenAIProvider(settings, client=openai_client, catalog=catalog)


@pytest.fixture
def export(catalog):
    return export_training(many(20), catalog.model("openai", MODEL), catalog)


def request(rid: str = "req-1", **kw) -> JobRequest:
    return JobRequest(request_id=rid, guild_id="111", dataset="faq", snapshot="v3", requested_by="222", **kw)


def poll(provider, job_id, limit=10):
    seen = []
    for _ in range(limit):
        job = provider.retrieve(job_id)
        seen.append(job.status)
        if job.is_terminal:
            return job, seen
    raise AssertionError(f"job never finished: {seen}")


def test_provider_is_chosen_by_settings(settings, openai_client):
    assert isinstance(build_provider(settings, openai=openai_client), OpenAIProvider)


def test_start_uploads_files_and_creates_job_with_metadata(provider, export, fake_openai):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    assert job.status == "validating_files" and job.request_id == "req-1" and job.method == "supervised"
    data = fake_openai.jobs[job.job_id].data
    assert data["metadata"] == {
        "request_id": "req-1",
        "guild_id": "111",
        "dataset": "faq",
        "snapshot": "v3",
        "requested_by": "222",
    }
    assert data["method"]["supervised"]["hyperparameters"]["n_epochs"] == EPOCHS
    assert fake_openai.file_content[data["training_file"]] == export.train_jsonl()
    assert fake_openai.file_content[data["validation_file"]] == export.validation_jsonl()
    assert fake_openai.counts["POST /files 200"] == 2 and fake_openai.counts["POST /uploads 200"] == 0


def test_large_files_go_through_the_uploads_api_in_parts(
    settings, openai_client, catalog, export, fake_openai
):
    provider = OpenAIProvider(
        settings, client=openai_client, catalog=catalog, part_bytes=500, multipart_threshold=1000
    )
    job = provider.start_job(export, request(), epochs=EPOCHS)
    data = export.train_jsonl()
    assert len(data) > 1000
    assert fake_openai.counts["POST /uploads 200"] == 1  # training file; validation is small
    assert fake_openai.counts["POST /uploads/{id}/parts 200"] == -(-len(data) // 500)
    assert fake_openai.counts["POST /uploads/{id}/complete 200"] == 1
    assert fake_openai.file_content[fake_openai.jobs[job.job_id].data["training_file"]] == data


def test_start_is_idempotent_per_request(settings, openai_client, catalog, export, fake_openai):
    first = OpenAIProvider(settings, client=openai_client, catalog=catalog).start_job(export, request(), epochs=EPOCHS)
    # A redelivered message runs in a fresh worker: a new provider, the same request id.
    again = OpenAIProvider(settings, client=openai_client, catalog=catalog).start_job(export, request(), epochs=EPOCHS)
    assert again.job_id == first.job_id
    assert fake_openai.jobs_created() == 1
    other = OpenAIProvider(settings, client=openai_client, catalog=catalog).start_job(
        export, request("req-2"), epochs=EPOCHS
    )
    assert other.job_id != first.job_id and fake_openai.jobs_created() == 2


def test_find_job_by_request(provider, export):
    assert provider.find_job_by_request("nope") is None
    job = provider.start_job(export, request("abc"), epochs=EPOCHS)
    assert provider.find_job_by_request("abc").job_id == job.job_id


def test_a_dpo_export_starts_a_dpo_job(provider, catalog, fake_openai):
    examples = [chat(f"q{i}", f"good {i}", rejected=f"bad {i}") for i in range(10)]  # OpenAI's minimum
    export = export_training(examples, catalog.model("openai", MODEL), catalog, method="dpo")
    job = provider.start_job(export, request(), epochs=EPOCHS)
    assert job.method == "dpo" and fake_openai.jobs[job.job_id].data["method"]["type"] == "dpo"
    finished, _ = poll(provider, job.job_id)
    assert finished.status == "succeeded"  # the fake validated each DPO line against the schema
    answer = provider.complete([{"role": "user", "content": "q1"}], finished.fine_tuned_model)
    assert answer == "good 1"


def test_lifecycle_to_success_with_checkpoints_metrics_and_post(provider, export):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    finished, seen = poll(provider, job.job_id)
    assert seen == ["queued", "running", "succeeded"]
    assert finished.fine_tuned_model.startswith(f"ft:{MODEL}:") and finished.trained_tokens > 0
    assert finished.duration_seconds and finished.duration_seconds > 0
    checkpoints = provider.list_checkpoints(job.job_id)
    assert checkpoints and checkpoints[-1].model == finished.fine_tuned_model
    points = provider.metrics(finished)
    assert len(points) >= 3 and all(p.train_loss is not None for p in points)
    assert any(p.valid_loss is not None for p in points)
    post = completion_post(finished, points)
    assert post.offer_activation and post.chart_png.startswith(b"\x89PNG")
    assert finished.fine_tuned_model in post.text and "Trained tokens" in post.text
    assert "Final training loss" in post.text and "validation loss" in post.text


def test_a_paused_job_is_not_terminal(provider, export, fake_openai):
    # Paused from OpenAI's dashboard: the bot only watches it.
    job = provider.start_job(export, request(), epochs=EPOCHS)
    fake_openai.set_status(job.job_id, "paused")
    paused = provider.retrieve(job.job_id)
    assert paused.status == "paused" and not paused.is_terminal


def test_failed_job(provider, export, fake_openai):
    fake_openai.job_outcome = "failed"
    job = provider.start_job(export, request(), epochs=EPOCHS)
    finished, seen = poll(provider, job.job_id)
    assert seen[-1] == "failed" and finished.error and "simulated" in finished.error
    assert finished.fine_tuned_model is None
    post = completion_post(finished, provider.metrics(finished))
    assert not post.offer_activation and "failed" in post.text


def test_invalid_training_file_fails_validation(provider, openai_client, fake_openai):
    bad = openai_client.files.create(
        file=("x.jsonl", b'{"messages": "nope"}\n', "text/jsonl"), purpose="fine-tune"
    )
    job = openai_client.fine_tuning.jobs.create(model=MODEL, training_file=bad.id)
    finished, seen = poll(provider, job.id)
    assert seen == ["failed"] and finished.error.startswith("invalid_training_file")


def test_cancel(provider, export):
    job = provider.start_job(export, request(), epochs=EPOCHS)
    provider.retrieve(job.job_id)
    cancelled = provider.cancel(job.job_id)
    assert cancelled.status == "cancelled" and cancelled.is_terminal
    with pytest.raises(ProviderRejected):
        provider.cancel(job.job_id)  # already terminal


def test_unknown_job(provider):
    with pytest.raises(JobNotFound):
        provider.retrieve("ftjob-doesnotexist")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limit_and_server_errors_are_retryable(provider, export, fake_openai, status):
    fake_openai.fail_next(status, method="POST", path="/fine_tuning/jobs")
    with pytest.raises(ProviderBusy) as info:
        provider.start_job(export, request(), epochs=EPOCHS)
    assert info.value.retryable
    assert fake_openai.counts[f"POST /fine_tuning/jobs {status}"] == 1  # the create itself failed
    assert fake_openai.jobs_created() == 0


def test_a_redelivery_after_create_failed_past_the_uploads_makes_one_job(provider, export, fake_openai):
    fake_openai.fail_next(500, method="POST", path="/fine_tuning/jobs")
    with pytest.raises(ProviderBusy):
        provider.start_job(export, request(), epochs=EPOCHS)
    assert fake_openai.counts["POST /files 200"] == 2 and fake_openai.jobs_created() == 0
    job = provider.start_job(export, request(), epochs=EPOCHS)  # the redelivered message
    again = provider.start_job(export, request(), epochs=EPOCHS)
    assert again.job_id == job.job_id and fake_openai.jobs_created() == 1


def test_a_timed_out_create_is_found_not_repeated(settings, catalog, export, fake_openai):
    from openai import OpenAI

    # The job is created but its answer comes too late: the client's own retries would create a second one.
    fake_openai.delay_next(1.0, method="POST", path="/fine_tuning/jobs", after=True)
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=2, timeout=0.4) as client:
        job = OpenAIProvider(settings, client=client, catalog=catalog).start_job(export, request(), epochs=EPOCHS)
    assert fake_openai.jobs_created() == 1 and list(fake_openai.jobs) == [job.job_id]
    assert job.request_id == "req-1"


def test_timeout_is_retryable(settings, catalog, export, fake_openai):
    from openai import OpenAI

    fake_openai.delay_next(1.0, method="GET", path="/fine_tuning/jobs/{id}")
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=0, timeout=0.3) as client:
        provider = OpenAIProvider(settings, client=client, catalog=catalog)
        with pytest.raises(ProviderBusy):
            provider.retrieve("ftjob-whatever")


def test_client_retries_come_first(settings, catalog, export, fake_openai):
    from openai import OpenAI

    fake_openai.fail_next(429, times=1, method="GET", path="/fine_tuning/jobs")
    with OpenAI(api_key="sk-test", base_url=fake_openai.url, max_retries=2, timeout=2.0) as client:
        job = OpenAIProvider(settings, client=client, catalog=catalog).start_job(export, request(), epochs=EPOCHS)
    assert job.status == "validating_files"
    assert (
        fake_openai.counts["GET /fine_tuning/jobs 429"] == 1
        and fake_openai.counts["GET /fine_tuning/jobs 200"]
    )


def test_refusal_is_a_clear_user_message(provider, export, fake_openai):
    fake_openai.refuse_fine_tuning = True
    with pytest.raises(FineTuningUnavailable) as info:
        provider.start_job(export, request(), epochs=EPOCHS)
    assert not info.value.retryable
    assert "does not allow fine-tuning" in info.value.user_message


def test_fake_rejects_requests_that_break_the_spec(provider, openai_client, export):
    file_id = provider.upload(export.train_jsonl(), "t.jsonl")
    too_much = {f"k{i}": "v" for i in range(17)}
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as info:
        openai_client.fine_tuning.jobs.create(model=MODEL, training_file=file_id, metadata=too_much)
    assert info.value.body["type"] == "invalid_request_error" and "metadata" in info.value.body["message"]
    with pytest.raises(BadRequestError):
        openai_client.fine_tuning.jobs.create(model=MODEL, training_file=file_id, seed=-1)
    with pytest.raises(BadRequestError):
        openai_client.fine_tuning.jobs.create(model=MODEL, training_file="file-missing")


def test_rejected_job_create_is_not_retryable(provider, export, fake_openai):
    fake_openai.base_models = {"gpt-4.1-nano-2025-04-14"}  # the service no longer tunes the chosen model
    with pytest.raises(ProviderRejected) as info:
        provider.start_job(export, request(), epochs=EPOCHS)
    assert not info.value.retryable and "not available for fine-tuning" in info.value.user_message


def test_inference(provider):
    assert (
        provider.complete([{"role": "user", "content": "ping"}], MODEL)
        == f"(simulated {MODEL}) You said: ping"
    )


def test_inference_errors(provider, fake_openai):
    with pytest.raises(ProviderRejected) as info:
        provider.complete([{"role": "user", "content": "ping"}], "ft:gone")
    assert "/model" in info.value.user_message
    fake_openai.fail_next(429, times=OPENAI_MAX_RETRIES + 1, path="/chat/completions")
    with pytest.raises(InferenceFailed) as busy:
        provider.complete([{"role": "user", "content": "ping"}], MODEL)
    assert busy.value.retryable
