"""Worker tasks behind the trainer commands: ``train``, ``archive`` and ``getfile``.

Each task checks the caller's trainer permission again from the queued :class:`InteractionRef` (the queue is
internal, but the check is cheap), then does the slow part and returns the reply. Writes stay safe to repeat:
examples are keyed by fingerprint and marked with the interaction id, the upload key derives from the
interaction id, and a redelivered message is absorbed by the processor's idempotency record.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.worker.outcome import TaskOutcome
from functions.worker.trainers import require_trainer_for
from shared.contracts.enqueue import enqueue_task
from shared.contracts.messages import StartFinetuneArgs, TaskKind, TaskRequest
from shared.datasets.archives import archive_file_id, create_archive, reserve_archive_version
from shared.datasets.ingest import add_text, add_upload
from shared.datasets.report import IngestReport
from shared.discord.attachment_rules import too_large
from shared.discord.attachments import fetch_attachment_to_s3, upload_key
from shared.discord.components import row, start_training_button
from shared.discord.text import MAX_CONTENT, human_size
from shared.domain.time import utc_now
from shared.errors import BotError, InvalidInput, NotFound
from shared.storage import keys
from shared.storage.datasets import DatasetStore, validate_dataset_name
from shared.storage.files import FileRecord, FileStore

if TYPE_CHECKING:
    from functions.worker.services import WorkerServices

logger = logging.getLogger(__name__)

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what shared.domain.time.utc_now writes
STARTING = "Starting a fine-tune job… I'll tell you here when it has started."
NOT_STARTING_EMPTY = "Not starting a fine-tune job: the dataset is still empty."
START_FAILED = ("I couldn't start the fine-tune job: {reason} Your examples are saved; "
                "use the Start training button or `/train start:true` again.")


# -- /train -------------------------------------------------------------------------------------------------


def train(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, read = require_trainer_for(request.interaction, datasets)
    args = request.args
    text = args.text.strip()
    attachment = args.attachment
    if not text and not isinstance(attachment, dict):
        raise InvalidInput("Give `text` or attach a `file` to train on.")
    defaults = read or datasets.guild_settings(guild_id)
    dataset = validate_dataset_name(args.dataset or defaults.selected_dataset)
    positive = args.positive if args.positive is not None else defaults.default_positive
    ref = request.interaction
    reports: list[IngestReport] = []
    if text:
        # Its own upload id: an example in both the text and the file counts as a duplicate, not as resumed.
        reports.append(add_text(text, store=datasets, guild_id=guild_id, dataset=dataset,
                                upload_id=f"{ref.id}-text", positive=positive, added_by=ref.user_id))
    file_refused = ""
    if isinstance(attachment, dict):
        try:
            reports.append(_train_file(ctx, datasets, guild_id, dataset, attachment, upload_id=ref.id,
                                       positive=positive, added_by=ref.user_id))
        except BotError as exc:
            if exc.retryable or not reports:
                raise
            # The text example is stored already: say so, and why the file was not used.
            file_refused = f"The file was not added: {exc.user_message}"
    parts = [report.summary() for report in reports]
    kind = "positive examples (to imitate)" if positive else "negative examples (to avoid)"
    if any(report.from_archive for report in reports):
        parts.append(f"Stored in **{dataset}**; the archive's examples kept their own positive/negative flags "
                     "(`/dataset_show` lists them).")
    else:
        other = str(not positive).lower()
        parts.append(f"Stored as {kind} in **{dataset}**. To change that: `/train positive:{other}` "
                     f"for one upload, `/select_dataset {dataset} positive:…` for the default, or `/train dataset:…`.")
    if file_refused:
        parts.append(file_refused)
    if args.start:
        if reports[-1].dataset_size > 0:
            parts.append(STARTING)
            # Queued only once this reply is there, so start_finetune's follow-up cannot come before it.
            return TaskOutcome(content="\n\n".join(parts),
                               after_delivery=("start_finetune", {"dataset": dataset}))
        parts.append(NOT_STARTING_EMPTY)
        return TaskOutcome(content="\n\n".join(parts))
    # The validation report offers the next step: an estimate, then a task (nothing is spent on this click).
    has_data = reports[-1].dataset_size > 0
    return TaskOutcome(content="\n\n".join(parts),
                      components=[row(start_training_button(dataset))] if has_data else None)


def start_finetune_after(request: TaskRequest, ctx: WorkerServices, _message: dict[str, Any],
                         args: dict[str, Any]) -> None:
    """The after-delivery step of ``/train start:true``: queue start_finetune on the same interaction.

    It answers in a follow-up below the /train reply; its idempotency key (interaction id, kind) absorbs a
    second enqueue. The /train work is done either way, so a failed enqueue is told, not retried.
    """
    ref = request.interaction
    try:
        enqueue_task(ctx.aws.sqs, ctx.settings.jobs_queue_url,
                     TaskRequest(TaskKind.START_FINETUNE, ref, StartFinetuneArgs(dataset=args["dataset"]),
                                 reply_as_followup=True))
    except BotError as exc:
        logger.error("train for interaction %s: could not queue start_finetune: %s", ref.id, exc)
        ctx.discord.followup(ref.application_id, ref.token, ephemeral=True,
                             content=START_FAILED.format(reason=exc.user_message))


def _train_file(ctx: WorkerServices, datasets: DatasetStore, guild_id: str, dataset: str,
                attachment: dict[str, Any], *, upload_id: str, positive: bool, added_by: str) -> IngestReport:
    url = str(attachment.get("url") or "")
    filename = str(attachment.get("filename") or "upload")
    limit = ctx.settings.max_attachment_bytes
    declared = attachment.get("size")
    if isinstance(declared, int) and declared > limit:
        raise too_large(limit)
    bucket = ctx.settings.bucket_name
    # The key is the server's (guild, interaction id, known extension); nothing of the name becomes a path.
    key = upload_key(guild_id, upload_id, filename)
    fetch_attachment_to_s3(url, settings=ctx.settings, s3_client=ctx.aws.s3, bucket=bucket, key=key,
                           max_bytes=limit)
    body = ctx.aws.s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return add_upload(body, filename, store=datasets, guild_id=guild_id, dataset=dataset,
                          upload_id=upload_id, positive=positive, added_by=added_by)
    finally:
        body.close()


# -- /archive and /getfile ------------------------------------------------------------------------------


def archive(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, read = require_trainer_for(request.interaction, datasets)
    name = request.args.dataset or (read or datasets.guild_settings(guild_id)).selected_dataset
    dataset = validate_dataset_name(str(name))
    files = ctx.stores.files
    # The request's marker is written before the archive is made: a redelivery (the reply failed, or the run
    # stopped anywhere after the marker) finishes or resends that one version, never makes another.
    requests_table = ctx.stores.table
    pk, sk = keys.guild_pk(guild_id), keys.archive_request_sk(request.interaction.id)
    marker = requests_table.get(pk, sk)
    if marker is None:
        version = reserve_archive_version(guild_id, dataset, datasets=datasets)
        requests_table.put_new({"pk": pk, "sk": sk, "file_id": archive_file_id(dataset, version), "version": version,
                                "created_at": utc_now(), "expires_at": int(time.time()) + 7 * 24 * 3600})
        marker = requests_table.get(pk, sk) or {}  # the one that was written first, if two deliveries raced
    try:
        record = files.get(guild_id, str(marker["file_id"]))
    except NotFound:
        record = create_archive(guild_id, dataset, created_by=request.interaction.user_id, datasets=datasets,
                                files=files, version=int(marker["version"]),
                                now=datetime.strptime(str(marker["created_at"]), ISO_FORMAT).replace(tzinfo=UTC))
    info = datasets.require_dataset(guild_id, dataset)
    intro = (f"Archived **{dataset}** as `{record.file_id}` ({human_size(record.size)}; the dataset holds "
             f"{info.example_count} examples, {info.positive_count} positive, {info.negative_count} negative). "
             f"Get it again any time with `/getfile {record.file_id}`.")
    return deliver_file(files, record, intro, upload_limit=upload_limit(ctx, request))


def getfile(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    datasets = ctx.stores.datasets
    guild_id, _ = require_trainer_for(request.interaction, datasets)
    files = ctx.stores.files
    record = files.resolve_for_getfile(guild_id, request.args.name,
                                       requested_by=request.interaction.user_id)
    if record.size == 0:
        return TaskOutcome(content=f"`{record.file_id}` is empty so far: there is nothing in it yet.")
    return deliver_file(files, record, f"`{record.file_id}`: **{record.filename}** ({human_size(record.size)}).",
                        upload_limit=upload_limit(ctx, request))


def upload_limit(ctx: WorkerServices, request: TaskRequest) -> int:
    """The interaction's own attachment_size_limit, else the configured default (Discord's 10 MiB)."""
    return request.interaction.attachment_size_limit or ctx.settings.discord_upload_limit_bytes


def deliver_file(files: FileStore, record: FileRecord, intro: str, *, upload_limit: int | None = None) -> TaskOutcome:
    """Attach the file when it fits the interaction's upload limit; otherwise a short-lived presigned link."""
    delivery = files.delivery(record, max_attachment_bytes=upload_limit)
    if not delivery.as_link:
        body = files.open(record)
        try:
            data = body.read()
        finally:
            body.close()
        return TaskOutcome(content=intro, files=[(record.filename, data)])
    minutes = max(1, delivery.expires_in // 60)
    note = f"It is too large to attach, so here is a download link, valid for {minutes} minutes:"
    link = f"[{record.filename}](<{delivery.url}>)"
    content = f"{intro}\n{note} {link}"
    # A presigned link longer than what is left of Discord's content limit goes into an embed instead.
    if len(content) <= MAX_CONTENT:
        return TaskOutcome(content=content)
    # A long presigned URL (session credentials) would be cut in the content; an embed holds 4096.
    return TaskOutcome(content=f"{intro}\n{note}", embeds=[{"title": record.filename, "url": delivery.url,
                                                          "description": f"Download link, valid {minutes} min."}])

