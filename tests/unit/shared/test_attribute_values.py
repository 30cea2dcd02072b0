"""shared.storage.attribute_values maps values exactly as boto3's TypeSerializer/TypeDeserializer do."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from shared.storage.attribute_values import deserialize, serialize

numbers = st.one_of(st.integers(min_value=-(10**37), max_value=10**37),
                    st.decimals(allow_nan=False, allow_infinity=False, places=6,
                                min_value=Decimal("-1e20"), max_value=Decimal("1e20")))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
values = st.recursive(
    st.one_of(scalars, st.frozensets(st.text(min_size=1, max_size=5), min_size=1, max_size=4),
              st.frozensets(st.integers(-1000, 1000), min_size=1, max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12,
)


def _sorted_sets(value):
    """Set members in a fixed order, so the two serialisers' outputs compare."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS") else _sorted_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sorted_sets(v) for v in value]
    return value


@given(values)
def test_serialize_and_deserialize_agree_with_boto3(value):
    ours = serialize(value)
    assert _sorted_sets(ours) == _sorted_sets(TypeSerializer().serialize(value))
    assert deserialize(ours) == TypeDeserializer().deserialize(ours)


def test_binary_comes_back_as_bytes_and_floats_are_refused():
    assert serialize(b"\x00\x01") == {"B": b"\x00\x01"}
    assert deserialize({"B": b"\x00\x01"}) == b"\x00\x01" == Binary(b"\x00\x01")
    with pytest.raises(TypeError, match="Float"):
        serialize(1.5)
    with pytest.raises(Exception):  # noqa: B017 - decimal's Inexact, as boto3 raises
        serialize(Decimal("1." + "1" * 40))
