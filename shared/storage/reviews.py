"""What members say about the bot's answers, waiting for a trainer: corrections and 👎 votes.

Records (keys from :mod:`shared.storage.keys`), both under ``pk=GUILD#{guild}``:

- a correction: ``sk=CORRECTION#{message}#{user}`` (one per person per answer: a new one replaces the old);
- a vote: ``sk=FEEDBACK#VOTE#{message}#{user}`` (written by :class:`~shared.storage.feedback.FeedbackStore`).

While one waits, it carries ``status=pending`` and ``gsi1pk=REVIEW#{guild}`` / ``gsi1sk={created_at}#{sk}``: a
sparse index of the guild's queue, oldest first. A decision sets ``status`` (``approved`` with the ``dataset`` it
went into, or ``rejected``), ``reviewed_by`` and ``reviewed_at``, and removes the index attributes, on the
condition that the item was still pending, so two trainers never decide the same item twice.

Only an approved item becomes training data: an example of the chosen dataset (see :meth:`ReviewItem.example`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.examples import ChatMessage, Example
from shared.domain.feedback import Correction
from shared.domain.time import utc_now
from shared.storage import keys
from shared.storage.table import ConditionFailed, DataTable

REVIEW_INDEX = "gsi1"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
KINDS = {"c": "correction", "v": "downvote"}


class AlreadyReviewed(Exception):
    """The item was decided (or replaced) meanwhile."""


@dataclass(frozen=True)
class ReviewItem:
    guild_id: str
    kind: str  # "correction" or "downvote"
    message_id: str
    user_id: str
    prompt: str
    answer: str
    correction: str = ""
    created_at: str = ""
    status: str = PENDING
    dataset: str = ""

    @property
    def ref(self) -> str:
        """``c:{message}:{user}`` or ``v:{message}:{user}``: what a review button names."""
        return f"{'c' if self.kind == 'correction' else 'v'}:{self.message_id}:{self.user_id}"

    @property
    def sk(self) -> str:
        if self.kind == "correction":
            return keys.correction_by_sk(self.message_id, self.user_id)
        return keys.vote_sk(self.message_id, self.user_id)

    def example(self, *, correction: str | None = None) -> Example:
        """The training example an approval adds: a preference pair (prompt → correction, the bot's answer
        rejected), or, for a 👎 without a correction, the answer as a negative example."""
        better = (correction if correction is not None else self.correction).strip()
        if better:
            return Example(messages=(ChatMessage("user", self.prompt), ChatMessage("assistant", better)),
                           positive=True, rejected=self.answer, source="correction", added_by=self.user_id,
                           added_at=self.created_at, origin=self.message_id)
        return Example(messages=(ChatMessage("user", self.prompt), ChatMessage("assistant", self.answer)),
                       positive=False, source="vote", added_by=self.user_id, added_at=self.created_at,
                       origin=self.message_id)


def _item(record: dict[str, Any]) -> ReviewItem:
    kind = "correction" if str(record.get("sk", "")).startswith("CORRECTION#") else "downvote"
    return ReviewItem(
        guild_id=str(record.get("guild_id", "")),
        kind=kind,
        message_id=str(record.get("message_id", "")),
        user_id=str(record.get("user_id", "")),
        prompt=str(record.get("prompt", "")),
        answer=str(record.get("original_text") or record.get("answer") or ""),
        correction=str(record.get("correction", "")),
        created_at=str(record.get("created_at", "")),
        status=str(record.get("status", PENDING)),
        dataset=str(record.get("dataset", "")),
    )


def parse_ref(ref: str) -> tuple[str, str, str] | None:
    """``c:{message}:{user}`` → (kind, message id, user id); None when it is not one."""
    parts = ref.split(":")
    if len(parts) != 3 or parts[0] not in KINDS or not all(p.isdigit() for p in parts[1:]):
        return None
    return KINDS[parts[0]], parts[1], parts[2]


class ReviewStore:
    def __init__(self, table: DataTable) -> None:
        self._table = table

    def _queue_attributes(self, guild_id: str, sk: str, created_at: str) -> dict[str, Any]:
        return {"status": PENDING, "gsi1pk": keys.review_index_pk(guild_id), "gsi1sk": f"{created_at}#{sk}"}

    def save_correction(self, correction: Correction, *, approved_into: str = "", reviewer: str = "") -> None:
        """Store (or replace) this person's correction of this answer: pending, or approved into a dataset."""
        sk = keys.correction_by_sk(correction.message_id, correction.user_id)
        item: dict[str, Any] = {"pk": keys.guild_pk(correction.guild_id), "sk": sk, **correction.to_item()}
        if approved_into:
            item.update(status=APPROVED, dataset=approved_into, reviewed_by=reviewer, reviewed_at=utc_now())
        else:
            item.update(self._queue_attributes(correction.guild_id, sk, correction.created_at))
        self._table.put(item)

    def queue_vote(self, guild_id: str, message_id: str, user_id: str, *, prompt: str, answer: str,
                   created_at: str) -> None:
        """A 👎 on an answer the bot recorded: its vote record joins the review queue."""
        sk = keys.vote_sk(message_id, user_id)
        self._table.update(keys.guild_pk(guild_id), sk,
                           set={"prompt": prompt, "answer": answer,
                                **self._queue_attributes(guild_id, sk, created_at)},
                           condition="attribute_exists(pk)")

    def mark_vote_approved(self, guild_id: str, message_id: str, user_id: str, *, prompt: str, answer: str,
                           dataset: str, reviewer: str) -> None:
        self._table.update(keys.guild_pk(guild_id), keys.vote_sk(message_id, user_id),
                           set={"prompt": prompt, "answer": answer, "status": APPROVED, "dataset": dataset,
                                "reviewed_by": reviewer, "reviewed_at": utc_now()},
                           condition="attribute_exists(pk)")

    def pending(self, guild_id: str) -> list[ReviewItem]:
        """What waits for review, oldest first."""
        found = self._table.query_index(REVIEW_INDEX, "gsi1pk", keys.review_index_pk(guild_id))
        return [_item(record) for record in found if record.get("status") == PENDING]

    def get(self, guild_id: str, kind: str, message_id: str, user_id: str) -> ReviewItem | None:
        probe = ReviewItem(guild_id, kind, message_id, user_id, "", "")
        record = self._table.get(keys.guild_pk(guild_id), probe.sk)
        return _item(record) if record else None

    def decide(self, item: ReviewItem, *, status: str, reviewer: str, dataset: str = "",
               correction: str | None = None) -> None:
        """Approve or reject ``item`` if it is still pending and unchanged; :class:`AlreadyReviewed` if not."""
        changes: dict[str, Any] = {"status": status, "reviewed_by": reviewer, "reviewed_at": utc_now()}
        if dataset:
            changes["dataset"] = dataset
        if correction is not None:
            changes["correction"] = correction
        try:
            self._table.update(keys.guild_pk(item.guild_id), item.sk, set=changes, remove=("gsi1pk", "gsi1sk"),
                               condition="#st = :pending AND created_at = :created",
                               names={"#st": "status"}, values={":pending": PENDING, ":created": item.created_at})
        except ConditionFailed as exc:
            raise AlreadyReviewed(item.ref) from exc
