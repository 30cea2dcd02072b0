"""espeak-ng: offline, fast, always there; the fallback when a network engine fails."""

from __future__ import annotations

import functools
import logging
import subprocess
import uuid
from pathlib import Path

from voice_worker.errors import SpeechFailed
from voice_worker.tts.base import primary_subtag

log = logging.getLogger(__name__)


@functools.cache
def installed_voices(executable: str = "espeak-ng") -> frozenset[str]:
    # The executable is configuration, never user input; the text goes through stdin.
    out = subprocess.run([executable, "--voices"], capture_output=True, text=True,  # noqa: S603
                         timeout=10, check=True).stdout
    # Columns: Pty Language Age/Gender VoiceName File Other; the language column is what -v accepts.
    return frozenset(line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1)


class EspeakEngine:
    name = "espeak"

    def __init__(self, executable: str = "espeak-ng", words_per_minute: int = 160) -> None:
        self._executable = executable
        self._wpm = words_per_minute

    def voice_for(self, language: str) -> str:
        voices = installed_voices(self._executable)
        tag = language.replace("_", "-").lower()
        for candidate in (tag, primary_subtag(language)):
            if candidate in voices:
                return candidate
        return "en"

    def synthesize(self, text: str, language: str, out_dir: Path) -> Path:
        path = out_dir / f"{uuid.uuid4().hex}.wav"
        try:
            voice = self.voice_for(language)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SpeechFailed(detail=f"espeak-ng did not run: {exc}") from exc
        # Text goes through stdin so that text starting with "-" is never read as an option.
        cmd = [self._executable, "-v", voice, "-s", str(self._wpm), "-w", str(path), "--stdin"]
        try:
            proc = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=30, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechFailed(detail=f"espeak-ng did not run: {exc}") from exc
        if proc.returncode != 0 or not path.exists() or path.stat().st_size <= 44:
            raise SpeechFailed(detail=f"espeak-ng exited {proc.returncode}: {proc.stderr[-300:]!r}")
        return path
