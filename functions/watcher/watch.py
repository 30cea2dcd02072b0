"""Watching fine-tune jobs: one tick checks every active job; a terminal job gets its completion post.

The schedule calls :meth:`JobWatcher.tick`; the OpenAI webhook calls :meth:`JobWatcher.on_event` for the one
job a delivery names. Both go through :meth:`JobWatcher.check`, so they agree on what happens:

- the provider's status is stored on the job record (a terminal status takes the job off the active index);
- on a terminal status the channel where the job was started gets a message as the bot (the interaction
  token has long expired): status, tokens, duration, final losses, the loss chart as a PNG, and on success a
  "Make active" button. ``claim_post`` makes that happen once even when the schedule and a webhook race; a
  failed post is released and the record stays active, so the next tick tries again. The post is claimed
  before its chart is drawn, so a racing check draws nothing;
- each job is checked with the provider it was started on (``record.provider``), whatever is configured now;
- before the completion post of a succeeded job, the new model and the guild's active model answer the job's
  held-out validation examples (:mod:`shared.finetune.evaluation`). A Bedrock custom model answers only through
  a deployment, so one is created first (on demand: billed per token, nothing while idle) and the post waits
  until it is active or has failed;
- a record whose "Make active" waits for its deployment is back on the list: when the deployment is active the
  guild switches to it (and deployments nothing uses are deleted); either way the channel is told;
- a two-stage job (supervised, then preference) is not posted when stage 1 succeeds: stage 2 is started on stage
  1's model, once (a claim on the record: a schedule tick and a webhook delivery may both see the success), and the
  channel is told. A failed start is retried on the next check, and after ``STAGE2_START_ATTEMPTS`` the job is
  reported failed. Stage 2's end is posted as any job's, saying that both stages ran, or, when stage 2 failed,
  that stage 1's model can still be made active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.aws import AwsClients
from shared.config import Settings
from shared.discord.components import activate_model_button, retry_stage2_button, row
from shared.discord.rest import DiscordRest
from shared.discord.text import clip
from shared.errors import BotError
from shared.finetune.catalog import load_catalog
from shared.finetune.evaluation import compare_models, held_out_examples
from shared.finetune.jobs import FineTuneJob, JobRequest, ModelDeployment
from shared.finetune.planning import completion_for
from shared.finetune.providers import (
    SIMULATED_NOTE,
    FineTuneProvider,
    ProvidersByName,
    cancel_or_finished,
    is_simulated,
)
from shared.finetune.serving import Serving, active_serving, make_active
from shared.finetune.webhooks import WebhookEvent
from shared.storage import keys
from shared.storage.finetune_jobs import FineTuneJobRecord, FineTuneJobStore
from shared.storage.stores import Stores

logger = logging.getLogger(__name__)

# A start recorded this long ago whose provider job never appeared did not happen (every delivery failed).
STARTING_GIVE_UP = timedelta(hours=2)
CHART_FILENAME = "loss.png"
# Longer than a watcher run (its timeout, 120 s), shorter than the schedule (5 minutes): a live stage-2 start is
# never doubled, one that crashed is taken over by the next tick (template.yaml).
STAGE2_LEASE_SECONDS = 150
# Failed stage-2 starts before the job is reported failed (about 25 minutes of schedule ticks).
STAGE2_START_ATTEMPTS = 5


@dataclass
class TickReport:
    checked: int = 0
    posted: int = 0
    failed: int = 0
    statuses: dict[str, str] = field(default_factory=dict)


class JobWatcher:
    def __init__(self, settings: Settings, *, jobs: FineTuneJobStore,
                 provider_factory: Callable[[str], FineTuneProvider], discord: DiscordRest,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), s3: Any = None) -> None:
        self.settings = settings
        self.s3 = s3
        self.catalog = load_catalog(settings)
        self.jobs = jobs
        self._providers = ProvidersByName(provider_factory)
        self.discord = discord
        self._now = now

    def provider(self, name: str) -> FineTuneProvider:
        """The provider called ``name`` (built on first use)."""
        return self._providers(name)

    def tick(self) -> TickReport:
        """Check every active job; one job's failure does not stop the others."""
        report = TickReport()
        for record in self.jobs.active():
            report.checked += 1
            try:
                status, posted = self.check(record)
            except Exception as exc:  # logged per job; the next tick retries it
                report.failed += 1
                logger.error("watching job %s of guild %s failed: %s", record.job_id or record.request_id,
                             record.guild_id, exc if isinstance(exc, BotError) else repr(exc))
                continue
            report.statuses[record.request_id] = status
            report.posted += int(posted)
        # A tick with nothing to watch is the usual case (make run ticks every 5 s): not worth a line at INFO.
        logger.log(logging.INFO if report.checked else logging.DEBUG, "watcher tick: %d checked, %d posted, %d failed",
                   report.checked, report.posted, report.failed)
        return report

    def on_event(self, event: WebhookEvent) -> tuple[str, bool] | None:
        """A verified webhook delivery: check the job it names (the event's status is not trusted alone)."""
        # Webhooks are OpenAI's, whatever provider new jobs use now.
        record = self.jobs.find_by_provider_job("openai", event.job_id)
        if record is None:
            logger.info("webhook %s names job %s, which is not one of ours", event.event_id, event.job_id)
            return None
        if record.is_terminal and record.posted_at:
            return record.status, False
        return self.check(record)

    def check(self, record: FineTuneJobRecord) -> tuple[str, bool]:
        """(the job's status, whether this call posted its completion)."""
        if not record.job_id:
            recovered = self._recover_start(record)
            if recovered is None or not recovered.job_id:
                return (recovered or record).status, False
            record = recovered  # found: from here it is checked (and posted) like any other
        provider = self.provider(record.provider)
        if record.is_terminal and record.posted_at:
            # Posted already: on the list again only to follow a deployment.
            return record.status, self._follow_deployment(record, provider)
        job = provider.retrieve(record.job_id)
        if record.stages == 2 and not record.in_stage2 and job.status == "succeeded":
            return self._stage1_succeeded(record, provider, job)
        deployment = None
        if job.status == "succeeded" and job.fine_tuned_model and provider.needs_deployment(job.fine_tuned_model):
            record, deployment = self._deploy_for_check(record, provider, job)
            if deployment is not None and not deployment.is_settled:
                self.jobs.update_from_provider(record, job, keep_active=True)
                return job.status, False
        posted = False
        if job.is_terminal and record.channel_id and self.jobs.claim_post(record):
            try:
                # Metrics, the chart and the held-out check only for the one check that will post.
                post = completion_for(provider, job, simulated=is_simulated(self.settings, record.provider))
                text = post.text
                offer_activation = post.offer_activation
                retry = record.in_stage2 and job.status == "failed"
                if record.stages == 2:
                    text = f"{text}\n{_stages_text(record, job)}"
                    # Stage 2 did not finish: stage 1's model is paid for, and stays usable.
                    offer_activation = offer_activation or (record.in_stage2 and bool(record.stage1_model))
                if job.status == "succeeded":
                    try:
                        check = self._held_out_check(record, provider, job, deployment)
                    except Exception as exc:  # the evidence is a bonus: the post goes out without it
                        logger.warning("held-out check of %s failed: %r", record.request_id, exc)
                        check = "No held-out check: the models could not be asked this time."
                    text = f"{text}\n{check}"
                self._post(record, text, post.chart_png, offer_activation, retry_stage2=retry)
            except Exception:
                # Stay active and unposted: the next tick posts it.
                self.jobs.release_post(record)
                raise
            posted = True
        self.jobs.update_from_provider(record, job)
        return job.status, posted

    # --- the preference stage ---------------------------------------------------------------------------

    def _stage1_succeeded(self, record: FineTuneJobRecord, provider: FineTuneProvider,
                          stage1: FineTuneJob) -> tuple[str, bool]:
        """Start stage 2 on stage 1's model (once), or report that it could not be started."""
        if record.status == "failed":
            return "failed", self._post_stage2_not_started(record)  # given up; its post did not go out yet
        if record.stage2_cancelled_by:
            record = self.jobs.stage2_not_started(record, stage1)
            return "cancelled", self._post_stage2_not_started(record)
        if not self.jobs.claim_stage2(record, lease_seconds=STAGE2_LEASE_SECONDS):
            return "running", False  # another check is starting it, or has
        model = str(stage1.fine_tuned_model)
        try:
            stage2 = provider.start_preference_job(
                model, record.preference_file, record.preference_validation_file,
                JobRequest(request_id=_stage2_request_id(record), guild_id=record.guild_id, dataset=record.dataset,
                           snapshot=record.snapshot, requested_by=record.requested_by),
                epochs=record.preference_epochs or 1)
        except Exception as exc:  # counted, released: the next check tries again, up to the bound
            reason = exc.user_message if isinstance(exc, BotError) else "the provider did not take the job"
            logger.warning("stage 2 of %s did not start: %r", record.request_id, exc)
            failed = self.jobs.stage2_start_failed(record, stage1, reason, give_up_after=STAGE2_START_ATTEMPTS)
            if failed.status != "failed":
                return "running", False
            return "failed", self._post_stage2_not_started(failed)
        record = self.jobs.begin_stage2(record, stage1, stage2)
        if (self.jobs.get(record.guild_id, record.request_id) or record).stage2_cancelled_by:
            # Cancelled while this start was under way (the cancel found stage 2 not started yet).
            cancelled = cancel_or_finished(provider, stage2.job_id)
            self.jobs.update_from_provider(record, cancelled, keep_active=True)
            return cancelled.status, False
        if record.stage2_retries:
            text = (f"Stage 2 of 2 (preference, {record.preference_pairs} pairs) started again on `{model}` (retry "
                    f"{record.stage2_retries}): job `{stage2.job_id}`. I'll post here when it finishes.")
        else:
            text = (f"Stage 1 of 2 (supervised) finished; stage 2 (preference, {record.preference_pairs} pairs) "
                    f"started on `{model}`: job `{stage2.job_id}`. I'll post here when it finishes.")
        if is_simulated(self.settings, record.provider):
            text += f"\n{SIMULATED_NOTE}"
        if record.channel_id:
            try:
                self.discord.create_message(record.channel_id, content=clip(text))
            except BotError as exc:  # stage 2 runs either way; its completion is posted
                logger.warning("progress message of %s not posted: %s", record.request_id, exc)
        return stage2.status, False

    def _post_stage2_not_started(self, record: FineTuneJobRecord) -> bool:
        """Stage 2 could not be started: say so, with stage 1's model to make active; then leave the list."""
        posted = False
        if record.channel_id and self.jobs.claim_post(record):
            if record.stage2_cancelled_by:
                why = (f"⏹️ Stage 2 of 2 (preference, {record.preference_pairs} pairs) was cancelled by "
                       f"<@{record.stage2_cancelled_by}> before it started.")
            else:
                why = (f"❌ Stage 2 of 2 (preference, {record.preference_pairs} pairs) could not be started after "
                       f"{record.stage2_failures} tries: {record.error or 'no reason given'}")
            text = (f"{why}\nStage 1 (supervised, job `{record.stage1_job_id}`) finished: its model "
                    f"`{record.stage1_model}` exists and can still be made active.")
            if is_simulated(self.settings, record.provider):
                text += f"\n{SIMULATED_NOTE}"
            try:
                self._post(record, text, None, True, retry_stage2=not record.stage2_cancelled_by)
            except Exception:
                self.jobs.release_post(record)
                raise
            posted = True
        self.jobs.leave_watch_list(record)
        return posted

    # --- deployments and the held-out check --------------------------------------------------------------

    def _deploy_for_check(self, record: FineTuneJobRecord, provider: FineTuneProvider,
                          job: FineTuneJob) -> tuple[FineTuneJobRecord, ModelDeployment | None]:
        """The deployment a new Bedrock model answers through; None where it cannot be served on demand."""
        spec = self.catalog.models.get((record.provider, record.base_model))
        if spec is not None and not spec.on_demand_in(self.settings.aws_region):
            return record, None
        if record.deployment_arn and record.deployment_status in ("active", "failed"):
            return record, ModelDeployment(record.deployment_arn, record.deployment_status)
        try:
            if record.deployment_arn:
                deployment = provider.deployment(record.deployment_arn)
            else:
                deployment = provider.deploy(str(job.fine_tuned_model), record.request_id)
        except BotError as exc:
            if exc.retryable:
                raise  # busy: the next tick tries again
            # Refused (quota, access): the post goes out without the check rather than never.
            logger.warning("no deployment for the held-out check of %s: %s", record.request_id, exc)
            return record, ModelDeployment("", "failed", failure=exc.user_message)
        if deployment.status != record.deployment_status or deployment.arn != record.deployment_arn:
            record = self.jobs.set_deployment(record, deployment.arn, deployment.status)
        return record, deployment

    def _held_out_check(self, record: FineTuneJobRecord, provider: FineTuneProvider, job: FineTuneJob,
                        deployment: ModelDeployment | None) -> str:
        """The comparison text for the completion post; a sentence saying why when there is none."""
        model = str(job.fine_tuned_model)
        if provider.needs_deployment(model):
            spec = self.catalog.models.get((record.provider, record.base_model))
            if deployment is None:
                title = spec.title if spec else record.base_model
                return (f"⚠️ {title} custom models cannot be served on demand in {self.settings.aws_region}, so "
                        "there is no held-out check, and serving this model needs Provisioned Throughput (billed "
                        "by the hour, bought in the Bedrock console). Nova Micro, Lite and Pro are served per token.")
            if deployment.status != "active":
                reason = deployment.failure or "no reason given"
                return (f"⚠️ No held-out check: the on-demand deployment failed ({reason}). **Make active** "
                        "tries to deploy it again.")
            new_id = deployment.arn
        else:
            new_id = model
        examples = self._validation_examples(record)
        if not examples:
            return "No held-out check: this job had no validation examples (10 or more examples make a split)."
        active = active_serving(self.jobs, record.guild_id, self.settings)
        comparison = compare_models(
            examples, new_model=model, new=lambda m: provider.complete(m, new_id),
            active_model=active.model, active=lambda m: self._answer(active, m))
        return comparison.text()

    def _answer(self, serving: Serving, messages: list[dict[str, str]]) -> str:
        return self.provider(serving.provider).complete(messages, serving.serving_id)

    def _validation_examples(self, record: FineTuneJobRecord) -> list[tuple[list[dict[str, str]], str]]:
        """The held-out lines this job was given, as the worker kept them in the bucket."""
        if self.s3 is None or not self.settings.bucket_name or not record.snapshot:
            return []
        key = keys.export_key(record.guild_id, f"finetune-{record.dataset}-{record.snapshot}", "validation",
                              ".jsonl")
        try:
            body = self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read()
        except Exception as exc:  # no file means no check, never no post
            logger.info("no validation file for %s: %s", record.request_id, exc)
            return []
        return held_out_examples(body)

    def _follow_deployment(self, record: FineTuneJobRecord, provider: FineTuneProvider) -> bool:
        """A "Make active" waiting for its deployment: switch when it is active, tell the channel either way."""
        if not record.deployment_arn:
            self.jobs.set_deployment(record, "", "", watch=False, activate_by="")
            return False
        deployment = provider.deployment(record.deployment_arn)
        if not deployment.is_settled:
            return False
        model = record.fine_tuned_model
        if deployment.status == "active" and record.activate_by:
            before = active_serving(self.jobs, record.guild_id, self.settings)
            record = self.jobs.set_deployment(record, deployment.arn, "active", watch=False, activate_by="")
            make_active(self.jobs, record.guild_id, Serving(model, record.provider, deployment.arn),
                        set_by=record.activate_by or "watcher", provider_for=self.provider)
            text = (f"✅ `{model}` is deployed and is now this server's active model: `/ask` and `/test` use it "
                    f"(before: `{before.model}`).")
        else:
            reason = deployment.failure or deployment.status
            self.jobs.set_deployment(record, deployment.arn, deployment.status, watch=False, activate_by="")
            current = active_serving(self.jobs, record.guild_id, self.settings).model
            text = f"❌ The deployment of `{model}` did not become active ({reason}). `/ask` keeps using `{current}`."
        if is_simulated(self.settings, record.provider):
            text += f"\n{SIMULATED_NOTE}"
        if record.channel_id:
            self.discord.create_message(record.channel_id, content=clip(text))
        return True

    def _recover_start(self, record: FineTuneJobRecord) -> FineTuneJobRecord | None:
        """A start was recorded but the worker never saw the provider's answer: find the job by request id.

        The found job is stored and kept on the active list (the caller checks and posts it); a start that
        never got through is given up after a while; None while it may still be on its way."""
        found = self.provider(record.provider).find_job_by_request(record.request_id)
        if found is not None:
            return self.jobs.update_from_provider(record, found, keep_active=True)
        created = datetime.fromisoformat(record.created_at) if record.created_at else self._now()
        if self._now() - created > STARTING_GIVE_UP:
            return self.jobs.mark_failed_to_start(
                record, "The job never started (the start request did not get through).")
        return None

    def _post(self, record: FineTuneJobRecord, text: str, chart: bytes | None, offer_activation: bool, *,
              retry_stage2: bool = False) -> None:
        who = f"Started by <@{record.requested_by}> from `{record.dataset}`." if record.requested_by else ""
        content = f"{text}\n{who}".strip()
        buttons = [activate_model_button(record.request_id)] if offer_activation else []
        if retry_stage2:  # stage 1's model stays; only stage 2 is trained (and billed) again
            buttons.append(retry_stage2_button(record.request_id))
        components = [row(*buttons)] if buttons else None
        files: list[tuple[str, bytes]] | None = [(CHART_FILENAME, chart)] if chart else None
        self.discord.create_message(record.channel_id, content=clip(content), files=files,
                                    components=components)
        logger.info("posted completion of job %s to channel %s", record.job_id, record.channel_id)


