"""Name prefixes for autocomplete and the one record time format (unit: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shared.domain.names import is_name_prefix
from shared.domain.time import file_stamp, utc_now


def test_name_prefixes():
    assert is_name_prefix("") and is_name_prefix("al") and is_name_prefix("a-b_1")
    for impossible in ("../", "A", "-x", "has space", "x" * 33):
        assert not is_name_prefix(impossible)
    assert is_name_prefix("x" * 64, file_id=True) and not is_name_prefix("x" * 65, file_id=True)


def test_one_time_format():
    moment = datetime(2026, 5, 1, 12, 0, 7, 999, tzinfo=timezone(timedelta(hours=2)))
    assert utc_now(moment) == "2026-05-01T10:00:07Z"
    assert file_stamp(utc_now(moment)) == "20260501T100007Z"
    now = utc_now()
    assert now.endswith("Z") and datetime.fromisoformat(now).tzinfo == UTC
