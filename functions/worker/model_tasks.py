"""Worker jobs of the model: start and cancel fine-tuning, /ask and /test.

``start_finetune`` runs twice by design: first (``args = {"dataset"}``, from ``/train start:true`` or the
"Start training" button) it exports and estimates and replies with the cost and a Start button, spending
nothing; the Start button's job (``args = {"dataset", "confirm": digest}``) records the job in DynamoDB under
the estimate's own id (guild, dataset, export digest: :func:`start_request_id`), then asks the provider to
create it with metadata naming that id. A redelivered message, and a second click on the same estimate's
Start button, both find that job instead of paying twice.

Nothing here imports the chart code (Pillow): the worker artifact does not ship it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from functions.worker.outcome import TaskOutcome
from functions.worker.trainers import require_trainer_for
from shared import openai_api
from shared.discord.attachment_rules import MAX_AUDIO_BYTES, is_audio
from shared.discord.components import activate_model_button, answer_buttons, confirm_start_button, row
from shared.discord.permissions import require_guild
from shared.discord.text import MAX_CONTENT
from shared.domain.time import utc_now
from shared.errors import BotError, InvalidInput, NotFound
from shared.finetune.catalog import load_catalog
from shared.finetune.exceptions import FineTuningUnavailable, JobNotFound, NotConfigured, ProviderRejected
from shared.finetune.jobs import JobRequest as FineTuneRequest
from shared.finetune.planning import JobPlan, plan_job
from shared.finetune.providers import SIMULATED_NOTE, FineTuneProvider, cancel_or_finished, is_simulated
from shared.finetune.readiness import Readiness, readiness, today
from shared.finetune.serving import Serving, active_serving, base_serving, make_active
from shared.finetune.training_data import training_examples
from shared.storage import keys
from shared.storage.exchanges import Exchange
from shared.storage.files import FileRecord
from shared.storage.finetune_jobs import FineTuneJobRecord

if TYPE_CHECKING:
    from functions.worker.services import WorkerServices
    from shared.contracts.messages import InteractionRef, TaskRequest

logger = logging.getLogger(__name__)

MAX_TEST_ITEMS = 20
# A list of chat messages inside an object inside the list is 4 levels; nothing sensible goes much deeper.
MAX_TEST_DEPTH = 16
ATTACHED_NOTE = "the {what} is longer than a message: the whole of it is attached ({name})."
ANSWER_FILE = "answer.md"
TEST_REPORT_FILE = "test-report.md"
MAX_ANSWER = 1900
# Longer than a worker's run (its timeout, 150 s), shorter than the jobs queue's visibility timeout (180 s):
# a live start is never doubled, a crashed one is taken over by the next receive (template.yaml).
START_LEASE_SECONDS = 165


# --- what a job uses, built once per worker context ----------------------------------------------------------


def provider_for(ctx: WorkerServices) -> FineTuneProvider:
    """The configured provider, kept on the context (tests pass their own as ``finetune_provider=``)."""
    return ctx.finetune_provider


def _require_trainer(ctx: WorkerServices, ref: InteractionRef) -> str:
    return require_trainer_for(ref, ctx.stores.datasets)[0]


def active_model(ctx: WorkerServices, guild_id: str) -> str:
    return active_serving(ctx.stores.finetune_jobs, guild_id, ctx.settings).model


def _note(ctx: WorkerServices, text: str, provider: str | None = None) -> str:
    return f"{text}\n{SIMULATED_NOTE}" if is_simulated(ctx.settings, provider) else text


def answer_with(ctx: WorkerServices, serving: Serving, messages: list[dict[str, str]]) -> tuple[str, Serving, str]:
    """(answer, the model that gave it, a note) from the guild's model; when an active model no longer answers
    (shut down, deleted, its deployment gone) the base model answers instead and the note says so."""
    try:
        return ctx.provider_named(serving.provider).complete(messages, serving.serving_id), serving, ""
    except (ProviderRejected, JobNotFound) as exc:
        if serving.is_base:
            raise
        base = base_serving(ctx.settings)
        logger.warning("active model %s did not answer (%s); falling back to %s", serving.model, exc, base.model)
        answer = ctx.provider_named(base.provider).complete(messages, base.serving_id)
        return answer, base, (f"_(The active model `{serving.model[-80:]}` did not answer, so the base model "
                              f"`{base.model}` did. A trainer can choose another with `/model`.)_")


def _readiness(ctx: WorkerServices, plan: JobPlan) -> Readiness:
    client = None
    if plan.spec.provider == "openai":
        try:
            client = ctx.openai
        except BotError:
            client = None
    return readiness(ctx.settings, plan.spec, load_catalog(ctx.settings), on=today(), openai_client=client)


# --- start_finetune -------------------------------------------------------------------------------------------


def start_request_id(guild_id: str, dataset: str, digest: str) -> str:
    """The id of one estimate: every click on its Start button (and every redelivery) names the same job.
    The guild is part of it because the provider looks jobs up by this id across the whole account."""
    return f"{guild_id}-{dataset}-{digest}"


def _plan(ctx: WorkerServices, guild_id: str, dataset: str) -> JobPlan:
    examples = training_examples(ctx.stores.datasets, guild_id, dataset)
    return plan_job(examples, ctx.settings)


def start_finetune(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    ref = request.interaction
    guild_id = _require_trainer(ctx, ref)
    store = ctx.stores.datasets
    dataset = request.args.dataset or store.guild_settings(guild_id).selected_dataset
    info = store.require_dataset(guild_id, dataset)
    plan = _plan(ctx, guild_id, info.name)
    digest = plan.digest
    confirm = request.args.confirm
    ready = _readiness(ctx, plan)
    shortfall = plan.shortfall
    if confirm != digest or shortfall:
        changed = confirm and confirm != digest
        lead = "⚠️ The data changed since that estimate; here is the new one.\n" if changed else ""
        checks = "\n".join(ready.lines())
        text = f"{lead}{_dataset_line(info.name, plan)}\n{plan.summary()}\n{checks}"
        if shortfall:
            # No Start button: the provider would refuse the file after the trainer was shown a price.
            return TaskOutcome(content=_note(ctx, f"{text}\n⚠️ Not enough to start a job: {shortfall}"))
        if not ready.ok:
            return TaskOutcome(content=_note(ctx, f"{text}\nStart is not offered until that is fixed."))
        text += "\nNothing is spent until you press **Start**."
        button = confirm_start_button(info.name, digest, plan.cost_usd)
        return TaskOutcome(content=_note(ctx, text), components=[row(button)])
    if not ready.ok:
        raise FineTuningUnavailable(" ".join(ready.problems)[:1500], detail="start refused: " + ready.problems[0])
    return _start_confirmed(ctx, ref, guild_id, info.name, plan, digest)


def _dataset_line(dataset: str, plan: JobPlan) -> str:
    report = plan.export.report
    return (f"Dataset **{dataset}**: {report.n_supervised} examples, {report.n_preference} preference pairs "
            "(only this dataset's examples train; approve members' corrections into it with `/review`).")


# A cancelled or failed job's estimate can be started again, each time as a new attempt with its own id.
MAX_ATTEMPTS = 50
RESTARTABLE = ("cancelled", "failed")


def _attempt(jobs: Any, guild_id: str, dataset: str, digest: str) -> str:
    """The request id this Start click works on: the first attempt that is not cancelled or failed."""
    base = start_request_id(guild_id, dataset, digest)
    for n in range(1, MAX_ATTEMPTS + 1):
        request_id = base if n == 1 else f"{base}-{n}"
        record = jobs.get(guild_id, request_id)
        if record is None or record.status not in RESTARTABLE:
            return request_id
    raise InvalidInput("This estimate was started too many times; change the dataset or ask for a new estimate.")


def _start_confirmed(ctx: WorkerServices, ref: InteractionRef, guild_id: str, dataset: str, plan: JobPlan,
                     digest: str) -> TaskOutcome:
    jobs = ctx.stores.finetune_jobs
    estimate = plan.estimate
    request_id = _attempt(jobs, guild_id, dataset, digest)
    summary = estimate.summary()
    if plan.preference_estimate is not None:
        summary = (f"Stage 1 of 2 (supervised): {summary}\nStage 2 of 2 (preference, {plan.pairs} pairs): "
                   f"{plan.preference_estimate.summary()}")
    record, created = jobs.record_start(FineTuneJobRecord(
        guild_id=guild_id, request_id=request_id, dataset=dataset, provider=ctx.settings.finetune_provider,
        base_model=plan.spec.name, requested_by=ref.user_id, channel_id=str(ref.channel_id or ""),
        snapshot=digest, method=plan.export.method, estimate=summary,
        estimated_cost_usd=f"{plan.cost_usd:.2f}", stages=plan.stages, preference_pairs=plan.pairs,
        preference_epochs=plan.preference_estimate.epochs if plan.preference_estimate is not None else 0,
    ))
    if not created and record.job_id:
        logger.info("estimate %s already has job %s (interaction %s)", request_id, record.job_id, ref.id)
        return TaskOutcome(content=_note(ctx, f"Already started: job `{record.job_id}` ({record.status}) from "
                                             "this estimate. /jobs shows its status."))
    if not jobs.claim_start(record, lease_seconds=START_LEASE_SECONDS):
        # Another click on this estimate is creating the job right now.
        return TaskOutcome(content=_note(ctx, "Already starting: this estimate's job is being created. "
                                             "/jobs shows it in a moment."))
    try:
        _save_export(ctx, guild_id, dataset, digest, plan)
        provider = ctx.provider_named(record.provider)
        if plan.preference is not None and not record.preference_file:
            # Stage 2's files go up now, with stage 1's: what was estimated is what trains, whatever the
            # dataset holds by the time stage 1 ends.
            files = provider.upload_export(plan.preference, FineTuneRequest(
                request_id=f"{request_id}-dpo", guild_id=guild_id, dataset=dataset, snapshot=digest))
            record = jobs.set_preference_files(record, *files)
        started = provider.start_job(plan.export, FineTuneRequest(
            request_id=request_id, guild_id=guild_id, dataset=dataset, snapshot=digest,
            requested_by=record.requested_by,
        ), epochs=estimate.epochs)
    except (FineTuningUnavailable, ProviderRejected, NotConfigured) as exc:
        # A refusal is final for this attempt and nothing was spent: the record says so, the reply says why
        # (Start again makes a new attempt once the cause is fixed).
        jobs.mark_failed_to_start(record, exc.user_message)
        raise
    finally:
        jobs.release_start(record)
    # A found job may be over already: it stays on the watcher's list, which posts its completion.
    record = jobs.update_from_provider(record, started, keep_active=True)
    return TaskOutcome(content=_started_text(ctx, record))


def _save_export(ctx: WorkerServices, guild_id: str, dataset: str, digest: str, plan: JobPlan) -> None:
    """The exact lines sent to the provider, kept in the bucket (the job's snapshot) and listed by /getfile."""
    if not ctx.settings.bucket_name:
        return
    name = f"finetune-{dataset}-{digest}"
    files = [("train", plan.export.train_jsonl()), ("validation", plan.export.validation_jsonl())]
    if plan.preference is not None:
        files += [("preference", plan.preference.train_jsonl()),
                  ("preference-validation", plan.preference.validation_jsonl())]
    for part, data in files:
        if not data:
            continue
        key = keys.export_key(guild_id, name, part, ".jsonl")
        ctx.aws.s3.put_object(Bucket=ctx.settings.bucket_name, Key=key, Body=data, ContentType="application/jsonl")
        # The same estimate started again writes the same bytes: its record stays as it is.
        ctx.stores.files.register(FileRecord(
            file_id=export_file_id(dataset, digest, part), guild_id=guild_id, key=key,
            filename=f"{name}-{part}.jsonl", kind="training file", size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), content_type="application/jsonl",
            created_by="", created_at=utc_now()), overwrite=True)


