"""Caps that keep checking an upload fast and bounded, whatever the file holds."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput

MB = 1024 * 1024


@dataclass(frozen=True)
class DatasetLimits:
    # One JSONL line or CSV row; OpenAI's longest training contexts fit well within this.
    max_line_bytes: int = 256 * 1024
    # A whole file, or the uncompressed content of one zip member.
    max_file_bytes: int = 25 * MB
    max_examples: int = 250_000
    # Zip bomb defence: member count, total and per-member uncompressed size, compression ratio.
    max_zip_members: int = 50
    max_zip_total_bytes: int = 100 * MB
    max_zip_member_bytes: int = 50 * MB
    max_zip_ratio: float = 100.0
    # The ratio check applies above this size: small members may compress very well and harm no one.
    zip_ratio_floor_bytes: int = 1 * MB
    # A zip that arrives as a non-seekable stream is spooled; beyond this it spills to a temp file.
    zip_spool_bytes: int = 8 * MB
    # How many rejection reasons a report keeps (the counts are always complete).
    max_reasons: int = 10
    # One stored example (its JSON, UTF-8): DynamoDB refuses items over 400 KB, and the item holds its keys
    # and a few small attributes besides.
    max_stored_example_bytes: int = 380 * 1024


class DatasetFileRejected(InvalidInput):
    """The whole file is refused (zip bomb, missing CSV columns, unsupported type, too large)."""

    user_message = "I could not read that file."

    def __init__(self, user_message: str | None = None, *, line: int = 0, member: str | None = None) -> None:
        super().__init__(user_message)
        # Where reading stopped, when it stopped part way (the file-size cap): the ingest reports it.
        self.line = line
        self.member = member