def build_watcher(settings: Settings, *, aws: AwsClients | None = None, discord: DiscordRest | None = None,
                  openai: Any = None) -> JobWatcher:
    """The watcher with clients built lazily from ``settings`` (tests pass their own)."""
    from shared.finetune.providers import build_provider

    stores = Stores(settings, aws)
    return JobWatcher(
        settings,
        jobs=stores.finetune_jobs,
        provider_factory=lambda name: build_provider(settings, name=name, aws_client=stores.aws.client,
                                                     openai=openai),
        discord=discord or DiscordRest(settings),
        s3=stores.aws.s3,
    )


def _stage2_request_id(record: FineTuneJobRecord) -> str:
    """Stage 2's own request id: a retried start finds its job rather than making another, and each "Retry
    stage 2" is a new start."""
    suffix = f"-{record.stage2_retries + 1}" if record.stage2_retries else ""
    return f"{record.request_id}-dpo{suffix}"


def _stages_text(record: FineTuneJobRecord, job: FineTuneJob) -> str:
    """What the two stages of a job did, for its completion post."""
    if not record.in_stage2:
        return (f"Stage 1 of 2 (supervised) {job.status}: stage 2 (preference, {record.preference_pairs} pairs) "
                "did not run.")
    tokens = ""
    if record.stage1_trained_tokens:
        tokens = f" Stage 1 trained {record.stage1_trained_tokens:,} tokens"
        tokens += (f", {record.stage1_trained_tokens + job.trained_tokens:,} with stage 2's above."
                   if job.trained_tokens else ".")
    if job.status == "succeeded":
        return (f"Both stages ran: stage 1 (supervised, job `{record.stage1_job_id}`) made `{record.stage1_model}`; "
                f"stage 2 (preference, {record.preference_pairs} pairs) trained it into `{job.fine_tuned_model}`."
                + tokens)
    return (f"Stage 2 of 2 (preference, {record.preference_pairs} pairs) {job.status}. Stage 1 (supervised, job "
            f"`{record.stage1_job_id}`) finished: its model `{record.stage1_model}` exists and can still be made "
            "active." + tokens)
