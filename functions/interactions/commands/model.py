"""The model: /ask, /test, /jobs, /model, and the fine-tune buttons (``ft:...`` custom ids).

Slow work (inference, transcription, exports, provider calls) is deferred to the worker; what reads only
DynamoDB (/jobs, /model, "Make active") answers inline. Trainer commands are declared with Manage Server as
the default permission, and every handler checks again from the signed interaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.discord.attachment_rules import MAX_AUDIO_BYTES, is_audio
from shared.discord.components import FT_PREFIX, cancel_job_button, row
from shared.domain.names import validate_dataset_name
from shared.errors import InvalidInput, NotFound

from .. import responses
from ..context import InteractionContext
from ..deferral import defer_task
from ..registry import GUILD_ONLY, Command, Option, OptionType, Route

if TYPE_CHECKING:
    from shared.storage.finetune_jobs import FineTuneJobRecord, FineTuneJobStore

MAX_PROMPT = 4000
MAX_TEST_DATA = 6000
RECENT_JOBS = 10
STATUS_ICONS = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️", "paused": "⏸️", "running": "🏃",
                "queued": "⏳", "validating_files": "🔎", "starting": "🚀"}


def _jobs(ctx: InteractionContext) -> FineTuneJobStore:
    return ctx.stores.finetune_jobs


# --- /ask ----------------------------------------------------------------------------------------------------


def ask_command(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import AskArgs, TaskKind

    ctx.require_guild()
    options = ctx.options()
    prompt = str(options.get("prompt") or "").strip()
    attachment_args = None
    if options.get("audio"):
        attachment = ctx.resolved("attachments").get(str(options["audio"]))
        if not isinstance(attachment, dict) or not attachment.get("url"):
            raise InvalidInput("I could not see that attachment. Please attach it again.")
        content_type = str(attachment.get("content_type") or "")
        if content_type and not is_audio(content_type, str(attachment.get("filename") or "")):
            raise InvalidInput("Attach an audio file (a voice message, .mp3, .ogg, .wav, .m4a) to ask by voice.")
        if int(attachment.get("size") or 0) > MAX_AUDIO_BYTES:
            raise InvalidInput("That recording is over 25 MB; send a shorter one.")
        attachment_args = {k: attachment.get(k) for k in ("id", "url", "filename", "content_type", "size")}
    elif not prompt:
        raise InvalidInput("Ask a question (or attach a recording of one).")
    return defer_task(ctx, TaskKind.ASK, AskArgs(prompt=prompt[:MAX_PROMPT], attachment=attachment_args))


# --- /test ---------------------------------------------------------------------------------------------------


def test_command(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import TaskKind, TestArgs

    ctx.require_trainer()
    data = str(ctx.options().get("data") or "")
    if not data.strip():
        raise InvalidInput('Give JSON test inputs: one object such as {"prompt": "Hi"} or a list of them.')
    return defer_task(ctx, TaskKind.TEST, TestArgs(data=data[:MAX_TEST_DATA]))


# --- /jobs ---------------------------------------------------------------------------------------------------


def _job_line(record: FineTuneJobRecord) -> str:
    icon = STATUS_ICONS.get(record.status, "•")
    name = f"`{record.job_id}`" if record.job_id else "(starting)"
    model = f" → `{record.fine_tuned_model}`" if record.fine_tuned_model else ""
    cost = f", est. ${record.estimated_cost_usd}" if record.estimated_cost_usd else ""
    stage = ""
    if record.stages == 2:
        stage = (f" · stage 2 of 2 (preference) on `{record.stage1_model}`" if record.in_stage2
                 else " · stage 1 of 2 (supervised)")
    return (f"{icon} {name} **{record.status}**{stage} · `{record.dataset}` on `{record.base_model}`{model}"
            f"{cost} · {record.created_at[:16].replace('T', ' ')}")


def jobs_command(ctx: InteractionContext) -> dict[str, Any]:
    guild_id = ctx.require_trainer()
    records = _jobs(ctx).recent(guild_id, limit=RECENT_JOBS)
    if not records:
        return responses.reply("No fine-tuning jobs yet. Start one with `/train start:true`.", ephemeral=True)
    lines = ["**Recent fine-tuning jobs**", *(_job_line(r) for r in records)]
    cancellable = [r for r in records if not r.is_terminal and r.job_id][:5]
    buttons = [cancel_job_button(r.request_id, f"Cancel {r.job_id[-8:]}") for r in cancellable]
    return responses.reply("\n".join(lines), ephemeral=True, components=[row(*buttons)] if buttons else None)


# --- /model --------------------------------------------------------------------------------------------------


DEPLOYMENT_WORDS = {"creating": "deploying", "active": "deployed (on demand)", "failed": "deployment failed",
                    "deleted": "not deployed (Make active deploys it)"}


def _needs_worker(ctx: InteractionContext, jobs: FineTuneJobStore, guild_id: str, model: str) -> bool:
    """Switching to or away from a Bedrock custom model calls Bedrock (deploy, delete): the worker does it."""
    found = jobs.active_serving(guild_id)
    return ":custom-model/" in model or bool(found and "custom-model-deployment" in found[2])


def _set_inline(ctx: InteractionContext, jobs: FineTuneJobStore, guild_id: str, model: str, provider: str) -> None:
    jobs.set_active_model(guild_id, model, set_by=ctx.user_id, provider=provider, serving_id=model)


def model_choices(ctx: InteractionContext, guild_id: str) -> list[str]:
    """The base model, then this guild's fine-tuned models (newest first)."""
    names = [ctx.settings.base_model]
    for model in _jobs(ctx).fine_tuned_models(guild_id):
        if model not in names:
            names.append(model)
    return names


