"""DynamoDB's typed attribute values (``{"S": "x"}``, ``{"N": "1"}``, ...) to and from plain Python values.

The same mapping as boto3's ``TypeSerializer``/``TypeDeserializer`` (numbers are :class:`~decimal.Decimal`, floats
are refused, sets become SS/NS/BS), written here so that a function can talk to DynamoDB through botocore alone:
importing anything under ``boto3`` imports boto3 itself and s3transfer, a large share of a cold start that only
stores one item. Binary values come back as :class:`bytes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number type: 38 digits of precision, exponents -130..125; anything it would round is refused.
NUMBER_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal))


def _is_binary(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray))


def _number(value: int | Decimal) -> str:
    return str(NUMBER_CONTEXT.create_decimal(value))


def serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if _is_binary(value):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(_is_binary(v) for v in value):
            return {"BS": [bytes(v) for v in value]}
        raise TypeError(f"a set must hold numbers, strings or bytes only: {value!r}")
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"Unsupported type {type(value)} for value {value!r}")


def deserialize(value: Mapping[str, Any]) -> Any:
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    (kind, raw), = value.items()
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return raw
    if kind == "N":
        return NUMBER_CONTEXT.create_decimal(raw)
    if kind == "S":
        return raw
    if kind == "B":
        return bytes(raw)
    if kind == "NS":
        return {NUMBER_CONTEXT.create_decimal(v) for v in raw}
    if kind == "SS":
        return set(raw)
    if kind == "BS":
        return {bytes(v) for v in raw}
    if kind == "L":
        return [deserialize(v) for v in raw]
    if kind == "M":
        return {k: deserialize(v) for k, v in raw.items()}
    raise TypeError(f"Dynamodb type {kind} is not supported")
