"""Evidence before "Make active": the new model and the active one answer the held-out validation examples.

Both models get the same prompts (the validation split the job did not train on). Each answer is scored against
the example's reference answer by word-overlap F1: the answer's and the reference's words (lower-cased runs of
letters and digits) are compared as multisets; precision is the share of the answer's words found in the
reference, recall the share of the reference's words found in the answer, F1 their harmonic mean. 1.0 means the
same words, 0.0 none in common. It measures closeness to what the trainers wrote, not correctness in general.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.errors import BotError

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
MAX_ITEMS = 10
SCORE_MEANING = ("score = word-overlap F1 with the reference answer (0 = no words in common, 1 = the same words; "
                 "it measures closeness to what the trainers wrote)")

Messages = list[dict[str, str]]
Answerer = Callable[[Messages], str]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def overlap_f1(answer: str, reference: str) -> float:
    """Word-overlap F1 of ``answer`` against ``reference`` (see the module docstring)."""
    said, wanted = Counter(words(answer)), Counter(words(reference))
    if not said and not wanted:
        return 1.0
    common = sum((said & wanted).values())
    if common == 0:
        return 0.0
    precision = common / sum(said.values())
    recall = common / sum(wanted.values())
    return 2 * precision * recall / (precision + recall)


def held_out_examples(jsonl: bytes | str, *, limit: int = MAX_ITEMS) -> list[tuple[Messages, str]]:
    """(prompt messages, reference answer) from a validation file in either provider's format: OpenAI chat
    lines (``messages``) or Bedrock's ``bedrock-conversation-2024`` lines (``system`` + ``messages`` of text
    blocks). Lines without a final assistant turn are skipped."""
    text = jsonl.decode("utf-8", errors="replace") if isinstance(jsonl, bytes) else jsonl
    found: list[tuple[Messages, str]] = []
    for raw in text.splitlines():
        if len(found) >= limit:
            break
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if not isinstance(line, dict):
            continue
        messages: Messages = []
        for block in line.get("system") or []:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                messages.append({"role": "system", "content": block["text"]})
        for m in line.get("messages") or (line.get("input") or {}).get("messages") or []:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                continue
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
            if isinstance(content, str):
                messages.append({"role": m["role"], "content": content})
        if len(messages) >= 2 and messages[-1]["role"] == "assistant" and messages[-2]["role"] == "user":
            found.append((messages[:-1], messages[-1]["content"]))
    return found


@dataclass(frozen=True)
class ItemScore:
    prompt: str
    reference: str
    new_answer: str | None
    new_score: float | None
    active_answer: str | None
    active_score: float | None


@dataclass(frozen=True)
class Comparison:
    new_model: str
    active_model: str
    items: tuple[ItemScore, ...]

    @staticmethod
    def _mean(scores: Sequence[float | None]) -> float | None:
        known = [s for s in scores if s is not None]
        return sum(known) / len(known) if known else None

    @property
    def new_overall(self) -> float | None:
        return self._mean([i.new_score for i in self.items])

    @property
    def active_overall(self) -> float | None:
        return self._mean([i.active_score for i in self.items])

    def text(self, *, max_items: int = 5) -> str:
        def fmt(score: float | None) -> str:
            return "error" if score is None else f"{score:.2f}"

        lines = [f"**Held-out check** on {len(self.items)} validation example(s) the job did not train on, the "
                 f"same prompts to both models; {SCORE_MEANING}.",
                 f"New model: **{fmt(self.new_overall)}** · active now (`{self.active_model[-60:]}`): "
                 f"**{fmt(self.active_overall)}**"]
        for number, item in enumerate(self.items[:max_items], start=1):
            prompt = item.prompt.replace("\n", " ")[:80]
            lines.append(f"{number}. “{prompt}” → new {fmt(item.new_score)} · active {fmt(item.active_score)}")
        if len(self.items) > max_items:
            lines.append(f"… and {len(self.items) - max_items} more.")
        return "\n".join(lines)


def compare_models(examples: Sequence[tuple[Messages, str]], *, new_model: str, new: Answerer,
                   active_model: str, active: Answerer) -> Comparison:
    """Ask both models every example's prompt and score each answer. A model that fails on an item gets no
    score for it (shown as an error), and the others still count."""

    def ask(answer: Answerer, messages: Messages, reference: str) -> tuple[str | None, float | None]:
        try:
            said = answer(messages).strip()
        except BotError as exc:
            logger.warning("held-out check: no answer: %s", exc)
            return None, None
        return said, overlap_f1(said, reference)

    items = []
    for messages, reference in examples:
        new_answer, new_score = ask(new, messages, reference)
        active_answer, active_score = ask(active, messages, reference)
        items.append(ItemScore(messages[-1]["content"], reference, new_answer, new_score, active_answer,
                               active_score))
    return Comparison(new_model=new_model, active_model=active_model, items=tuple(items))
