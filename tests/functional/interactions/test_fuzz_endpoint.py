"""Property: whatever arrives, the endpoint never answers 5xx (and never 200 without a valid signature)."""

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.interactions.app import create_app
from functions.interactions.commands import build_registry

NAMES = [*sorted({name for name, _ in build_registry().commands}), "", "zzz"]
PREFIXES = ["vote:up", "vote:down", "vote:x", "fix", "correct:123456789012345678", "correct:../x", "correct", "q:1"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
options = st.lists(st.fixed_dictionaries({"name": st.sampled_from(["text", "message", "correction", "x"]),
                                          "value": json_values}, optional={"focused": st.booleans(),
                                                                           "options": st.just([])}), max_size=3)
data = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(NAMES), json_values),
        "type": st.one_of(st.sampled_from([1, 2, 3]), json_values),
        "custom_id": st.one_of(st.sampled_from(PREFIXES), json_values),
        "options": st.one_of(options, json_values),
        "target_id": st.one_of(st.just("123456789012345678"), json_values),
        "resolved": json_values,
        "components": st.one_of(st.just([{"type": 1, "components": [{"custom_id": "correction", "value": "v"}]}]),
                                json_values),
    },
)
interactions = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from([1, 2, 3, 4, 5]), json_values)},
    optional={
        "id": st.one_of(st.just("1234567890"), json_values),
        "application_id": st.one_of(st.just("100000000000000042"), json_values),
        "token": st.one_of(st.just("tok"), json_values),
        "guild_id": st.one_of(st.just("200000000000000001"), json_values),
        "channel_id": json_values,
        "data": st.one_of(data, json_values),
        "member": st.one_of(st.fixed_dictionaries({"permissions": json_values, "user": json_values}), json_values),
        "message": json_values,
    },
)
# Well-formed envelopes with random insides reach the handlers; the rest exercise parsing.
dispatched = st.fixed_dictionaries(
    {
        "type": st.sampled_from([2, 3, 4, 5]),
        "id": st.from_regex(r"[0-9]{18}", fullmatch=True),
        "application_id": st.just("100000000000000042"),
        "token": st.just("tok"),
        "data": st.fixed_dictionaries({"name": st.sampled_from(NAMES), "custom_id": st.sampled_from(PREFIXES)},
                                      optional={"type": st.sampled_from([1, 2, 3]), "options": options,
                                                "target_id": json_values, "resolved": json_values,
                                                "components": json_values}),
    },
    optional={"guild_id": st.one_of(st.just("200000000000000001"), json_values),
              "member": st.one_of(st.fixed_dictionaries({"permissions": json_values, "user": json_values}),
                                  json_values),
              "message": json_values, "channel_id": json_values},
)
bodies = st.one_of(st.binary(max_size=512), interactions.map(lambda i: json.dumps(i).encode()),
                   dispatched.map(lambda i: json.dumps(i).encode()))
# Header values as HTTP can carry them: no control characters.
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=140)
header_values = st.one_of(st.none(), header_text, st.from_regex(r"[0-9a-f]{128}", fullmatch=True))


def test_no_input_gets_a_5xx(aws, stores, signer):
    client = create_app(aws.settings, stores=stores).test_client()
    seen = {"signed": 0, "ok": 0}

    @settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
              database=None)
    @given(body=bodies, sign=st.booleans(), signature=header_values, timestamp=header_values,
           extra=st.dictionaries(st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True), header_text,
                                 max_size=3))
    def check(body, sign, signature, timestamp, extra):
        headers = {**extra}
        if sign:
            headers.update(signer.headers(body, timestamp=int(time.time())))
        else:
            if signature is not None:
                headers["X-Signature-Ed25519"] = signature
            if timestamp is not None:
                headers["X-Signature-Timestamp"] = timestamp
        response = client.post("/interactions", data=body, headers=headers)
        assert response.status_code < 500, (response.status_code, body[:200])
        if not sign:
            assert response.status_code == 401
        else:
            seen["signed"] += 1
            assert response.status_code in (200, 400)
            seen["ok"] += response.status_code == 200

    check()
    # The property means something only if many signed bodies reached dispatch.
    assert seen["signed"] > 300 and seen["ok"] > 100, seen