def model_command(ctx: InteractionContext) -> dict[str, Any]:
    from shared.contracts.messages import ActivateModelArgs, TaskKind

    guild_id = ctx.require_trainer()
    jobs = _jobs(ctx)
    wanted = str(ctx.options().get("name") or "").strip()
    choices = model_choices(ctx, guild_id)
    if not wanted:
        return responses.reply(_model_overview(ctx, jobs, guild_id, choices), ephemeral=True)
    if wanted not in choices:
        raise InvalidInput(f"`{wanted[:100]}` is not a model of this server. Pick the base model or one that a "
                           "succeeded job here produced (see `/model`).")
    if _needs_worker(ctx, jobs, guild_id, wanted):
        return defer_task(ctx, TaskKind.ACTIVATE_MODEL, ActivateModelArgs(model=wanted))
    record = jobs.find_by_model(guild_id, wanted) if wanted != ctx.settings.base_model else None
    _set_inline(ctx, jobs, guild_id, wanted, record.provider if record else ctx.settings.finetune_provider)
    return responses.reply(f"Active model is now `{wanted}`. `/ask` uses it from now on.")


def _model_overview(ctx: InteractionContext, jobs: FineTuneJobStore, guild_id: str, choices: list[str]) -> str:
    """The active model, each choice with its deployment state, and shutdown warnings within 30 days."""
    from shared.finetune.catalog import load_catalog
    from shared.finetune.readiness import openai_shutdown_date, retirement_warning, today
    from shared.finetune.serving import active_serving

    active = active_serving(jobs, guild_id, ctx.settings)
    records = {r.fine_tuned_model: r for r in jobs.recent(guild_id, limit=50) if r.fine_tuned_model}
    catalog = load_catalog(ctx.settings)
    lines = [f"Active model: `{active.model}` ({active.provider})"]
    warnings = []
    for choice in choices:
        record = records.get(choice)
        provider = record.provider if record else ctx.settings.finetune_provider
        state = ""
        if record is not None and ":custom-model/" in choice:
            state = " · " + DEPLOYMENT_WORDS.get(record.deployment_status, "not deployed (Make active deploys it)")
        lines.append(f"{'▶' if choice == active.model else '•'} `{choice}`{state}")
        if provider == "openai":
            warning = retirement_warning(choice, openai_shutdown_date(choice, catalog), on=today())
            if warning:
                warnings.append(f"⚠️ {warning}")
    lines.append("Set one with `/model name:`.")
    return "\n".join(lines + warnings)