def export_file_id(dataset: str, digest: str, part: str) -> str:
    """``/getfile`` name of a file sent to a provider: ``sent-{dataset}-{digest}-{train|valid|pref|pref-valid}``."""
    short = {"train": "train", "validation": "valid", "preference": "pref", "preference-validation": "pref-valid"}
    return f"sent-{dataset}-{digest[:12]}-{short[part]}"


def _started_text(ctx: WorkerServices, record: FineTuneJobRecord) -> str:
    stages = ""
    if record.stages == 2:
        stages = (f" This is stage 1 of 2; when it finishes, stage 2 (preference, {record.preference_pairs} "
                  "pairs) starts on the model it makes.")
    return _note(ctx, (
        f"🚀 Fine-tuning job `{record.job_id}` started on `{record.base_model}` ({record.provider}, "
        f"{record.method}) from `{record.dataset}`.{stages}\n{record.estimate}\n"
        "I'll post in this channel when it finishes. /jobs shows its status and can cancel it."
    ))


# --- cancel_finetune ------------------------------------------------------------------------------------------


def _trainers_job(request: TaskRequest, ctx: WorkerServices) -> FineTuneJobRecord:
    """The job a button names, for a trainer of its guild."""
    guild_id = _require_trainer(ctx, request.interaction)
    record = ctx.stores.finetune_jobs.get(guild_id, request.args.request_id)
    if record is None:
        raise NotFound("I can't find that fine-tuning job in this server.")
    return record


