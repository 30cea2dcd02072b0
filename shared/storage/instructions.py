"""The guild's instruction text (``/instruction``): an S3 object per guild, a bundled default otherwise."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from shared.errors import NotSaved
from shared.storage import keys

log = logging.getLogger(__name__)
MAX_INSTRUCTION_BYTES = 64 * 1024


def default_instruction() -> str:
    return resources.files("shared.assets").joinpath("instruction.md").read_text(encoding="utf-8")


def instruction_key(guild_id: str) -> str:
    return keys.bucket_prefix(guild_id) + "instruction.md"


class InstructionStore:
    def __init__(self, bucket: str, s3_client: Any) -> None:
        self._bucket = bucket
        self._s3 = s3_client

    def get(self, guild_id: str | None) -> str:
        if not guild_id:
            return default_instruction()
        from botocore.exceptions import ClientError

        try:
            obj = self._s3.get_object(Bucket=self._bucket, Key=instruction_key(guild_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                # Storage trouble should not hide the instructions: say so in the log, show the default.
                log.warning("instruction read failed: %s", exc.response.get("Error", {}).get("Code"))
            return default_instruction()
        body = obj["Body"].read(MAX_INSTRUCTION_BYTES + 1)
        return body[:MAX_INSTRUCTION_BYTES].decode("utf-8", errors="replace")

    def put(self, guild_id: str, text: str) -> None:
        """Store the guild's text; an empty one goes back to the bundled default."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if text.strip():
                self._s3.put_object(Bucket=self._bucket, Key=instruction_key(guild_id), Body=text.encode("utf-8"),
                                    ContentType="text/markdown; charset=utf-8")
            else:
                self._s3.delete_object(Bucket=self._bucket, Key=instruction_key(guild_id))
        except (ClientError, BotoCoreError) as exc:
            log.error("instruction write failed: %s", type(exc).__name__)
            raise NotSaved(detail=str(exc)) from exc
