"""Token counting and export throughput: python -m tests.bench.bench_finetune_tokens"""

from __future__ import annotations

import time

from shared.domain.examples import ChatMessage, Example
from shared.finetune.catalog import load_catalog
from shared.finetune.exports import export_training
from shared.finetune.tokens import estimate_export, load_encoding


def main() -> None:
    started = time.perf_counter()
    load_encoding()
    print(f"o200k_base load (offline data, hash checked): {time.perf_counter() - started:.3f} s")
    catalog = load_catalog()
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    examples = [
        Example(
            messages=(
                ChatMessage("system", "You are the community's helpful bot."),
                ChatMessage("user", f"Question {i}: how do I set up voice on server {i}? " * 3),
                ChatMessage("assistant", f"Answer {i}: use /join, then /say. Check permissions. " * 4),
            )
        )
        for i in range(2000)
    ]
    started = time.perf_counter()
    export = export_training(examples, spec, catalog)
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    est = estimate_export(export, spec, catalog)
    estimate_s = time.perf_counter() - started
    print(f"export 2000 examples: {export_s:.3f} s")
    print(
        f"estimate {est.n_train} examples, {est.billing_tokens_per_epoch:,} tokens: {estimate_s:.3f} s "
        f"({est.billing_tokens_per_epoch / estimate_s:,.0f} tokens/s)"
    )


if __name__ == "__main__":
    main()
