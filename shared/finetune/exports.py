"""Training exports: from the neutral :class:`~shared.domain.examples.Example` form to each provider's JSONL lines.

How each kind of example is used:

- a positive example (``positive=True``) is a supervised target: its prompt → its final assistant answer;
- an example with ``rejected`` (a correction, or a line of a preference file) is a preference pair: the final
  assistant answer is ``preferred_output``, ``rejected`` is ``non_preferred_output``; it is *also* a supervised
  target (prompt → corrected answer) when the job is supervised;
- a negative example (``positive=False``) is never a target. When a positive example has the same prompt, the
  negative answer becomes the rejected side of a preference pair with it; otherwise it is left out and counted in
  the report (``negatives_excluded``), so the user sees why it did not train.

A job always trains the dataset's supervised examples (``auto`` is ``supervised``). Preference pairs are part of
them as supervised examples with the corrected answer. When the model takes preference training and there are
at least its minimum of pairs (:func:`preference_stage_runs`), the planner adds a second stage: a ``dpo`` export
of the pairs, trained on the model the supervised stage makes (:mod:`shared.finetune.planning`); otherwise the
report says why no preference stage runs (the model cannot, or too few pairs for the provider's minimum). The split into
training and validation is seeded and independent of input order, and never leaves the training file below the
model's ``min_examples``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shared.domain.examples import ChatMessage, Example
from shared.finetune.catalog import Catalog, ModelSpec
from shared.finetune.exceptions import NothingToTrain

Conversation = tuple[ChatMessage, ...]
METHODS = ("supervised", "dpo")


@dataclass(frozen=True)
class PreferencePair:
    prompt: Conversation
    preferred: str
    rejected: str


@dataclass(frozen=True)
class TrainingSet:
    """What a dataset can teach, before any provider format is chosen."""

    supervised: tuple[Conversation, ...]
    preference: tuple[PreferencePair, ...]
    negatives_as_rejected: int = 0
    negatives_excluded: int = 0
    invalid: int = 0
    duplicates_dropped: int = 0


@dataclass(frozen=True)
class ExportReport:
    provider: str
    model: str
    method: str
    format: str
    seed: int
    n_train: int
    n_validation: int
    n_supervised: int
    n_preference: int
    negatives_as_rejected: int
    negatives_excluded: int
    invalid: int
    invalid_for_format: int
    duplicates_dropped: int
    supervised_left_out: int
    # Supervised examples whose answer is the preferred side of a pair (a correction, a preference line).
    n_from_pairs: int = 0
    preference_note: str = ""
    min_examples: int = 1
    max_examples: int | None = None
    # Pairs that train in a preference stage after this supervised one (0: no such stage).
    preference_stage_pairs: int = 0

    @property
    def shortfall(self) -> str:
        """Why the provider would refuse this training file for its size; empty when it would not."""
        if self.n_train < self.min_examples:
            missing = self.min_examples - self.n_train
            return (f"`{self.model}` needs at least {self.min_examples} training examples; this dataset gives "
                    f"{self.n_train}. Add {missing} more (`/train`), or approve corrections into it (`/review`).")
        if self.max_examples is not None and self.n_train > self.max_examples:
            return (f"`{self.model}` takes at most {self.max_examples} training examples; this dataset gives "
                    f"{self.n_train}. Train a smaller dataset (`/dataset` shows and removes examples).")
        return ""

    def lines(self) -> list[str]:
        out = [
            f"Method: {self.method} ({self.format}); {self.n_train} training and "
            f"{self.n_validation} validation lines (seed {self.seed}).",
            f"From the dataset: {self.n_supervised} supervised examples, "
            f"{self.n_preference} preference pairs.",
        ]
        from_pairs = (f" ({self.n_from_pairs} of them the corrected answers of preference pairs)"
                      if self.n_from_pairs else "")
        if self.method == "supervised" and self.preference_stage_pairs:
            out.append(
                f"Stages: 1) supervised, on all {self.n_supervised} examples{from_pairs}; then 2) preference "
                f"(DPO), on the model stage 1 makes, with {self.preference_stage_pairs} pairs: `{self.model}` "
                f"takes preference training and {self.preference_stage_pairs} pairs reach {self.provider}'s "
                f"minimum of {self.min_examples}."
            )
        elif self.method == "supervised":
            out.append(f"Stages: supervised only, on all {self.n_supervised} examples{from_pairs}.")
            if self.preference_note:
                out.append(self.preference_note)
        if self.negatives_as_rejected:
            out.append(f"{self.negatives_as_rejected} negative examples used as rejected answers.")
        if self.negatives_excluded:
            out.append(
                f"{self.negatives_excluded} negative examples left out: no positive answer to the same "
                "prompt to pair them with."
            )
        if self.supervised_left_out:
            out.append(
                f"{self.supervised_left_out} supervised examples without a pair are not part of a DPO job."
            )
        if self.invalid or self.invalid_for_format:
            out.append(
                f"{self.invalid + self.invalid_for_format} examples skipped: they must end with an assistant "
                "answer and (for this model) alternate user/assistant turns."
            )
        if self.duplicates_dropped:
            out.append(f"{self.duplicates_dropped} duplicates dropped.")
        return out


@dataclass(frozen=True)
class TrainingExport:
    provider: str
    model: str
    method: str
    format: str
    train_lines: tuple[dict[str, Any], ...]
    validation_lines: tuple[dict[str, Any], ...]
    report: ExportReport
    # The same lines as chat messages, for token counting whatever the wire format.
    train_chats: tuple[tuple[dict[str, str], ...], ...] = field(default=(), repr=False)
    validation_chats: tuple[tuple[dict[str, str], ...], ...] = field(default=(), repr=False)

    # The bytes are serialised once: the digest, the bucket copy and the upload all use the same ones.
    @cached_property
    def _train_bytes(self) -> bytes:
        return to_jsonl(self.train_lines)

    @cached_property
    def _validation_bytes(self) -> bytes | None:
        return to_jsonl(self.validation_lines) if self.validation_lines else None

    def train_jsonl(self) -> bytes:
        return self._train_bytes

    def validation_jsonl(self) -> bytes | None:
        return self._validation_bytes

    @cached_property
    def digest(self) -> str:
        """Names this exact export (both files), so a confirmation trains what was estimated."""
        data = self._train_bytes + b"\n--\n" + (self._validation_bytes or b"")
        return hashlib.sha256(data).hexdigest()[:16]


def to_jsonl(lines: Iterable[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
    ).encode("utf-8")


def _valid_conversation(messages: Sequence[ChatMessage]) -> bool:
    return (
        len(messages) >= 2
        and messages[-1].role == "assistant"
        and all(m.content.strip() for m in messages)
        and any(m.role == "user" for m in messages[:-1])
    )


def build_training_set(examples: Iterable[Example]) -> TrainingSet:
    supervised: dict[str, Conversation] = {}
    pairs: dict[str, PreferencePair] = {}
    negatives: list[Example] = []
    positive_answers: dict[Conversation, list[str]] = {}
    invalid = duplicates = 0

    def key(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=lambda m: m.to_dict())

    for ex in examples:
        if not _valid_conversation(ex.messages):
            invalid += 1
            continue
        if not ex.positive and ex.rejected is None:
            negatives.append(ex)
            continue
        if ex.positive:
            k = key(ex.messages)
            if k in supervised:
                duplicates += 1
            else:
                supervised[k] = ex.messages
            positive_answers.setdefault(ex.prompt, []).append(ex.answer)
        if ex.rejected is not None and ex.rejected.strip() and ex.rejected != ex.answer:
            pair = PreferencePair(ex.prompt, ex.answer, ex.rejected)
            k = key([pair.prompt, pair.preferred, pair.rejected])
            if k not in pairs:
                pairs[k] = pair
            elif not ex.positive:
                duplicates += 1

    as_rejected = excluded = 0
    for neg in negatives:
        answers = sorted(a for a in positive_answers.get(neg.prompt, []) if a != neg.answer)
        if not answers:
            excluded += 1
            continue
        pair = PreferencePair(neg.prompt, answers[0], neg.answer)
        k = key([pair.prompt, pair.preferred, pair.rejected])
        if k in pairs:
            duplicates += 1
        else:
            pairs[k] = pair
            as_rejected += 1

    return TrainingSet(
        supervised=tuple(supervised[k] for k in sorted(supervised)),
        preference=tuple(pairs[k] for k in sorted(pairs)),
        negatives_as_rejected=as_rejected,
        negatives_excluded=excluded,
        invalid=invalid,
        duplicates_dropped=duplicates,
    )


def choose_method(training: TrainingSet, spec: ModelSpec, requested: str = "auto") -> str:
    """``auto`` is ``supervised``: the trainers' curated examples always train (pairs among them)."""
    if requested not in (*METHODS, "auto"):
        raise ValueError(f"unknown method {requested!r}")
    if requested == "auto":
        return "supervised"
    if not spec.supports(requested):
        raise NothingToTrain(f"`{spec.name}` cannot be trained with {requested}.")
    return requested


