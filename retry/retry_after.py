"""The `Retry-After` header (RFC 9110, section 10.2.3) as seconds to wait.

Two forms: delta-seconds (`120`) or an HTTP date (`Wed, 21 Oct 2015
07:28:00 GMT`), which becomes the time left until then by the local clock;
a date in the past means "now" (0). HTTP dates are GMT, so a date without a
zone (the obsolete asctime form) is read as GMT too, never as local time.
A fractional number (`1.5`, not RFC but sent by some servers) is taken as
meant. Anything else, a negative or infinite number included, is no usable
answer (None): the caller then backs off as if the header were absent,
rather than guessing.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import time
from collections.abc import Callable

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, *, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` value; None when absent or unreadable.

    `clock` gives the current unix time, against which a date is read.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - clock())
