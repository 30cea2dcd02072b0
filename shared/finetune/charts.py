"""The completion post: a loss chart (PNG) and a short summary of a finished job.

Metrics come from OpenAI's result file (CSV, ``step,train_loss,train_accuracy,valid_loss,...``; the service
serves it base64-encoded) or checkpoint metrics, or from Bedrock's ``step_wise_training_metrics.csv`` and
``validation_metrics.csv`` in the job's S3 output. matplotlib is imported lazily, with the Agg backend.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from shared.finetune.jobs import FineTuneJob, MetricPoint

CHART_SIZE_PX = (960, 540)
_DPI = 96


def _float(value: str | None) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None  # NaN means "not measured at this step"


def _decode_csv(content: bytes | str) -> str:
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    if text.lstrip().startswith("step"):
        return text
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return text


def parse_openai_results(content: bytes | str) -> list[MetricPoint]:
    """Per-step losses from an OpenAI result file (plain or base64 CSV)."""
    rows = csv.DictReader(io.StringIO(_decode_csv(content)))
    points = []
    for row in rows:
        step = _float(row.get("step"))
        if step is None:
            continue
        valid = _float(row.get("valid_loss"))
        if valid is None:
            valid = _float(row.get("full_valid_loss"))
        points.append(MetricPoint(int(step), _float(row.get("train_loss")), valid))
    return points


def parse_bedrock_metrics(
    training_csv: bytes | str, validation_csv: bytes | str | None = None
) -> list[MetricPoint]:
    """Bedrock's CSVs: ``step_number,epoch_number,training_loss,perplexity`` and the validation file with
    ``validation_loss`` in place of ``training_loss``; merged by step."""
    by_step: dict[int, MetricPoint] = {}
    for row in csv.DictReader(io.StringIO(_decode_csv_plain(training_csv))):
        step = _float(row.get("step_number"))
        if step is not None:
            by_step[int(step)] = MetricPoint(int(step), _float(row.get("training_loss")), None)
    if validation_csv:
        for row in csv.DictReader(io.StringIO(_decode_csv_plain(validation_csv))):
            step = _float(row.get("step_number"))
            if step is None:
                continue
            old = by_step.get(int(step), MetricPoint(int(step)))
            by_step[int(step)] = MetricPoint(int(step), old.train_loss, _float(row.get("validation_loss")))
    return [by_step[s] for s in sorted(by_step)]


def _decode_csv_plain(content: bytes | str) -> str:
    return content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content


def loss_chart_png(points: Sequence[MetricPoint], *, title: str = "Loss by step") -> bytes:
    """A PNG of training (and, where measured, validation) loss by step, ``CHART_SIZE_PX`` pixels."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    # A bare Figure (no pyplot): no global state, safe in a long-lived Lambda or a threaded worker.
    fig = Figure(figsize=(CHART_SIZE_PX[0] / _DPI, CHART_SIZE_PX[1] / _DPI), dpi=_DPI)
    ax = fig.add_subplot()
    train = [(p.step, p.train_loss) for p in points if p.train_loss is not None]
    valid = [(p.step, p.valid_loss) for p in points if p.valid_loss is not None]
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="training loss", linewidth=1.2)
    if valid:
        ax.plot([s for s, _ in valid], [v for _, v in valid], "o-", label="validation loss", markersize=3)
    if not train and not valid:
        ax.text(0.5, 0.5, "no metrics published", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if train or valid:
        ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


@dataclass(frozen=True)
class CompletionPost:
    text: str
    chart_png: bytes | None
    offer_activation: bool


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "unknown"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def summary_text(job: FineTuneJob, points: Sequence[MetricPoint] = (), *, simulated: bool = False) -> str:
    icon = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️"}.get(job.status, "ℹ️")
    lines = [f"{icon} Fine-tuning job `{job.job_id}` ({job.provider}) **{job.status}**."]
    if simulated:
        lines.append("_(The provider is simulated: this is the local fake, not a real model.)_")
    lines.append(
        f"Base model: `{job.base_model}`" + (f" → `{job.fine_tuned_model}`" if job.fine_tuned_model else "")
    )
    if job.trained_tokens is not None:
        lines.append(f"Trained tokens: {job.trained_tokens:,}")
    lines.append(f"Duration: {_duration(job.duration_seconds)}")
    last_train = next((p.train_loss for p in reversed(points) if p.train_loss is not None), None)
    last_valid = next((p.valid_loss for p in reversed(points) if p.valid_loss is not None), None)
    if last_train is not None:
        lines.append(
            f"Final training loss: {last_train:.4f}"
            + (f", validation loss: {last_valid:.4f}" if last_valid is not None else "")
        )
    if job.error:
        lines.append(f"Error: {job.error[:500]}")
    return "\n".join(lines)


def completion_post(
    job: FineTuneJob, points: Sequence[MetricPoint], *, simulated: bool = False
) -> CompletionPost:
    """Text and chart for the channel where the job was started. The chart is None when there are no
    metrics."""
    chart = loss_chart_png(points, title=f"{job.fine_tuned_model or job.job_id}") if points else None
    return CompletionPost(
        text=summary_text(job, points, simulated=simulated),
        chart_png=chart,
        offer_activation=job.status == "succeeded" and bool(job.fine_tuned_model),
    )
