"""The completion post: a loss chart (PNG) and a short summary of a finished job.

The points come from :mod:`shared.finetune.metrics`. Pillow draws the chart (imported lazily).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from shared.finetune.jobs import FineTuneJob, MetricPoint
from shared.finetune.providers import SIMULATED_NOTE

CHART_SIZE_PX = (960, 540)


_TRAIN_COLOUR = (31, 119, 180)
_VALID_COLOUR = (255, 127, 14)
_INK = (40, 40, 40)
_GRID = (225, 225, 225)
_MARGIN = (80, 50, 30, 60)  # left, top, right, bottom


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high:  # the last tick is at or past the highest value, so every point is inside
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def loss_chart_png(points: Sequence[MetricPoint], *, title: str = "Loss by step") -> bytes:
    """A PNG of training (and, where measured, validation) loss by step, ``CHART_SIZE_PX`` pixels.

    Drawn with Pillow: matplotlib with numpy and fontTools would take the watcher over Lambda's 250 MB."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = CHART_SIZE_PX
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    title_font = ImageFont.load_default(size=18)
    left, top, right, bottom = _MARGIN[0], _MARGIN[1], width - _MARGIN[2], height - _MARGIN[3]
    draw.text((width / 2, 14), title, fill=_INK, font=title_font, anchor="mt")
    train = [(p.step, p.train_loss) for p in points if p.train_loss is not None]
    valid = [(p.step, p.valid_loss) for p in points if p.valid_loss is not None]
    series = [s for s in (train, valid) if s]
    if not series:
        draw.text((width / 2, height / 2), "no metrics published", fill=_INK, font=font, anchor="mm")
        return _png(image)
    steps = [step for s in series for step, _ in s]
    losses = [loss for s in series for _, loss in s]
    x_ticks = _nice_ticks(min(steps), max(steps))
    y_ticks = _nice_ticks(min(losses), max(losses))
    x_low, x_high, y_low, y_high = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def at(step: float, loss: float) -> tuple[float, float]:
        x = left + (step - x_low) / ((x_high - x_low) or 1) * (right - left)
        y = bottom - (loss - y_low) / ((y_high - y_low) or 1) * (bottom - top)
        return x, y

    for tick in y_ticks:
        _, y = at(x_low, tick)
        draw.line([(left, y), (right, y)], fill=_GRID)
        draw.text((left - 8, y), f"{tick:g}", fill=_INK, font=font, anchor="rm")
    for tick in x_ticks:
        x, _ = at(tick, y_low)
        draw.line([(x, top), (x, bottom)], fill=_GRID)
        draw.text((x, bottom + 8), f"{tick:g}", fill=_INK, font=font, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=_INK)
    draw.text(((left + right) / 2, height - 12), "step", fill=_INK, font=font, anchor="mb")
    draw.text((12, (top + bottom) / 2), "loss", fill=_INK, font=font, anchor="lm")
    legend = []
    if train:
        if len(train) > 1:
            draw.line([at(s, v) for s, v in train], fill=_TRAIN_COLOUR, width=2)
        legend.append(("training loss", _TRAIN_COLOUR))
    if valid:
        if len(valid) > 1:
            draw.line([at(s, v) for s, v in valid], fill=_VALID_COLOUR, width=2)
        for s, v in valid:
            x, y = at(s, v)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=_VALID_COLOUR)
        legend.append(("validation loss", _VALID_COLOUR))
    for index, (label, colour) in enumerate(legend):
        y = top + 14 + index * 20
        draw.line([(right - 170, y), (right - 145, y)], fill=colour, width=3)
        draw.text((right - 138, y), label, fill=_INK, font=font, anchor="lm")
    return _png(image)


def _png(image: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)  # type: ignore[attr-defined]
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
        lines.append(SIMULATED_NOTE)
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
