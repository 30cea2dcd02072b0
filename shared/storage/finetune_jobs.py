"""Fine-tune job records in the data table, and the guild's active model.

Records (keys from :mod:`shared.storage.keys`):

- job: ``pk=GUILD#{guild}``, ``sk=JOB#{request_id}``. The record is written *before* the provider is asked to
  create anything, under the id of the request (the confirming interaction), so a redelivered start finds it;
  ``job_id`` (the provider's id) is filled in once the provider answers. While the job is not terminal the
  record carries ``gsi1pk=FTJOB#ACTIVE`` so the watcher can list active jobs across guilds without a scan;
  the attribute is removed with the terminal status.
- pointer: ``pk=FTJOB#{provider}#{job_id}``, ``sk=POINTER``: guild and request of a provider job id, for
  webhook deliveries that name only the provider's id.
- model: ``pk=GUILD#{guild}``, ``sk=FTMODEL#{finished_at:012d}#{request_id}``: a model a succeeded job made,
  so /model's choices (read on every autocomplete keystroke) are one short newest-first query.
- active model: the ``active_model`` attribute of the guild settings record (``sk=SETTINGS``), updated on its
  own so that the other attributes there (selected dataset, trainer role) are kept; with it ``active_provider``
  and ``active_serving_id`` (what inference calls use: a Bedrock deployment's ARN, or the model itself).
- deployment: a Bedrock custom model's on-demand deployment lives on its job record (``deployment_arn``,
  ``deployment_status``). While the watcher has to follow one, the record is back on the active index.
- two stages (supervised, then preference): one record. Its preference files are uploaded at Start
  (``preference_file``); when stage 1 succeeds the watcher claims the record (``stage2_lease_until``), starts
  stage 2 on stage 1's model, and moves ``job_id`` to stage 2's job (a pointer is written for it as for any job id),
  keeping stage 1's in ``stage1_job_id`` / ``stage1_model``.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from shared.domain.time import utc_now
from shared.errors import NotSaved
from shared.finetune.jobs import TERMINAL_STATUSES, FineTuneJob
from shared.storage import keys
from shared.storage.table import ConditionFailed, DataTable

logger = logging.getLogger(__name__)

# Before the provider has answered, a recorded start is "starting": active, so the watcher can finish it.
STARTING = "starting"


@dataclass(frozen=True)
class FineTuneJobRecord:
    guild_id: str
    request_id: str
    dataset: str
    provider: str
    base_model: str
    requested_by: str = ""
    channel_id: str = ""
    snapshot: str = ""
    method: str = ""
    estimate: str = ""
    estimated_cost_usd: str = ""
    status: str = STARTING
    job_id: str = ""
    fine_tuned_model: str = ""
    trained_tokens: int = 0
    error: str = ""
    created_at: str = ""
    updated_at: str = ""
    # When the completion post went out; set once, with a condition, so only one watcher posts.
    posted_at: str = ""
    # The on-demand deployment of a Bedrock custom model: creating, active, failed or deleted.
    deployment_arn: str = ""
    deployment_status: str = ""
    # Who pressed "Make active" while the deployment was being created: it becomes active when ready.
    activate_by: str = ""
    # A preference stage after the supervised one: 2 stages, its files (uploaded at Start), pairs and epochs.
    stages: int = 1
    preference_pairs: int = 0
    preference_epochs: int = 0
    preference_file: str = ""
    preference_validation_file: str = ""
    # Set when stage 2 starts (job_id is then stage 2's), or when it could not be started.
    stage1_job_id: str = ""
    stage1_model: str = ""
    stage1_trained_tokens: int = 0  # trained_tokens follows stage 2's job once it runs
    stage2_failures: int = 0
    # Who cancelled the job before its stage 2 started: stage 2 must not start (or is cancelled at once).
    stage2_cancelled_by: str = ""
    # How many times a failed stage 2 was started again ("Retry stage 2"): each start has its own request id.
    stage2_retries: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def in_stage2(self) -> bool:
        """Whether ``job_id`` is the preference stage's job (stage 1 has succeeded and stage 2 was started)."""
        return self.stages == 2 and bool(self.stage1_job_id) and self.job_id != self.stage1_job_id

    @property
    def usable_model(self) -> str:
        """The model this job leaves to make active: its final one, or stage 1's when stage 2 did not finish."""
        if self.status == "succeeded" and self.fine_tuned_model:
            return self.fine_tuned_model
        return self.stage1_model if self.is_terminal else ""

    @property
    def deployment_live(self) -> bool:
        return bool(self.deployment_arn) and self.deployment_status in ("creating", "active")

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> FineTuneJobRecord:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in item:
                raw = item[f.name]
                values[f.name] = int(raw) if f.name in _INT_FIELDS else str(raw)
        return cls(**values)


