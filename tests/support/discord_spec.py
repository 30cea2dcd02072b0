"""Payloads checked against Discord's OpenAPI spec (infra/specs/discord-openapi-v10.json, a copy of Discord's
official preview spec), as JSON Schema 2020-12 with the spec's own components resolving every $ref."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[2] / "infra" / "specs" / "discord-openapi-v10.json"
LABEL = 18


@cache
def _components() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]


def validator(schema_name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}", "components": _components()})


def spec_errors(schema_name: str, payload: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema_name).iter_errors(payload)]


def assert_label_modal(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A modal response valid by the spec whose every component is a Label (action rows of text inputs are
    deprecated since 2025-08-25); returns the inputs inside the Labels."""
    errors = spec_errors("ModalInteractionCallbackRequest", response)
    assert not errors, errors
    components = response["data"]["components"]
    assert components and all(c["type"] == LABEL for c in components), components
    inputs = [c["component"] for c in components]
    # The label belongs to the Label; a text input's own label is the deprecated form.
    assert all("label" not in i for i in inputs), inputs
    return inputs
