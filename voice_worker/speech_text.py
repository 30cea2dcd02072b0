"""Turning a Discord message into text a speech engine can read: mentions become display names, links and emoji
are skipped (what users of TTS bots ask for most: no spelled-out URLs, no "grinning face"), markdown goes, and
long text is split at sentence boundaries and capped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&\d+>")
CHANNEL_MENTION = re.compile(r"<#\d+>")
CUSTOM_EMOJI = re.compile(r"<a?:([A-Za-z0-9_~]+):\d+>")
TIMESTAMP = re.compile(r"<t:-?\d+(?::[tTdDfFR])?>")
LINK = re.compile(r"<?https?://[^\s<>]+>?")
# Pictographs, symbols, flags, keycaps, skin tones and the joiners and selectors that build emoji sequences.
UNICODE_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF"
                           "\U0001F1E6-\U0001F1FF\u200D\uFE0E\uFE0F\u20E3]+")
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.!?;:])")
MARKDOWN = re.compile(r"(\*\*|__|~~|\|\||`{1,3}|^>+ ?|^#+ )", re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")
WHITESPACE = re.compile(r"\s+")

DEFAULT_CHUNK_CHARS = 200


@dataclass(frozen=True)
class SpeechText:
    chunks: tuple[str, ...]
    truncated: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.chunks)


def readable(text: str, name_of: Callable[[str], str | None] | None = None) -> str:
    """Replace what a voice should not spell out; ``name_of`` maps a user id to a display name."""

    def user_phrase(match: re.Match[str]) -> str:
        name = name_of(match.group(1)) if name_of else None
        return f" {name} " if name else " someone "

    text = LINK.sub(" ", text)
    text = USER_MENTION.sub(user_phrase, text)
    text = ROLE_MENTION.sub(" a role ", text)
    text = CHANNEL_MENTION.sub(" a channel ", text)
    text = CUSTOM_EMOJI.sub(" ", text)
    text = UNICODE_EMOJI.sub(" ", text)
    text = TIMESTAMP.sub(" a time ", text)
    text = MARKDOWN.sub("", text)
    text = WHITESPACE.sub(" ", text).strip()
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


def _split_long(sentence: str, limit: int) -> list[str]:
    """A sentence longer than ``limit``: break at the last comma or space that fits, else hard."""
    parts: list[str] = []
    while len(sentence) > limit:
        cut = max(sentence.rfind(", ", 0, limit), sentence.rfind(" ", 0, limit))
        cut = cut + 1 if cut > 0 else limit
        parts.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        parts.append(sentence)
    return parts


def split_sentences(text: str, limit: int = DEFAULT_CHUNK_CHARS) -> list[str]:
    """Chunks of at most ``limit`` characters, each ending at a sentence boundary where one fits."""
    chunks: list[str] = []
    current = ""
    for sentence in SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        for piece in _split_long(sentence, limit):
            if current and len(current) + 1 + len(piece) <= limit:
                current = f"{current} {piece}"
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def prepare(text: str, *, max_chars: int, chunk_chars: int = DEFAULT_CHUNK_CHARS,
            name_of: Callable[[str], str | None] | None = None) -> SpeechText:
    """Readable text split into chunks, capped at ``max_chars`` (whole chunks where possible)."""
    chunks: list[str] = []
    total = 0
    truncated = False
    for chunk in split_sentences(readable(text, name_of), chunk_chars):
        room = max_chars - total
        if room <= 0:
            truncated = True
            break
        if len(chunk) > room:
            chunk = _split_long(chunk, room)[0]
            truncated = True
        chunks.append(chunk)
        total += len(chunk) + 1
        if truncated:
            break
    return SpeechText(tuple(chunks), truncated)
