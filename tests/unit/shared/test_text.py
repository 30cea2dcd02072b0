"""shared.discord.text: one clip and one size format for every part that sends messages."""

from __future__ import annotations

from functions.interactions import responses
from functions.worker import processor, training_tasks
from shared.discord.text import MAX_CONTENT, clip, human_size


def test_clip_keeps_short_text_and_cuts_long_text_to_the_limit():
    assert clip("hello") == "hello"
    assert clip("x" * MAX_CONTENT) == "x" * MAX_CONTENT
    cut = clip("x" * (MAX_CONTENT + 1))
    assert len(cut) == MAX_CONTENT and cut.endswith("…")
    assert clip("abcdef", 4) == "abc…"


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 1536 * 1024)] == ["0 bytes", "1023 bytes", "1 KB", "1.5 MB"]


def test_one_definition_everywhere():
    # The worker artifact ships functions/worker and shared only, so the limit and its helpers live in shared:
    # an inline reply and a worker's edit of a long text are cut the same way, at the same limit.
    long = "y" * (MAX_CONTENT + 10)
    assert responses.message_data(long)["content"] == clip(long)
    assert processor._clipped(long) == clip(long)
    assert responses.clip is clip and processor.clip is clip
    assert training_tasks.human_size is human_size
