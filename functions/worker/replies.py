"""A job's reply recorded before it is delivered, so that delivering it again never runs the job again.

The text parts live in the idempotency record beside the job's status; the files (archives, reports) go to
the bucket, since a record holds at most 400 KB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from functions.worker.outcome import TaskOutcome
from shared.contracts.messages import TaskRequest
from shared.storage.keys import pending_reply_key


@dataclass(frozen=True)
class PendingReply:
    content: str | None = None
    embeds: list[dict[str, Any]] | None = None
    components: list[dict[str, Any]] | None = None
    allowed_mentions: dict[str, Any] | None = None
    files: tuple[tuple[str, bytes], ...] = field(default=())
    after_delivery: tuple[str, dict[str, Any]] | None = None

    @classmethod
    def from_outcome(cls, outcome: TaskOutcome) -> PendingReply:
        return cls(content=outcome.content, embeds=outcome.embeds, components=outcome.components,
                   allowed_mentions=outcome.allowed_mentions, files=tuple(outcome.files),
                   after_delivery=outcome.after_delivery)

    def outcome(self) -> TaskOutcome:
        return TaskOutcome(content=self.content, embeds=self.embeds, components=self.components,
                          allowed_mentions=self.allowed_mentions, files=self.files,
                          after_delivery=self.after_delivery)


class ReplyStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def save(self, request: TaskRequest, reply: PendingReply) -> dict[str, Any]:
        """Store the reply's files; return the JSON-able record that :meth:`load` reads back."""
        ref = request.interaction
        files = []
        for index, (name, data) in enumerate(reply.files):
            key = pending_reply_key(ref.guild_id, ref.id, index, name)
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
            files.append({"name": name, "key": key})
        return {"content": reply.content, "embeds": reply.embeds, "components": reply.components,
                "allowed_mentions": reply.allowed_mentions, "files": files,
                "after_delivery": list(reply.after_delivery) if reply.after_delivery else None}

    def load(self, record: dict[str, Any]) -> PendingReply:
        files = tuple((f["name"], self.s3.get_object(Bucket=self.bucket, Key=f["key"])["Body"].read())
                      for f in record.get("files") or ())
        after = record.get("after_delivery")
        return PendingReply(content=record.get("content"), embeds=record.get("embeds"),
                            components=record.get("components"), allowed_mentions=record.get("allowed_mentions"),
                            files=files, after_delivery=(after[0], after[1]) if after else None)
