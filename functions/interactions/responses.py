"""Builders for interaction responses.

Every message the bot sends carries ``allowed_mentions`` with nothing to parse: replies echo user and model
text, and an echoed ``@everyone`` or ``<@id>`` must never ping anybody.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from discord_interactions import InteractionResponseFlags, InteractionResponseType

from shared.discord.text import NO_MENTIONS, clip


def message_data(
    content: str,
    *,
    ephemeral: bool = False,
    components: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"content": clip(content), "allowed_mentions": NO_MENTIONS}
    if ephemeral:
        data["flags"] = InteractionResponseFlags.EPHEMERAL
    if components:
        data["components"] = components
    return data


def _number(value: object) -> int | float:
    # DynamoDB numbers arrive as Decimal; a count or a price in a reply is written as a JSON number.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(payload: Any) -> str:
    """The response body: compact JSON, written directly (Flask's jsonify costs a tenth of a warm PING)."""
    return json.dumps(payload, separators=(",", ":"), default=_number)


def pong() -> dict[str, Any]:
    return {"type": InteractionResponseType.PONG}


def reply(content: str, *, ephemeral: bool = False, components: list[dict[str, Any]] | None = None) -> dict:
    return {
        "type": InteractionResponseType.CHANNEL_MESSAGE_WITH_SOURCE,
        "data": message_data(content, ephemeral=ephemeral, components=components),
    }


def deferred(*, ephemeral: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"type": InteractionResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
    if ephemeral:
        response["data"] = {"flags": InteractionResponseFlags.EPHEMERAL}
    return response


def autocomplete(choices: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": InteractionResponseType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
        "data": {"choices": [{"name": clip(name, 100), "value": value} for name, value in choices[:25]]},
    }


LABEL = 18
TEXT_INPUT = 4


def modal(custom_id: str, title: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A modal of Label components (:func:`text_input`); text inputs in action rows are deprecated."""
    return {
        "type": InteractionResponseType.MODAL,
        "data": {"custom_id": custom_id, "title": clip(title, 45), "components": inputs},
    }


def text_input(
    custom_id: str,
    label: str,
    *,
    paragraph: bool = True,
    required: bool = True,
    max_length: int = 4000,
    value: str | None = None,
    placeholder: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A text input in its Label: the label (and description) belong to the Label, not to the input."""
    component: dict[str, Any] = {
        "type": TEXT_INPUT,
        "custom_id": custom_id,
        "style": 2 if paragraph else 1,
        "required": required,
        "max_length": max_length,
    }
    if value:
        component["value"] = clip(value, max_length)
    if placeholder:
        component["placeholder"] = clip(placeholder, 100)
    label_component: dict[str, Any] = {"type": LABEL, "label": clip(label, 45), "component": component}
    if description:
        label_component["description"] = clip(description, 100)
    return label_component
