"""Message components (buttons and rows) that the interactions app, the worker and the watcher put on messages.

They live here, not in ``functions/interactions``, because the worker and watcher artifacts carry only their
own function's code and ``shared``. The custom ids are the contract with the routes in
``functions/interactions/commands/model.py`` (``ft:...``) and ``feedback.py`` (``vote``, ``fix``).
"""

from __future__ import annotations

from typing import Any

FT_PREFIX = "ft"
MAX_CUSTOM_ID = 100
PRIMARY, SECONDARY, SUCCESS, DANGER = 1, 2, 3, 4


def custom_id(*parts: str) -> str:
    """Components route by the first ``:``-separated part (see ``functions/interactions/registry.Route``)."""
    value = ":".join(parts)
    if len(value) > MAX_CUSTOM_ID:
        raise ValueError(f"custom_id over {MAX_CUSTOM_ID} characters")
    return value


def button(custom_id: str, *, label: str | None = None, emoji: str | None = None,
           style: int = SECONDARY) -> dict[str, Any]:
    component: dict[str, Any] = {"type": 2, "style": style, "custom_id": custom_id}
    if label:
        component["label"] = label[:80]
    if emoji:
        component["emoji"] = {"name": emoji}
    return component


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def answer_buttons() -> list[dict[str, Any]]:
    """👍 / 👎 / Correct under an answer; the interactions function's feedback commands handle their presses."""
    return [row(button("vote:up", emoji="👍"), button("vote:down", emoji="👎"), button("fix", label="Correct"))]


def start_training_button(dataset: str) -> dict[str, Any]:
    """For the /train validation report: asks for an estimate first (nothing is spent on this click)."""
    return button(custom_id(FT_PREFIX, "start", dataset), label="Start training", style=PRIMARY)


def confirm_start_button(dataset: str, digest: str, cost_usd: float) -> dict[str, Any]:
    """Starts the job for exactly the export that was estimated (``digest`` names it)."""
    return button(custom_id(FT_PREFIX, "go", dataset, digest), label=f"Start (≈ ${cost_usd:.2f})", style=SUCCESS)


def cancel_job_button(request_id: str, label: str) -> dict[str, Any]:
    return button(custom_id(FT_PREFIX, "cancel", request_id), label=label, style=DANGER)


def retry_stage2_button(request_id: str) -> dict[str, Any]:
    return button(custom_id(FT_PREFIX, "s2", request_id), label="Retry stage 2")


def activate_model_button(request_id: str) -> dict[str, Any]:
    return button(custom_id(FT_PREFIX, "use", request_id), label="Make active", style=SUCCESS)