_INT_FIELDS = ("trained_tokens", "stages", "preference_pairs", "preference_epochs", "stage2_failures",
               "stage1_trained_tokens", "stage2_retries")


class FineTuneJobStore:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self._table = DataTable(table_name, dynamodb_client)
        self.name = table_name

    # --- jobs ------------------------------------------------------------------------------------------------

    def record_start(self, record: FineTuneJobRecord) -> tuple[FineTuneJobRecord, bool]:
        """Write the record unless this request already has one; return (the stored record, created?)."""
        now = utc_now()
        record = replace(record, created_at=record.created_at or now, updated_at=now)
        item = {
            "pk": keys.guild_pk(record.guild_id),
            "sk": keys.job_sk(record.request_id),
            "type": "finetune_job",
            "gsi1pk": keys.ACTIVE_JOBS_PK,
            "gsi1sk": keys.active_job_sk(record.created_at, record.guild_id, record.request_id),
            **{k: v for k, v in asdict(record).items() if k != "posted_at"},
        }
        if self._table.put_new(item):
            return record, True
        existing = self.get(record.guild_id, record.request_id)
        if existing is None:  # pragma: no cover - the condition failed, so it exists
            raise NotSaved(detail="job record vanished")
        return existing, False

    def get(self, guild_id: str, request_id: str) -> FineTuneJobRecord | None:
        item = self._table.get(keys.guild_pk(guild_id), keys.job_sk(request_id))
        return FineTuneJobRecord.from_item(item) if item else None

    def update_from_provider(self, record: FineTuneJobRecord, job: FineTuneJob, *,
                             keep_active: bool = False) -> FineTuneJobRecord:
        """Store what the provider says of the job; a terminal status leaves the active index, unless
        ``keep_active`` (a terminal job found by a start: the watcher still has to post its completion)."""
        changes: dict[str, Any] = {
            "job_id": job.job_id,
            "status": job.status,
            "updated_at": utc_now(),
        }
        if job.fine_tuned_model:
            changes["fine_tuned_model"] = job.fine_tuned_model
        if job.trained_tokens is not None:
            changes["trained_tokens"] = int(job.trained_tokens)
        if job.error:
            changes["error"] = job.error[:1000]
        if job.method:
            changes["method"] = job.method
        self._update(record, changes, leave_index=job.is_terminal and not keep_active)
        if job.job_id and job.job_id != record.job_id:
            self._table.put({"pk": keys.provider_job_pk(record.provider, job.job_id), "sk": "POINTER",
                             "guild_id": record.guild_id, "request_id": record.request_id})
        if job.status == "succeeded" and job.fine_tuned_model:
            # The same key on every update: written again, never twice.
            self._table.put({"pk": keys.guild_pk(record.guild_id),
                             "sk": keys.model_sk(job.finished_at or 0, record.request_id),
                             "model": job.fine_tuned_model, "request_id": record.request_id})
        return replace(record, **changes)

    def mark_failed_to_start(self, record: FineTuneJobRecord, reason: str) -> FineTuneJobRecord:
        """The provider refused to create the job: nothing was spent, the record says why."""
        changes: dict[str, Any] = {"status": "failed", "error": reason[:1000], "updated_at": utc_now()}
        self._update(record, changes, leave_index=True)
        return replace(record, **changes)

    def claim_start(self, record: FineTuneJobRecord, *, lease_seconds: int, now: float | None = None) -> bool:
        """True if this caller may ask the provider to create the job now: no other worker holds the lease.

        Two clicks on one estimate can run at once in two workers, and the provider's look-up by request id
        cannot see a create still in flight; the lease lets one of them create. It outlives a worker's run
        and ends before the queue redelivers a crashed worker's message. ``now``: epoch seconds (default: now)."""
        now = int(time.time() if now is None else now)
        try:
            self._table.update(*self._key(record), set={"start_lease_until": now + lease_seconds},
                               condition="attribute_exists(pk) AND "
                                         "(attribute_not_exists(start_lease_until) OR start_lease_until < :now)",
                               values={":now": now})
        except ConditionFailed:
            return False
        return True

    def release_start(self, record: FineTuneJobRecord) -> None:
        """The attempt is over (the job exists, or the attempt failed): another may try."""
        self._table.update(*self._key(record), remove=("start_lease_until",))

    def claim_post(self, record: FineTuneJobRecord) -> bool:
        """True once per job: the caller that gets True posts the completion message."""
        try:
            self._table.update(*self._key(record), set={"posted_at": utc_now()},
                               condition="attribute_exists(pk) AND attribute_not_exists(posted_at)")
        except ConditionFailed:
            return False
        return True

    def release_post(self, record: FineTuneJobRecord) -> None:
        """The post failed: let the next watcher tick try again."""
        self._table.update(*self._key(record), remove=("posted_at",))

    # --- the preference stage ---------------------------------------------------------------------------

    def set_preference_files(self, record: FineTuneJobRecord, training_file: str,
                             validation_file: str) -> FineTuneJobRecord:
        """The provider's ids of stage 2's files, uploaded at Start with stage 1's."""
        changes: dict[str, Any] = {"preference_file": training_file, "preference_validation_file": validation_file,
                                   "updated_at": utc_now()}
        self._update(record, changes, leave_index=False)
        return replace(record, **changes)

    def claim_stage2(self, record: FineTuneJobRecord, *, lease_seconds: int, now: float | None = None) -> bool:
        """True if this caller may start stage 2 now: it has not been started, and no other caller holds the
        lease (a schedule tick and a webhook delivery can see stage 1's success at the same time)."""
        now = int(time.time() if now is None else now)
        try:
            self._table.update(*self._key(record), set={"stage2_lease_until": now + lease_seconds},
                               condition="attribute_exists(pk) AND stages = :two AND #status <> :failed AND "
                                         "#status <> :cancelled AND (attribute_not_exists(stage2_cancelled_by) "
                                         "OR stage2_cancelled_by = :none) AND "
                                         "(attribute_not_exists(stage1_job_id) OR stage1_job_id = :none) AND "
                                         "(attribute_not_exists(stage2_lease_until) OR stage2_lease_until < :now)",
                               values={":now": now, ":two": 2, ":none": "", ":failed": "failed",
                                       ":cancelled": "cancelled"},
                               names={"#status": "status"})
        except ConditionFailed:
            return False
        return True

    def begin_stage2(self, record: FineTuneJobRecord, stage1: FineTuneJob, stage2: FineTuneJob) -> FineTuneJobRecord:
        """Stage 2 exists: the record follows its job from now on; stage 1's model is kept (and listed)."""
        changes: dict[str, Any] = {"stage1_job_id": stage1.job_id, "stage1_model": str(stage1.fine_tuned_model),
                                   "job_id": stage2.job_id, "status": stage2.status, "updated_at": utc_now()}
        if stage1.trained_tokens is not None:
            changes["trained_tokens"] = changes["stage1_trained_tokens"] = int(stage1.trained_tokens)
        self._table.update(*self._key(record), set=changes, remove=("stage2_lease_until",),
                           condition="attribute_exists(pk)")
        self._table.put({"pk": keys.provider_job_pk(record.provider, stage2.job_id), "sk": "POINTER",
                         "guild_id": record.guild_id, "request_id": record.request_id})
        self._table.put({"pk": keys.guild_pk(record.guild_id),
                         "sk": keys.model_sk(stage1.finished_at or 0, f"{record.request_id}-stage1"),
                         "model": str(stage1.fine_tuned_model), "request_id": record.request_id})
        return replace(record, **changes)

    def cancel_stage2(self, record: FineTuneJobRecord, user_id: str) -> FineTuneJobRecord:
        """Stage 2 must not run: no check may claim its start from now on. Returns the record as stored now
        (stage 2 may have been started meanwhile: the caller then cancels that job)."""
        self._update(record, {"stage2_cancelled_by": user_id, "updated_at": utc_now()}, leave_index=False)
        return self.get(record.guild_id, record.request_id) or record

    def retry_stage2(self, record: FineTuneJobRecord) -> FineTuneJobRecord | None:
        """A failed stage 2 (it ran and failed, or could not be started): follow stage 1's succeeded job again, so
        the watcher starts a new stage 2 on its model. None when the record is no longer in that state (a second
        press, or a retry already under way)."""
        now = utc_now()
        changes: dict[str, Any] = {
            "job_id": record.stage1_job_id, "stage1_job_id": "", "status": "running", "error": "",
            "fine_tuned_model": "", "stage2_failures": 0, "stage2_retries": record.stage2_retries + 1,
            "updated_at": now, "gsi1pk": keys.ACTIVE_JOBS_PK,
            "gsi1sk": keys.active_job_sk(now, record.guild_id, record.request_id)}
        try:
            self._table.update(*self._key(record), set=changes, remove=("posted_at", "stage2_lease_until"),
                               condition="#status = :failed AND stages = :two AND stage1_job_id = :stage1 AND "
                                         "job_id = :job",
                               values={":failed": "failed", ":two": 2, ":stage1": record.stage1_job_id,
                                       ":job": record.job_id},
                               names={"#status": "status"})
        except ConditionFailed:
            return None
        changes.pop("gsi1pk")
        changes.pop("gsi1sk")
        return replace(record, posted_at="", **changes)

    def stage2_not_started(self, record: FineTuneJobRecord, stage1: FineTuneJob) -> FineTuneJobRecord:
        """Stage 1 succeeded but stage 2 was cancelled before it started: the job ends cancelled, and stage 1's
        model is what it leaves (listed, and offered to make active). It stays on the watch list until posted."""
        changes: dict[str, Any] = {"status": "cancelled", "stage1_job_id": stage1.job_id,
                                   "stage1_model": str(stage1.fine_tuned_model), "updated_at": utc_now()}
        if stage1.trained_tokens is not None:
            changes["trained_tokens"] = changes["stage1_trained_tokens"] = int(stage1.trained_tokens)
        self._update(record, changes, leave_index=False)
        self._table.put({"pk": keys.guild_pk(record.guild_id),
                         "sk": keys.model_sk(stage1.finished_at or 0, f"{record.request_id}-stage1"),
                         "model": str(stage1.fine_tuned_model), "request_id": record.request_id})
        return replace(record, **changes)

    def stage2_start_failed(self, record: FineTuneJobRecord, stage1: FineTuneJob, reason: str, *,
                            give_up_after: int) -> FineTuneJobRecord:
        """A failed start of stage 2: counted and released for the next tick; after ``give_up_after`` of
        them the job is failed, and stage 1's model is what it leaves (it stays on the watch list until the
        watcher has posted that)."""
        failures = record.stage2_failures + 1
        changes: dict[str, Any] = {"stage2_failures": failures, "error": reason[:1000], "updated_at": utc_now()}
        give_up = failures >= give_up_after
        if give_up:
            changes.update(status="failed", stage1_job_id=stage1.job_id, stage1_model=str(stage1.fine_tuned_model))
        self._table.update(*self._key(record), set=changes,
                           remove=("stage2_lease_until",),
                           condition="attribute_exists(pk)")
        if give_up:
            self._table.put({"pk": keys.guild_pk(record.guild_id),
                             "sk": keys.model_sk(stage1.finished_at or 0, f"{record.request_id}-stage1"),
                             "model": str(stage1.fine_tuned_model), "request_id": record.request_id})
        return replace(record, **changes)

    def leave_watch_list(self, record: FineTuneJobRecord) -> None:
        self._table.update(*self._key(record), remove=("gsi1pk", "gsi1sk"), condition="attribute_exists(pk)")

    def recent(self, guild_id: str, limit: int = 10) -> list[FineTuneJobRecord]:
        # Sort keys hold request ids (snowflakes or estimate keys), not times: read the guild's jobs, sort by time.
        records = [FineTuneJobRecord.from_item(i)
                   for i in self._table.query_prefix(keys.guild_pk(guild_id), keys.job_sk(""))]
        return sorted(records, key=lambda r: r.created_at, reverse=True)[:limit]

    def active(self, limit: int = 200) -> list[FineTuneJobRecord]:
        """Jobs not yet terminal, oldest first, across guilds (the watcher's work list)."""
        found = self._table.query_index(keys.ACTIVE_JOBS_INDEX, "gsi1pk", keys.ACTIVE_JOBS_PK)
        return [FineTuneJobRecord.from_item(item) for item in itertools.islice(found, limit)]

    def find_by_provider_job(self, provider: str, job_id: str) -> FineTuneJobRecord | None:
        pointer = self._table.get(keys.provider_job_pk(provider, job_id), "POINTER")
        if pointer is None:
            return None
        return self.get(str(pointer["guild_id"]), str(pointer["request_id"]))

    def fine_tuned_models(self, guild_id: str, limit: int = 25) -> list[str]:
        """The models this guild's succeeded jobs made, newest first: one query reading ``limit`` items."""
        items = self._table.query_prefix(keys.guild_pk(guild_id), keys.MODEL_PREFIX, newest_first=True, limit=limit,
                                         attributes=("model",))
        return [str(item["model"]) for item in items if "model" in item]

    def find_by_model(self, guild_id: str, model: str, limit: int = 100) -> FineTuneJobRecord | None:
        return next((r for r in self.recent(guild_id, limit=limit) if model in (r.fine_tuned_model, r.stage1_model)),
                    None)

    # --- deployments ----------------------------------------------------------------------------------------

    def set_deployment(self, record: FineTuneJobRecord, arn: str, status: str, *, watch: bool | None = None,
                       activate_by: str | None = None) -> FineTuneJobRecord:
        """Store a deployment's state; ``watch`` puts the record back on (True) or takes it off (False) the
        watcher's list; ``activate_by`` records (or, with "", clears) a pending "Make active"."""
        changes: dict[str, Any] = {"deployment_arn": arn, "deployment_status": status, "updated_at": utc_now()}
        if activate_by is not None:
            changes["activate_by"] = activate_by
        if watch:
            changes.update(gsi1pk=keys.ACTIVE_JOBS_PK,
                           gsi1sk=keys.active_job_sk(utc_now(), record.guild_id, record.request_id))
        self._table.update(*self._key(record), set=changes, remove=("gsi1pk", "gsi1sk") if watch is False else (),
                           condition="attribute_exists(pk)")
        changes.pop("gsi1pk", None)
        changes.pop("gsi1sk", None)
        return replace(record, **changes)

    def live_deployments(self, guild_id: str, limit: int = 100) -> list[FineTuneJobRecord]:
        """This guild's job records whose deployment exists (creating or active)."""
        return [r for r in self.recent(guild_id, limit=limit) if r.deployment_live]

    # --- the guild's active model -------------------------------------------------------------------------

    def active_model(self, guild_id: str, base_model: str) -> str:
        """The model the guild's answers come from: the one a trainer made active, else ``base_model``."""
        item = self._table.get(keys.guild_pk(guild_id), keys.settings_sk(), attributes=("active_model",))
        return str(item["active_model"]) if item and item.get("active_model") else base_model

    def active_serving(self, guild_id: str) -> tuple[str, str, str] | None:
        """(model, provider, serving id) of the guild's active model, or None when none was chosen. Records
        written before the provider was stored give "" for both."""
        item = self._table.get(keys.guild_pk(guild_id), keys.settings_sk(),
                               attributes=("active_model", "active_provider", "active_serving_id"))
        if not item or not item.get("active_model"):
            return None
        return (str(item["active_model"]), str(item.get("active_provider") or ""),
                str(item.get("active_serving_id") or ""))

    def set_active_model(self, guild_id: str, model: str, *, set_by: str, provider: str = "",
                         serving_id: str = "") -> None:
        # Only these attributes: the guild's other settings on the same record are kept.
        self._table.update(keys.guild_pk(guild_id), keys.settings_sk(),
                           set={"active_model": model, "active_model_set_by": set_by,
                                "active_model_set_at": utc_now(), "active_provider": provider,
                                "active_serving_id": serving_id or model})

    # --- internals ------------------------------------------------------------------------------------------

    @staticmethod
    def _key(record: FineTuneJobRecord) -> tuple[str, str]:
        return keys.guild_pk(record.guild_id), keys.job_sk(record.request_id)

    def _update(self, record: FineTuneJobRecord, changes: dict[str, Any], *, leave_index: bool) -> None:
        try:
            self._table.update(*self._key(record), set=changes,
                               remove=("gsi1pk", "gsi1sk") if leave_index else (),
                               condition="attribute_exists(pk)")
        except ConditionFailed as exc:
            raise NotSaved(detail="job record missing") from exc
