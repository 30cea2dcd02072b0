"""The loss chart (a real PNG of the right size) and the completion summary."""

from __future__ import annotations

import base64
import io

from shared.finetune.charts import CHART_SIZE_PX, completion_post, loss_chart_png, summary_text
from shared.finetune.jobs import FineTuneJob, MetricPoint
from shared.finetune.metrics import parse_bedrock_metrics, parse_openai_results

CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,2.5,0.4,,\n2,1.9,0.5,2.1,0.45\n3,1.2,0.6,,\n4,0.8,0.7,1.0,0.66\n"
)


def decode_png(data: bytes):
    """The decoded image as (height, width, pixels) with a spread of pixel values."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


def test_parse_openai_results_plain_and_base64():
    expected = [
        MetricPoint(1, 2.5, None),
        MetricPoint(2, 1.9, 2.1),
        MetricPoint(3, 1.2, None),
        MetricPoint(4, 0.8, 1.0),
    ]
    assert parse_openai_results(CSV) == expected
    assert parse_openai_results(base64.b64encode(CSV.encode())) == expected


def test_parse_bedrock_metrics_merges_by_step():
    train = "step_number,epoch_number,training_loss,perplexity\n0,0,3.0,20.1\n1,0,2.0,7.4\n2,1,1.5,4.5\n"
    valid = "step_number,epoch_number,validation_loss,perplexity\n2,1,1.7,5.5\n"
    assert parse_bedrock_metrics(train.encode(), valid.encode()) == [
        MetricPoint(0, 3.0, None),
        MetricPoint(1, 2.0, None),
        MetricPoint(2, 1.5, 1.7),
    ]


def test_chart_is_a_png_of_the_right_size():
    png = loss_chart_png(parse_openai_results(CSV))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = decode_png(png)
    assert image.format == "PNG" and image.size == CHART_SIZE_PX
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    # Both series are drawn in their own colours, not a blank canvas.
    assert (31, 119, 180) in colours and (255, 127, 14) in colours


def test_completion_post_text_and_chart():
    job = FineTuneJob(
        provider="openai",
        job_id="ftjob-1",
        status="succeeded",
        base_model="gpt-4.1-mini",
        fine_tuned_model="ft:gpt-4.1-mini:org::x",
        trained_tokens=12345,
        created_at=1000,
        finished_at=1000 + 3725,
    )
    post = completion_post(job, parse_openai_results(CSV), simulated=True)
    assert post.offer_activation
    assert decode_png(post.chart_png).size == CHART_SIZE_PX
    for text in ("succeeded", "ft:gpt-4.1-mini:org::x", "12,345", "1h 02m", "0.8000", "1.0000", "simulated"):
        assert text in post.text


def test_no_metrics_means_no_chart_and_failure_text():
    job = FineTuneJob(
        provider="bedrock", job_id="dbt-1", status="failed", base_model="nova", error="bad data"
    )
    post = completion_post(job, [])
    assert post.chart_png is None and not post.offer_activation
    assert "bad data" in summary_text(job) and "Duration: unknown" in post.text


def test_axis_ticks_cover_every_point():
    from shared.finetune.charts import _nice_ticks

    for low, high in ((1, 120), (0.1, 2.6), (5, 5), (0.0012, 0.0093), (3, 1000)):
        ticks = _nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high, (low, high, ticks)
        assert 2 <= len(ticks) <= 12
