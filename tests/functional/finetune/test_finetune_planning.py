"""plan_job (export + estimate before spending) and completion_for (the watcher's post) end to end on the fake."""

from __future__ import annotations

import pytest

from shared.finetune.exceptions import NothingToTrain, UnknownModel
from shared.finetune.jobs import JobRequest
from shared.finetune.planning import completion_for, plan_job
from shared.finetune.providers import build_provider
from tests.support.examples import chat, many


def test_plan_job_uses_settings_provider_and_model(settings):
    plan = plan_job([*many(12), chat("Tell me a joke", "No.", positive=False)], settings)
    assert plan.spec.name == settings.base_model and plan.export.method == "supervised"
    assert plan.estimate.n_train + plan.estimate.n_validation == 12
    text = plan.summary()
    assert "$" in text and "1 negative examples left out" in text


def test_plan_job_errors_carry_user_messages(settings):
    with pytest.raises(UnknownModel) as info:
        plan_job(many(3), settings, model="gpt-9")
    assert "gpt-4.1-mini-2025-04-14" in info.value.user_message
    with pytest.raises(NothingToTrain):
        plan_job([], settings)


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_watch_a_job_to_its_completion_post(settings, openai_client, fake_openai, outcome):
    fake_openai.job_outcome = outcome
    provider = build_provider(settings, openai=openai_client)
    plan = plan_job(many(12), settings)
    job = provider.start_job(plan.export, JobRequest(request_id="r-9", guild_id="1", dataset="d"),
                             epochs=plan.estimate.epochs)
    statuses = []
    for _ in range(5):
        current = provider.retrieve(job.job_id)
        post = completion_for(provider, current, simulated=True) if current.is_terminal else None
        statuses.append(current.status)
        if post is not None:
            break
    assert statuses == ["queued", "running", outcome]
    assert "simulated" in post.text and outcome in post.text
    assert (post.chart_png is not None) == (outcome == "succeeded")
    assert post.offer_activation == (outcome == "succeeded")


def test_completion_posts_without_chart_when_metrics_fail(settings, openai_client, fake_openai):
    provider = build_provider(settings, openai=openai_client)
    plan = plan_job(many(12), settings)
    job = provider.start_job(plan.export, JobRequest(request_id="r", guild_id="1", dataset="d"), epochs=3)
    provider.retrieve(job.job_id)
    provider.retrieve(job.job_id)
    fake_openai.fail_next(500, method="GET", path="/files/{id}/content")
    done = provider.retrieve(job.job_id)
    post = completion_for(provider, done)
    assert done.status == "succeeded" and post.chart_png is None