def split(items: Sequence[Any], *, fraction: float, min_for_validation: int, seed: int,
          min_train: int = 1) -> tuple[list, list]:
    """Seeded split; items arrive in a canonical order, so the same dataset always splits the same way.
    No validation set when it would leave fewer than ``min_train`` lines to train on."""
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)  # noqa: S311 - a reproducible split, not a secret
    if len(shuffled) < min_for_validation or fraction <= 0:
        return shuffled, []
    n_valid = max(1, round(len(shuffled) * fraction))
    if len(shuffled) - n_valid < min_train:
        return shuffled, []
    return shuffled[n_valid:], shuffled[:n_valid]


def preference_stage_runs(pairs: int, spec: ModelSpec) -> bool:
    """Whether ``pairs`` preference pairs also train in a preference stage: the model takes DPO and there are
    at least as many pairs as the provider accepts in a training file."""
    return pairs > 0 and spec.supports("dpo") and pairs >= (spec.min_examples or 1)


def preference_note(training: TrainingSet, spec: ModelSpec) -> str:
    """Why the pairs train as supervised examples only, with no preference stage; empty when one runs."""
    pairs = len(training.preference)
    if not pairs or preference_stage_runs(pairs, spec):
        return ""
    if not spec.supports("dpo"):
        why = f"`{spec.name}` has no preference training"
    else:
        why = f"{pairs} pairs, and {spec.provider} needs at least {spec.min_examples} for a preference stage"
    return f"No preference stage: {why}; each pair trains as its corrected answer."


