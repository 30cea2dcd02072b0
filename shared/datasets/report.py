"""What an upload did: counts, the first reasons for rejections, and the dataset's new size."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    member: str | None = None  # the file inside a zip, when there is one

    def where(self) -> str:
        return f"{self.member} line {self.line}" if self.member else f"line {self.line}"


@dataclass
class IngestReport:
    dataset: str
    added: int = 0
    rejected: int = 0
    duplicates_in_file: int = 0
    duplicates_existing: int = 0
    reasons: list[Rejection] = field(default_factory=list)
    dataset_size: int = 0
    positive_count: int = 0
    negative_count: int = 0
    max_reasons: int = 10
    # Set when the file was refused part way (the size cap): where, and why. What came before is kept.
    stopped_at: str = ""
    stopped_reason: str = ""
    # Examples read back from an /archive zip keep their own positive/negative flags.
    from_archive: int = 0

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.reasons) < self.max_reasons:
            self.reasons.append(rejection)

    @property
    def duplicates(self) -> int:
        return self.duplicates_in_file + self.duplicates_existing

    def summary(self) -> str:
        """The reply text (Discord markdown, well under 2000 characters)."""
        lines = [f"Dataset **{self.dataset}**: added {self.added} example{'s' if self.added != 1 else ''}."]
        if self.stopped_reason:
            lines.append(
                f"Stopped at {self.stopped_at or 'the end'}: {self.stopped_reason} "
                f"Added {self.added} before that; the rest of the file was not read."
            )
        if self.duplicates:
            parts = []
            if self.duplicates_existing:
                parts.append(f"{self.duplicates_existing} already in the dataset")
            if self.duplicates_in_file:
                parts.append(f"{self.duplicates_in_file} repeated in the upload")
            plural = "s" if self.duplicates != 1 else ""
            lines.append(f"Skipped {self.duplicates} duplicate{plural} ({', '.join(parts)}).")
        if self.rejected:
            lines.append(f"Rejected {self.rejected}:")
            for r in self.reasons:
                lines.append(f"- {r.where()}: {r.reason[:150]}")
            if self.rejected > len(self.reasons):
                lines.append(f"- … and {self.rejected - len(self.reasons)} more")
        lines.append(
            f"The dataset now holds {self.dataset_size} example{'s' if self.dataset_size != 1 else ''} "
            f"({self.positive_count} positive, {self.negative_count} negative)."
        )
        return "\n".join(lines)
