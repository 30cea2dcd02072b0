"""What a fine-tune job trains on: the selected dataset plus the guild's corrections of bot answers that know
their prompt, as preference pairs (original = rejected, correction = preferred)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from shared.domain.examples import ChatMessage, Example
from shared.storage import keys
from shared.storage.table import DataTable

logger = logging.getLogger(__name__)


def correction_examples(table: DataTable, guild_id: str) -> Iterator[Example]:
    """The guild's corrections as preference pairs. A correction without a prompt (of a message the bot did
    not record as an exchange) cannot become a training line, so it is left out."""
    for item in table.query_prefix(keys.guild_pk(guild_id), keys.CORRECTION_PREFIX):
        prompt = str(item.get("prompt") or "").strip()
        original = str(item.get("original_text") or "")
        correction = str(item.get("correction") or "").strip()
        if not prompt or not correction:
            continue
        yield Example(
            messages=(ChatMessage("user", prompt), ChatMessage("assistant", correction)),
            positive=True,
            rejected=original,
            source="correction",
            added_by=str(item.get("user_id") or ""),
            added_at=str(item.get("created_at") or ""),
            origin=str(item.get("message_id") or ""),
        )


def training_examples(dataset_store: Any, table: DataTable, guild_id: str, dataset: str) -> list[Example]:
    examples = list(dataset_store.iter_examples(guild_id, dataset))
    corrections = list(correction_examples(table, guild_id))
    logger.info("guild %s: %d dataset examples, %d corrections", guild_id, len(examples), len(corrections))
    return examples + corrections