def _from_pairs(training: TrainingSet) -> int:
    preferred = {(p.prompt, p.preferred) for p in training.preference}
    return sum(1 for conv in training.supervised if (conv[:-1], conv[-1].content) in preferred)


# --- line formats -------------------------------------------------------------------------------------------


def openai_chat_line(conversation: Conversation) -> dict[str, Any]:
    return {"messages": [m.to_dict() for m in conversation]}


def openai_preference_line(pair: PreferencePair) -> dict[str, Any]:
    # Key names as in OpenAI's DPO guide (preferred_output / non_preferred_output); the 2025-06 API reference
    # schema named them *_completion, but the guide's names are what the service documents for training files.
    return {
        "input": {"messages": [m.to_dict() for m in pair.prompt]},
        "preferred_output": [{"role": "assistant", "content": pair.preferred}],
        "non_preferred_output": [{"role": "assistant", "content": pair.rejected}],
    }


def bedrock_conversation_line(conversation: Conversation) -> dict[str, Any]:
    """Amazon Nova's ``bedrock-conversation-2024`` record: system blocks apart, then strictly alternating
    turns
    that start with ``user`` and end with ``assistant``. Raises ValueError for a conversation that cannot
    be."""
    system = [m for m in conversation if m.role == "system"]
    turns = [m for m in conversation if m.role != "system"]
    if any(m.role == "system" for m in conversation[len(system) :]):
        raise ValueError("system messages must come first")
    if not turns or turns[0].role != "user" or turns[-1].role != "assistant":
        raise ValueError("turns must start with user and end with assistant")
    for a, b in itertools.pairwise(turns):
        if a.role == b.role:
            raise ValueError("turns must alternate")
    line: dict[str, Any] = {"schemaVersion": "bedrock-conversation-2024"}
    if system:
        line["system"] = [{"text": "\n\n".join(m.content for m in system)}]
    line["messages"] = [{"role": m.role, "content": [{"text": m.content}]} for m in turns]
    return line


