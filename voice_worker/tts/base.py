"""The interface every speech engine implements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Clip:
    """An audio file ready for ffmpeg, and which engine made it (the fallback shows here)."""

    path: Path
    engine: str


class SpeechEngine(Protocol):
    name: str

    def synthesize(self, text: str, language: str, out_dir: Path) -> Path:
        """Write speech for ``text`` to a new file in ``out_dir`` and return its path (blocking).

        Raises SpeechFailed (RateLimited when the service throttles) on failure.
        """
        ...


def primary_subtag(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower() or "en"
