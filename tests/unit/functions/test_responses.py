"""The interaction response body: compact JSON, DynamoDB's Decimals written as numbers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from functions.interactions import responses


def test_reply_round_trips_as_compact_json() -> None:
    payload = responses.reply("Saved <@1> @everyone", ephemeral=True)
    body = responses.to_json(payload)
    assert json.loads(body) == payload
    assert ", " not in body and ": " not in body


def test_decimals_from_dynamodb_become_json_numbers() -> None:
    body = responses.to_json({"count": Decimal("3"), "price": Decimal("0.25")})
    assert json.loads(body) == {"count": 3, "price": 0.25}
    assert '"count":3' in body


def test_other_objects_are_refused_rather_than_stringified() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        responses.to_json({"ids": {1, 2}})
