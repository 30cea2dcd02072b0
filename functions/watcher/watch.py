"""Watching fine-tune jobs: one tick checks every active job; a terminal job gets its completion post.

The schedule calls :meth:`JobWatcher.tick`; the OpenAI webhook calls :meth:`JobWatcher.on_event` for the one
job a delivery names. Both go through :meth:`JobWatcher.check`, so they agree on what happens:

- the provider's status is stored on the job record (a terminal status takes the job off the active index);
- on a terminal status the channel where the job was started gets a message as the bot (the interaction
  token has long expired): status, tokens, duration, final losses, the loss chart as a PNG, and on success a
  "Make active" button. ``claim_post`` makes that happen once even when the schedule and a webhook race; a
  failed post is released and the record stays active, so the next tick tries again. The post is claimed
  before its chart is drawn, so a racing check draws nothing;
- each job is checked with the provider it was started on (``record.provider``), whatever is configured now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.aws import AwsClients
from shared.config import Settings
from shared.discord.components import activate_model_button, row
from shared.discord.rest import DiscordRest
from shared.discord.text import clip
from shared.errors import BotError
from shared.finetune.planning import completion_for
from shared.finetune.providers import FineTuneProvider, is_simulated
from shared.finetune.webhooks import WebhookEvent
from shared.storage.finetune_jobs import FineTuneJobRecord, FineTuneJobStore
from shared.storage.stores import Stores

logger = logging.getLogger(__name__)

# A start recorded this long ago whose provider job never appeared did not happen (every delivery failed).
STARTING_GIVE_UP = timedelta(hours=2)
CHART_FILENAME = "loss.png"


@dataclass
class TickReport:
    checked: int = 0
    posted: int = 0
    failed: int = 0
    statuses: dict[str, str] = field(default_factory=dict)


class JobWatcher:
    def __init__(self, settings: Settings, *, jobs: FineTuneJobStore,
                 provider_factory: Callable[[str], FineTuneProvider], discord: DiscordRest,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.jobs = jobs
        self._provider_factory = provider_factory
        self._providers: dict[str, FineTuneProvider] = {}
        self.discord = discord
        self._now = now

    def provider(self, name: str) -> FineTuneProvider:
        """The provider called ``name`` (built on first use)."""
        if name not in self._providers:
            self._providers[name] = self._provider_factory(name)
        return self._providers[name]

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
        logger.info("watcher tick: %d checked, %d posted, %d failed", report.checked, report.posted,
                    report.failed)
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
        job = provider.retrieve(record.job_id)
        posted = False
        if job.is_terminal and record.channel_id and self.jobs.claim_post(record):
            try:
                # Metrics and the chart only for the one check that will post.
                post = completion_for(provider, job, simulated=is_simulated(self.settings))
                self._post(record, post.text, post.chart_png, post.offer_activation)
            except Exception:
                # Stay active and unposted: the next tick posts it.
                self.jobs.release_post(record)
                raise
            posted = True
        self.jobs.update_from_provider(record, job)
        return job.status, posted

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

    def _post(self, record: FineTuneJobRecord, text: str, chart: bytes | None, offer_activation: bool) -> None:
        who = f"Started by <@{record.requested_by}> from `{record.dataset}`." if record.requested_by else ""
        content = f"{text}\n{who}".strip()
        components = [row(activate_model_button(record.request_id))] if offer_activation else None
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
    )
