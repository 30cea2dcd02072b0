"""shared.discord.text: one clip and one size format for every part that sends messages."""

from __future__ import annotations

from shared.discord.text import MAX_CONTENT, clip, human_size


def test_clip_keeps_short_text_and_cuts_long_text_to_the_limit():
    assert clip("hello") == "hello"
    assert clip("x" * MAX_CONTENT) == "x" * MAX_CONTENT
    cut = clip("x" * (MAX_CONTENT + 1))
    assert len(cut) == MAX_CONTENT and cut.endswith("…")
    assert clip("abcdef", 4) == "abc…"


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 1536 * 1024)] == ["0 bytes", "1023 bytes", "1 KB", "1.5 MB"]
