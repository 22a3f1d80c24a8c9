"""The one `Retry-After` parser: delta-seconds or an HTTP date, never a guess."""

from __future__ import annotations

import datetime as dt
import email.utils
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retry import parse_retry_after

# 2015-10-21 07:28:00 UTC
NOW = 1_445_412_480.0


def at_now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),  # not RFC, but meant
        ("Wed, 21 Oct 2015 07:29:00 GMT", 60.0),  # IMF-fixdate
        ("Wednesday, 21-Oct-15 07:28:30 GMT", 30.0),  # obsolete RFC 850 form
        ("Wed Oct 21 07:28:10 2015", 10.0),  # obsolete asctime form: GMT, not local time
        ("Wed, 21 Oct 2015 07:28:05 -0000", 5.0),
        ("Wed, 21 Oct 2015 09:28:20 +0200", 20.0),  # a zone, though HTTP says GMT
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past: now
    ],
)
def test_seconds_and_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, clock=at_now) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "-3", "nan", "inf", "1e400", "0x10", "Wed, 99 Oct 2015 07:28:00 GMT"],
)
def test_unusable_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value, clock=at_now) is None


def test_a_date_written_by_the_standard_library_reads_back() -> None:
    header = email.utils.formatdate(NOW + 42, usegmt=True)
    assert parse_retry_after(header, clock=at_now) == 42.0


@given(st.text(max_size=60))
def test_any_text_is_a_wait_or_none_never_an_error(value: str) -> None:
    seconds = parse_retry_after(value, clock=at_now)
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)


@given(st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_any_http_date_is_the_time_until_then(when: dt.datetime) -> None:
    stamp = when.replace(tzinfo=dt.UTC, microsecond=0).timestamp()
    header = email.utils.formatdate(stamp, usegmt=True)
    assert parse_retry_after(header, clock=at_now) == max(0.0, stamp - NOW)