def prompt_completion_line(conversation: Conversation) -> dict[str, Any]:
    """``{"prompt", "completion"}`` for non-conversational text models. A single user turn is the prompt as
    is;
    longer chats are rendered with role labels so that the context is not lost."""
    prompt = conversation[:-1]
    if len(prompt) == 1 and prompt[0].role == "user":
        text = prompt[0].content
    else:
        text = "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in prompt) + "\n\nAssistant:"
    return {"prompt": text, "completion": conversation[-1].content}


def _chat(conversation: Conversation) -> tuple[dict[str, str], ...]:
    return tuple(m.to_dict() for m in conversation)


def _pair_chat(pair: PreferencePair) -> tuple[dict[str, str], ...]:
    # Both answers are processed in a DPO step, so both count as training tokens.
    return (
        *_chat(pair.prompt),
        {"role": "assistant", "content": pair.preferred},
        {"role": "assistant", "content": pair.rejected},
    )


def _left_out_of_dpo(training: TrainingSet) -> int:
    in_pairs = {(p.prompt, p.preferred) for p in training.preference}
    return sum(1 for conv in training.supervised if (conv[:-1], conv[-1].content) not in in_pairs)


def export_training(
    examples: Iterable[Example],
    spec: ModelSpec,
    catalog: Catalog,
    *,
    method: str = "auto",
    seed: int | None = None,
) -> TrainingExport:
    """Export ``examples`` for ``spec``'s provider and format. Raises :class:`NothingToTrain` when empty."""
    return export_training_set(build_training_set(examples), spec, catalog, method=method, seed=seed)


def export_training_set(
    training: TrainingSet,
    spec: ModelSpec,
    catalog: Catalog,
    *,
    method: str = "auto",
    seed: int | None = None,
) -> TrainingExport:
    """:func:`export_training` of a training set already built (a two-stage plan exports one set twice)."""
    chosen = choose_method(training, spec, method)
    seed = catalog.split.seed if seed is None else seed
    invalid_for_format = 0

    items: list[tuple[dict[str, Any], tuple[dict[str, str], ...]]] = []
    if chosen == "dpo":
        items = [(openai_preference_line(p), _pair_chat(p)) for p in training.preference]
        fmt = "openai-preference"
    else:
        fmt = spec.format
        for conv in training.supervised:
            try:
                if fmt == "openai-chat":
                    line = openai_chat_line(conv)
                elif fmt == "bedrock-conversation-2024":
                    line = bedrock_conversation_line(conv)
                else:
                    line = prompt_completion_line(conv)
            except ValueError:
                invalid_for_format += 1
                continue
            items.append((line, _chat(conv)))
    if not items:
        raise NothingToTrain(detail=f"no trainable lines for {spec.provider}/{spec.name} ({chosen})")

    fraction = catalog.split.validation_fraction if spec.supports_validation else 0.0
    train, valid = split(
        items, fraction=fraction, min_for_validation=catalog.split.min_examples_for_validation, seed=seed,
        min_train=spec.min_examples or 1,
    )
    report = ExportReport(
        provider=spec.provider,
        model=spec.name,
        method=chosen,
        format=fmt,
        seed=seed,
        n_train=len(train),
        n_validation=len(valid),
        n_supervised=len(training.supervised),
        n_preference=len(training.preference),
        negatives_as_rejected=training.negatives_as_rejected,
        negatives_excluded=training.negatives_excluded,
        invalid=training.invalid,
        invalid_for_format=invalid_for_format,
        duplicates_dropped=training.duplicates_dropped,
        supervised_left_out=_left_out_of_dpo(training) if chosen == "dpo" else 0,
        n_from_pairs=_from_pairs(training) if chosen == "supervised" else 0,
        preference_note=preference_note(training, spec) if chosen == "supervised" else "",
        min_examples=spec.min_examples or 1,
        max_examples=spec.max_examples,
    )
    return TrainingExport(
        provider=spec.provider,
        model=spec.name,
        method=chosen,
        format=fmt,
        train_lines=tuple(line for line, _ in train),
        validation_lines=tuple(line for line, _ in valid),
        report=report,
        train_chats=tuple(chat for _, chat in train),
        validation_chats=tuple(chat for _, chat in valid),
    )
