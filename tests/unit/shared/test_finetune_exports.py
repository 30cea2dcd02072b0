"""Exports from the neutral form, line by line, per format (unit: no I/O)."""

from __future__ import annotations

import json

import pytest

from infra.fakes.openai_server import shared_validator
from shared.domain.examples import ChatMessage, Example
from shared.finetune.exceptions import NothingToTrain
from shared.finetune.exports import build_training_set, export_training
from tests.support.examples import chat, many

SYSTEM = "You are the server's helpful bot."


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def test_supervised_openai_chat_lines(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    export = export_training([chat("Hi?", "Hello!", system=SYSTEM), chat("Bye?", "See you.")], spec, catalog)
    assert export.method == "supervised" and export.format == "openai-chat"
    assert sorted(lines(export.train_jsonl()), key=lambda line: line["messages"][-1]["content"]) == [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Hi?"},
                {"role": "assistant", "content": "Hello!"},
            ]
        },
        {"messages": [{"role": "user", "content": "Bye?"}, {"role": "assistant", "content": "See you."}]},
    ]
    assert export.validation_jsonl() is None  # fewer than min_examples_for_validation


def test_a_correction_never_replaces_the_curated_examples(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    correction = chat("Capital of France?", "Paris.", rejected="Lyon.", source="correction")
    export = export_training([correction, chat("Hi?", "Hello!")], spec, catalog)
    assert export.method == "supervised" and export.format == "openai-chat"
    assert sorted(line["messages"][-1]["content"] for line in lines(export.train_jsonl())) == ["Hello!", "Paris."]
    report = export.report
    assert (report.n_supervised, report.n_preference, report.n_from_pairs) == (2, 1, 1)
    text = "\n".join(report.lines())
    assert "Stages: supervised only, on all 2 examples (1 of them the corrected answers of preference pairs)" in text
    assert "No preference stage: 1 pairs, and openai needs at least 10 for a preference stage" in text
    assert "not part of a DPO job" not in text


def test_preference_note_says_why_no_preference_stage(catalog):
    openai = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    nova = catalog.model("bedrock", "amazon.nova-micro-v1:0:128k")
    pairs = [chat(f"q{i}", f"good {i}", rejected=f"bad {i}") for i in range(12)]
    # At OpenAI's minimum a preference stage runs (the planner adds it): no note.
    assert export_training(pairs, openai, catalog).report.preference_note == ""
    assert "9 pairs, and openai needs at least 10" in export_training(pairs[:9], openai, catalog).report.preference_note
    assert "has no preference training" in export_training(pairs, nova, catalog).report.preference_note
    assert export_training(many(12), openai, catalog).report.preference_note == ""


def test_dpo_export_only_when_asked(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    correction = chat("Capital of France?", "Paris.", rejected="Lyon.", source="correction")
    export = export_training([correction, chat("Hi?", "Hello!")], spec, catalog, method="dpo")
    assert export.method == "dpo" and export.format == "openai-preference"
    assert lines(export.train_jsonl()) == [
        {
            "input": {"messages": [{"role": "user", "content": "Capital of France?"}]},
            "preferred_output": [{"role": "assistant", "content": "Paris."}],
            "non_preferred_output": [{"role": "assistant", "content": "Lyon."}],
        }
    ]
    assert export.report.supervised_left_out == 1  # "Hi?" has no pair


@pytest.mark.parametrize(("count", "short", "n_train"), [(9, True, 9), (10, False, 10), (11, False, 10)])
def test_below_the_providers_minimum_the_export_says_what_is_missing(catalog, count, short, n_train):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    report = export_training(many(count), spec, catalog).report
    # The validation split never takes the training file under the minimum (10 examples: no validation).
    assert report.n_train == n_train
    assert bool(report.shortfall) is short
    if short:
        assert report.shortfall.startswith("`gpt-4.1-mini-2025-04-14` needs at least 10 training examples; "
                                           "this dataset gives 9. Add 1 more")


def test_above_the_providers_maximum_the_export_says_so(catalog):
    from dataclasses import replace

    spec = replace(catalog.model("bedrock", "amazon.nova-micro-v1:0:128k"), max_examples=5, min_examples=1)
    assert "takes at most 5 training examples; this dataset gives 6" in export_training(
        many(6), spec, catalog).report.shortfall


def test_correction_is_prompt_to_corrected_answer_when_supervised(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    correction = chat("Capital of France?", "Paris.", rejected="Lyon.", source="correction")
    export = export_training([correction], spec, catalog, method="supervised")
    assert lines(export.train_jsonl()) == [
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
            ]
        }
    ]


def test_negative_examples_pair_with_a_positive_answer_or_are_excluded(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    examples = [
        chat("Tell me a joke", "Why did the bot cross the road?"),
        chat("Tell me a joke", "No.", positive=False),
        chat("Insult me", "You are dumb.", positive=False),
    ]
    training = build_training_set(examples)
    assert training.negatives_as_rejected == 1 and training.negatives_excluded == 1
    assert [(p.preferred, p.rejected) for p in training.preference] == [
        ("Why did the bot cross the road?", "No.")
    ]
    # A negative answer is never a supervised target.
    assert all(conv[-1].content not in ("No.", "You are dumb.") for conv in training.supervised)
    export = export_training(examples, spec, catalog, method="supervised")
    assert [line["messages"][-1]["content"] for line in export.train_lines] == [
        "Why did the bot cross the road?"
    ]
    assert export.report.negatives_excluded == 1
    assert any("left out" in text for text in export.report.lines())


def test_only_negatives_is_nothing_to_train(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    with pytest.raises(NothingToTrain) as info:
        export_training([chat("a", "b", positive=False)], spec, catalog)
    assert "positive examples or corrections" in info.value.user_message


def test_invalid_examples_are_counted_not_trained(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    no_answer = Example(messages=(ChatMessage("user", "hello?"), ChatMessage("user", "anyone?")))
    export = export_training([no_answer, chat("Hi?", "Hello!")], spec, catalog)
    assert export.report.invalid == 1 and len(export.train_lines) == 1


def test_seeded_split_is_stable_and_order_independent(catalog):
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    examples = many(40)
    a = export_training(examples, spec, catalog)
    b = export_training(list(reversed(examples)), spec, catalog)
    c = export_training(examples, spec, catalog, seed=7)
    assert len(a.validation_lines) == 4 and len(a.train_lines) == 36
    assert a.train_lines == b.train_lines and a.validation_lines == b.validation_lines
    assert a.validation_lines != c.validation_lines
    train = {json.dumps(x) for x in a.train_lines}
    assert not train & {json.dumps(x) for x in a.validation_lines}


def test_nova_bedrock_conversation_lines(catalog):
    spec = catalog.model("bedrock", "amazon.nova-micro-v1:0:128k")
    multi = Example(
        messages=(
            ChatMessage("system", SYSTEM),
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello"),
            ChatMessage("user", "How are you?"),
            ChatMessage("assistant", "Fine."),
        )
    )
    bad = Example(
        messages=(ChatMessage("user", "a"), ChatMessage("user", "b"), ChatMessage("assistant", "c"))
    )
    export = export_training([multi, bad], spec, catalog)
    assert export.format == "bedrock-conversation-2024" and export.method == "supervised"
    assert lines(export.train_jsonl()) == [
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": SYSTEM}],
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {"role": "assistant", "content": [{"text": "Hello"}]},
                {"role": "user", "content": [{"text": "How are you?"}]},
                {"role": "assistant", "content": [{"text": "Fine."}]},
            ],
        }
    ]
    assert export.report.invalid_for_format == 1  # two user turns in a row


def test_bedrock_never_uses_dpo(catalog):
    spec = catalog.model("bedrock", "amazon.nova-lite-v1:0:300k")
    export = export_training([chat("Q?", "Right.", rejected="Wrong.")], spec, catalog)
    assert export.method == "supervised"
    assert export.train_lines[0]["messages"][-1] == {"role": "assistant", "content": [{"text": "Right."}]}


def test_prompt_completion_lines(catalog):
    spec = catalog.model("bedrock", "amazon.titan-text-express-v1:0:8k")
    export = export_training(
        [chat("What is 2+2?", "4"), chat("Hi", "Hello", system="Be brief.")], spec, catalog
    )
    assert sorted(lines(export.train_jsonl()), key=lambda line: line["completion"]) == [
        {"prompt": "What is 2+2?", "completion": "4"},
        {"prompt": "System: Be brief.\n\nUser: Hi\n\nAssistant:", "completion": "Hello"},
    ]


def test_openai_lines_match_the_training_line_schemas(catalog):
    spec_validator = shared_validator()
    spec = catalog.model("openai", "gpt-4.1-mini-2025-04-14")
    sft = export_training(many(12), spec, catalog)
    dpo = export_training([chat(f"q{i}", f"good {i}", rejected=f"bad {i}") for i in range(3)], spec, catalog,
                          method="dpo")
    for line in sft.train_lines + sft.validation_lines:
        assert spec_validator.errors("FineTuneChatRequestInput", line) == []
    for line in dpo.train_lines:
        assert spec_validator.errors("FineTunePreferenceTrainingLine", line) == []
    # And the validator does catch a broken line.
    assert spec_validator.errors("FineTunePreferenceTrainingLine", {"input": {"messages": []}})
