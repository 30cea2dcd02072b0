"""Per-step losses of a finished job, read from what each provider writes.

OpenAI's result file is a CSV (``step,train_loss,train_accuracy,valid_loss,...``; the service serves it
base64-encoded); Bedrock writes ``step_wise_training_metrics.csv`` and ``validation_metrics.csv`` to the job's S3
output. The providers parse with these; :mod:`shared.finetune.charts` draws what they return.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io

from shared.finetune.jobs import MetricPoint


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