def cancel_finetune(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    ref = request.interaction
    jobs = ctx.stores.finetune_jobs
    record = _trainers_job(request, ctx)
    if record.is_terminal:
        return TaskOutcome(content=f"Job `{record.job_id or record.request_id}` is already {record.status}.")
    if not record.job_id:
        raise InvalidInput("That job is still starting; try again in a minute.")
    provider = ctx.provider_named(record.provider)
    if record.stages == 2 and not record.in_stage2:
        # First make sure stage 2 never starts; the watcher may be starting it right now (it checks this mark
        # after its start, and cancels what it started).
        record = jobs.cancel_stage2(record, ref.user_id)
    cancelled = cancel_or_finished(provider, record.job_id)
    if cancelled.status == "succeeded":  # it finished before the watcher saw it
        if record.stages == 2 and not record.in_stage2:
            record = jobs.stage2_not_started(record, cancelled)
            return TaskOutcome(
                content=(f"⏹️ Stage 1 (supervised) had already finished, so only stage 2 (preference) is "
                         f"cancelled: it will not start. Stage 1's model `{record.stage1_model}` exists and can be "
                         "made active."),
                components=[row(activate_model_button(record.request_id))])
        return TaskOutcome(content=f"Job `{record.job_id}` had already finished ({cancelled.status}): nothing was "
                                   "cancelled. Its result is posted in the channel where it was started.")
    record = jobs.update_from_provider(record, cancelled)
    if record.in_stage2 and record.stage1_model:
        # Stage 1's model is paid for and finished: it stays, and can be made active.
        return TaskOutcome(
            content=(f"⏹️ Stage 2 (preference) job `{record.job_id}` is {cancelled.status}. Stage 1's model "
                     f"`{record.stage1_model}` exists and can still be made active."),
            components=[row(activate_model_button(record.request_id))])
    return TaskOutcome(content=f"⏹️ Job `{record.job_id}` is {cancelled.status}. Nothing more will be trained.")


def retry_stage2(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    jobs = ctx.stores.finetune_jobs
    record = _trainers_job(request, ctx)
    if record.stages != 2 or record.status != "failed" or not record.stage1_job_id or not record.stage1_model:
        return TaskOutcome(content=f"Job `{record.job_id or record.request_id}` has no failed preference stage to "
                                   "retry.")
    if jobs.retry_stage2(record) is None:
        return TaskOutcome(content="Stage 2 of that job is being started again already.")
    return TaskOutcome(content=(
        f"🔁 Stage 2 (preference, {record.preference_pairs} pairs) will start again on `{record.stage1_model}` at "
        "the next check; stage 1 is not trained (or billed) again. I'll post in the channel when it finishes."))


# --- ask ------------------------------------------------------------------------------------------------------


def transcribe(ctx: WorkerServices, ref: InteractionRef, attachment: dict[str, Any]) -> str:
    """Fetch the attachment (Discord's CDN only, size-capped, into the bucket) and transcribe it with OpenAI's
    engine; Lambda has no ffmpeg for the offline engines."""
    from shared.discord.attachments import fetch_attachment_to_s3, upload_key

    url = str(attachment.get("url") or "")
    filename = str(attachment.get("filename") or "audio")
    content_type = str(attachment.get("content_type") or "")
    if content_type and not is_audio(content_type, filename):
        raise InvalidInput("Attach an audio file (a voice message, .mp3, .ogg, .wav, .m4a) to ask by voice.")
    bucket = ctx.settings.bucket_name
    key = upload_key(require_guild(ref.guild_id), ref.id, filename)
    fetch_attachment_to_s3(url, settings=ctx.settings, s3_client=ctx.aws.s3, bucket=bucket, key=key,
                           max_bytes=min(MAX_AUDIO_BYTES, ctx.settings.max_attachment_bytes))
    audio = ctx.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    text = openai_api.transcribe(ctx.openai, model=ctx.settings.openai_transcription_model, filename=filename,
                                 audio=audio, content_type=content_type or None)
    if not text:
        raise InvalidInput("I couldn't hear any words in that recording.")
    return text


def ask(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    ref = request.interaction
    guild_id = require_guild(ref.guild_id)
    prompt = request.args.prompt.strip()
    heard = ""
    attachment = request.args.attachment
    if isinstance(attachment, dict) and attachment.get("url"):
        heard = transcribe(ctx, ref, attachment)
    question = "\n\n".join(part for part in (prompt, heard) if part)
    if not question:
        raise InvalidInput("Ask a question (or attach a recording of one).")
    serving = active_serving(ctx.stores.finetune_jobs, guild_id, ctx.settings)
    answer, used, fallback = answer_with(ctx, serving, [{"role": "user", "content": question}])
    answer = answer.strip()
    model = used.model
    quoted = f"> 🎤 {heard[:300]}\n\n" if heard else ""
    after = f"\n{fallback}" if fallback else ""
    files: list[tuple[str, bytes]] = []
    shown = answer
    if len(_note(ctx, quoted + answer + after, used.provider)) > MAX_CONTENT:
        # Too long for one message: the start of the answer, said to be cut, and the whole of it attached.
        note = f"\n… {ATTACHED_NOTE.format(what='answer', name=ANSWER_FILE)}"
        room = MAX_CONTENT - len(_note(ctx, quoted + note + after, used.provider))
        shown = answer[:room].rstrip() + note
        files = [(ANSWER_FILE, answer.encode("utf-8"))]
    content = _note(ctx, quoted + shown + after, used.provider)

    _speak(ctx, ref, answer)
    return TaskOutcome(content=content, components=answer_buttons(), files=files,
                       after_delivery=("record_exchange", {"prompt": question, "answer": answer[:MAX_ANSWER],
                                                           "model": model}))


def record_exchange(request: TaskRequest, ctx: WorkerServices, message: dict[str, Any],
                    args: dict[str, Any]) -> None:
    # The message id exists only once the reply does: the exchange is keyed by it, so 👍 / 👎 and
    # corrections of this answer find its prompt and model.
    ref = request.interaction
    ctx.stores.exchanges.add(Exchange(
        guild_id=require_guild(ref.guild_id), message_id=str(message["id"]), channel_id=str(ref.channel_id or ""),
        user_id=ref.user_id, prompt=args["prompt"], answer=args["answer"], model=args["model"],
        created_at=utc_now(),
    ))


def _speak(ctx: WorkerServices, ref: InteractionRef, answer: str) -> None:
    """Hand the answer to the voice worker; it speaks only if the author is in its voice channel."""
    if not ctx.settings.voice_queue_urls or not ref.guild_id:
        return
    from shared.contracts.enqueue import enqueue_voice
    from shared.contracts.messages import SpeechArgs, VoiceKind, VoiceRequest
    from shared.contracts.sharding import voice_queue_url_for_guild

    try:
        queue_url = voice_queue_url_for_guild(ref.guild_id, ctx.settings.voice_queue_urls)
        enqueue_voice(ctx.aws.sqs, queue_url, VoiceRequest(VoiceKind.SPEAK_ANSWER, ref, SpeechArgs(text=answer)))
    except BotError as exc:
        # The written answer is the product; a lost spoken copy is logged, not fatal.
        logger.warning("could not queue the spoken answer for %s: %s", ref.id, exc)


# --- test -----------------------------------------------------------------------------------------------------


def parse_test_items(data: str) -> list[Any]:
    """One JSON value or a list of them; invalid JSON names the parser's line and column."""
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"That is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise InvalidInput("That JSON is nested too deeply: give strings or objects with a prompt.") from None
    except ValueError:
        # Python refuses integers of more than 4,300 digits.
        raise InvalidInput("That JSON holds a number with too many digits.") from None
    if _too_deep(parsed, MAX_TEST_DEPTH):
        raise InvalidInput("That JSON is nested too deeply: give strings or objects with a prompt.")
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise InvalidInput("The list is empty: give at least one test input.")
    if len(items) > MAX_TEST_ITEMS:
        raise InvalidInput(f"Give at most {MAX_TEST_ITEMS} test inputs at a time.")
    return items


def _too_deep(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels (walked without recursion: the parser of some
    Pythons accepts depths that recursive code after it cannot handle)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _test_messages(item: Any) -> tuple[list[dict[str, str]], str | None]:
    """An item is a string (the prompt), or an object with ``prompt``/``input`` or chat ``messages`` and an
    optional ``expected`` (or ``completion``) answer. Raises InvalidInput for anything else."""
    messages, expected = _test_messages_unchecked(item)
    try:
        json.dumps([messages, expected], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("its text holds half a surrogate pair (a lone \\ud800-\\udfff escape)") from None
    return messages, expected


def _test_messages_unchecked(item: Any) -> tuple[list[dict[str, str]], str | None]:
    if isinstance(item, str) and item.strip():
        return [{"role": "user", "content": item}], None
    if not isinstance(item, dict):
        raise InvalidInput('each input is a string or an object with "prompt" or "messages"')
    expected = item.get("expected", item.get("completion"))
    expected = str(expected) if expected is not None else None
    prompt = item.get("prompt", item.get("input"))
    if isinstance(prompt, str) and prompt.strip():
        return [{"role": "user", "content": prompt}], expected
    messages = item.get("messages")
    if isinstance(messages, list) and messages:
        clean = []
        for m in messages:
            if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                    and isinstance(m.get("content"), str)):
                raise InvalidInput('"messages" entries need a role (system, user, assistant) and text content')
            clean.append({"role": m["role"], "content": m["content"]})
        if clean[-1]["role"] == "assistant":
            expected = expected if expected is not None else clean[-1]["content"]
            clean = clean[:-1]
        if clean and clean[-1]["role"] == "user":
            return clean, expected
    raise InvalidInput('each input needs a "prompt" (text) or "messages" ending with a user turn')


def test_model(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    ref = request.interaction
    guild_id = _require_trainer(ctx, ref)
    items = parse_test_items(request.args.data)
    serving = active_serving(ctx.stores.finetune_jobs, guild_id, ctx.settings)
    model = serving.model
    lines = [f"Testing `{model}` on {len(items)} input(s):"]
    notes: list[str] = []
    passed = failed = errors = 0
    for number, item in enumerate(items, start=1):
        try:
            messages, expected = _test_messages(item)
        except InvalidInput as exc:
            errors += 1
            lines.append(f"**{number}.** ⚠️ invalid input: {exc.user_message}")
            continue
        shown = messages[-1]["content"][:120]
        try:
            prediction, _used, fallback = answer_with(ctx, serving, messages)
            prediction = prediction.strip()
            if fallback and fallback not in notes:
                notes.append(fallback)
        except BotError as exc:
            errors += 1
            lines.append(f"**{number}.** `{shown}` → ⚠️ error: {exc.user_message}")
            continue
        verdict = ""
        if expected is not None:
            ok = prediction.strip().casefold() == expected.strip().casefold()
            passed, failed = passed + ok, failed + (not ok)
            verdict = " ✅" if ok else f" ❌ (expected: {expected[:200]})"
        lines.append(f"**{number}.** `{shown}` → {prediction[:400]}{verdict}")
    lines.append(f"Matched {passed}, differed {failed}, errors {errors}.")
    lines.extend(notes)
    report = "\n".join(lines)
    if len(report) <= MAX_CONTENT:
        noted = _note(ctx, report, serving.provider)
        return TaskOutcome(content=noted if len(noted) <= MAX_CONTENT else report)
    # Too long for one message: the first results, then the summary, and the whole report attached.
    summary = lines[-1]
    tail = f"\n… {ATTACHED_NOTE.format(what='report', name=TEST_REPORT_FILE)}\n{summary}"
    head = report[:MAX_CONTENT - len(tail)].rsplit("\n", 1)[0]
    return TaskOutcome(content=head + tail, files=[(TEST_REPORT_FILE, report.encode("utf-8"))])


# --- activate_model -----------------------------------------------------------------------------------------


def activate_model(request: TaskRequest, ctx: WorkerServices) -> TaskOutcome:
    """Make a model the guild's active one: ``{"request_id"}`` (the Make active button) or ``{"model"}`` (/model).

    A Bedrock custom model answers only through an on-demand deployment: an active one is used at once; else
    one is created and the watcher switches the guild when it is active (and says so in the channel). The
    deployments nothing uses any more are deleted on every switch."""
    ref = request.interaction
    guild_id = _require_trainer(ctx, ref)
    jobs = ctx.stores.finetune_jobs
    wanted = request.args.model
    record = None
    if request.args.request_id:
        record = jobs.get(guild_id, request.args.request_id)
    elif wanted and wanted != ctx.settings.base_model:
        record = jobs.find_by_model(guild_id, wanted)
    if record is None and wanted == ctx.settings.base_model:
        base = base_serving(ctx.settings)
        deleted = make_active(jobs, guild_id, base, set_by=ref.user_id, provider_for=ctx.provider_named)
        return TaskOutcome(content=_note(ctx, _switched_text(base.model, deleted), base.provider))
    model = wanted if record is not None and wanted and wanted == record.stage1_model else (
        record.usable_model if record is not None else "")
    if record is None or not model:
        raise NotFound("That job has no finished model to use.")
    provider = ctx.provider_named(record.provider)
    if not provider.needs_deployment(model):
        deleted = make_active(jobs, guild_id, Serving(model, record.provider, model), set_by=ref.user_id,
                              provider_for=ctx.provider_named)
        return TaskOutcome(content=_note(ctx, _switched_text(model, deleted), record.provider))
    spec = load_catalog(ctx.settings).models.get((record.provider, record.base_model))
    region = ctx.settings.aws_region
    if spec is not None and not spec.on_demand_in(region):
        raise InvalidInput(f"{spec.title} custom models cannot be served on demand in {region}: serving this one "
                           "needs Provisioned Throughput (billed by the hour, bought in the Bedrock console). "
                           "Nova Micro, Lite and Pro custom models are served per token.")
    deployment = provider.deployment(record.deployment_arn) if record.deployment_arn else None
    if deployment is None or deployment.status in ("deleted", "failed"):
        attempt = record.request_id if deployment is None else f"{record.request_id}-{utc_now()[:19]}"
        deployment = provider.deploy(model, attempt)
        logger.info("created deployment %s for %s", deployment.arn, model)
    if deployment.status == "active":
        jobs.set_deployment(record, deployment.arn, "active", activate_by="")
        deleted = make_active(jobs, guild_id, Serving(model, record.provider, deployment.arn), set_by=ref.user_id,
                              provider_for=ctx.provider_named)
        return TaskOutcome(content=_note(ctx, _switched_text(model, deleted), record.provider))
    # The watcher follows it and posts in the channel where the job was started.
    jobs.set_deployment(record, deployment.arn, deployment.status, watch=True, activate_by=ref.user_id)
    current = active_serving(jobs, guild_id, ctx.settings).model
    return TaskOutcome(content=_note(ctx, (
        f"🚀 Deploying `{model}` for on-demand use (billed per token, nothing while idle). I'll post in this "
        f"channel when it is active; until then `/ask` keeps using `{current}`."), record.provider))


def _switched_text(model: str, deleted: list[str]) -> str:
    tidy = f" Deleted {len(deleted)} deployment(s) nothing uses any more." if deleted else ""
    return f"Active model is now `{model}`. `/ask` uses it from now on.{tidy}"


__all__ = ["activate_model", "ask", "cancel_finetune", "start_finetune", "test_model"]
