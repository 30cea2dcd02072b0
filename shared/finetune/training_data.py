"""What a fine-tune job on a dataset trains on: its examples, and nothing else.

Corrections and 👎 votes reach a dataset only when a trainer approves them into it (``/review``); an approved
correction is stored there as a preference pair (original = rejected, correction = preferred).
"""

from __future__ import annotations

import logging
from typing import Any

from shared.domain.examples import Example

logger = logging.getLogger(__name__)


def training_examples(dataset_store: Any, guild_id: str, dataset: str) -> list[Example]:
    examples = list(dataset_store.iter_examples(guild_id, dataset))
    logger.info("guild %s: %d examples in %s", guild_id, len(examples), dataset)
    return examples