def model_autocomplete(ctx: InteractionContext, option: str, value: str) -> list[tuple[str, str]]:
    if option != "name":
        return []
    guild_id = ctx.require_trainer()
    value = value.strip().lower()
    return [(c, c) for c in model_choices(ctx, guild_id) if value in c.lower() and len(c) <= 100][:25]


# --- ft:* buttons ----------------------------------------------------------------------------------------------


def finetune_button(ctx: InteractionContext) -> dict[str, Any]:
    """``ft:start:<dataset>`` → estimate; ``ft:go:<dataset>:<digest>`` → start exactly that export;
    ``ft:cancel:<request>`` → cancel; ``ft:use:<request>`` → make the job's model the active one;
    ``ft:s2:<request>`` → start a failed preference stage again on stage 1's model."""
    from shared.contracts.messages import (
        ActivateModelArgs,
        CancelFinetuneArgs,
        RetryStage2Args,
        StartFinetuneArgs,
        TaskKind,
    )

    guild_id = ctx.require_trainer()
    parts = ctx.custom_id_parts
    action = parts[1] if len(parts) > 1 else ""
    if action == "start" and len(parts) == 3:
        return defer_task(ctx, TaskKind.START_FINETUNE, StartFinetuneArgs(dataset=validate_dataset_name(parts[2])))
    if action == "go" and len(parts) == 4:
        return defer_task(ctx, TaskKind.START_FINETUNE,
                          StartFinetuneArgs(dataset=validate_dataset_name(parts[2]), confirm=parts[3]))
    if action == "cancel" and len(parts) == 3:
        return defer_task(ctx, TaskKind.CANCEL_FINETUNE, CancelFinetuneArgs(request_id=parts[2]), ephemeral=True)
    if action == "s2" and len(parts) == 3:
        return defer_task(ctx, TaskKind.RETRY_STAGE2, RetryStage2Args(request_id=parts[2]), ephemeral=True)
    if action == "use" and len(parts) == 3:
        jobs = _jobs(ctx)
        record = jobs.get(guild_id, parts[2])
        # A two-stage job whose stage 2 did not finish leaves stage 1's model.
        model = record.usable_model if record is not None else ""
        if record is None or not model:
            raise NotFound("That job has no finished model to use.")
        if _needs_worker(ctx, jobs, guild_id, model):
            return defer_task(ctx, TaskKind.ACTIVATE_MODEL, ActivateModelArgs(request_id=record.request_id))
        _set_inline(ctx, jobs, guild_id, model, record.provider)
        return responses.reply(f"Active model is now `{model}`. `/ask` uses it from now on.")
    raise InvalidInput("That button is not one I know.")


DECLARATIONS = (
    Command(
        "ask", "Ask this server's model.", ask_command,
        options=(
            Option("prompt", "Your question", OptionType.STRING, required=True, max_length=MAX_PROMPT),
            Option("audio", "A voice recording to transcribe and ask", OptionType.ATTACHMENT),
        ),
        contexts=GUILD_ONLY,
    ),
    Command(
        "test", "Run JSON test inputs through the model and report predictions and errors.", test_command,
        options=(Option("data", "One JSON object or a list of them", OptionType.STRING, required=True,
                        max_length=MAX_TEST_DATA),),
        trainer=True, contexts=GUILD_ONLY,
    ),
    Command("jobs", "List recent fine-tune jobs, and cancel one.", jobs_command, trainer=True,
            contexts=GUILD_ONLY),
    Command(
        "model", "Show or choose this server's active model.", model_command,
        options=(Option("name", "The model to make active (the base or a fine-tuned one)", OptionType.STRING,
                        autocomplete=True),),
        autocomplete=model_autocomplete, trainer=True, contexts=GUILD_ONLY,
    ),
    Route(FT_PREFIX, finetune_button),
)
