"""Feedback and corrections in the data table.

Writes are keyed by the interaction id (or, for votes, by message and voter), so a replayed interaction
finds its record already there and stores nothing twice.
"""

from __future__ import annotations

import time
from typing import Any

from shared.domain.feedback import Correction, Feedback
from shared.storage import keys
from shared.storage.table import DataTable

DRAFT_TTL_SECONDS = 24 * 3600


class FeedbackStore:
    def __init__(self, table: DataTable) -> None:
        self._table = table

    def add_feedback(self, feedback: Feedback) -> bool:
        item = {"pk": keys.guild_pk(feedback.guild_id), "sk": keys.feedback_sk(feedback.interaction_id)}
        return self._table.put_new({**item, **feedback.to_item()})

    def set_vote(self, feedback: Feedback) -> None:
        """One vote per person per message: pressing the other button changes it."""
        sk = keys.vote_sk(feedback.message_id, feedback.user_id)
        self._table.put({"pk": keys.guild_pk(feedback.guild_id), "sk": sk, **feedback.to_item()})

    def add_correction(self, correction: Correction) -> bool:
        item = {"pk": keys.guild_pk(correction.guild_id), "sk": keys.correction_sk(correction.interaction_id)}
        return self._table.put_new({**item, **correction.to_item()})

    def save_draft(self, guild_id: str, message_id: str, *, original_text: str, channel_id: str) -> None:
        """Keep the answer being corrected until the modal comes back (a modal submit does not carry it)."""
        self._table.put(
            {
                "pk": keys.guild_pk(guild_id),
                "sk": keys.correction_draft_sk(message_id),
                "original_text": original_text,
                "channel_id": channel_id,
                "expires_at": int(time.time()) + DRAFT_TTL_SECONDS,
            }
        )

    def draft(self, guild_id: str, message_id: str) -> dict[str, Any] | None:
        return self._table.get(keys.guild_pk(guild_id), keys.correction_draft_sk(message_id))
