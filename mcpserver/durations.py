"""Durations and points in time as people type them: "30m", "1h30m", "7d", an RFC 3339 time.

Used by the configuration (`--history-retention 7d`) and by tools
(`recent_changes(since="30m")`), so both accept exactly the same spelling.
A point in time before the Unix epoch (a date in year 1, a duration of a
million years) means the epoch: nothing the store holds is older, and every
later step (SQL parameters, ISO dates in answers) can represent it.
"""

from __future__ import annotations

import datetime as dt
import re

from mcpserver.arguments import shown
from mcpserver.errors import InvalidArgument

__all__ = ["format_duration", "parse_duration", "parse_since"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in `text`: a number of seconds, or unit parts such as "90s", "1h30m", "7d"."""
    raw = text.strip().lower()
    if not raw:
        raise InvalidArgument("empty duration; use e.g. '30s', '15m', '2h' or '7d'")
    try:
        seconds = float(raw)
    except ValueError:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(raw):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(raw) or pos == 0:
            raise InvalidArgument(
                f"invalid duration {shown(text)}; use e.g. '30s', '15m', '1h30m' or '7d'"
            ) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise InvalidArgument(
            f"invalid duration {shown(text)}: must be a finite, non-negative time"
        )
    return seconds


def parse_since(text: str, *, now: float) -> float:
    """Unix seconds meant by `text`: a duration back from `now`, or an RFC 3339 time."""
    raw = text.strip()
    if not raw:
        raise InvalidArgument(
            "empty 'since'; use a duration like '30m' or a time like '2024-05-01T12:00:00Z'"
        )
    if raw[0].isdigit() and ("T" in raw or "-" in raw[1:]):
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                f"invalid time {shown(text)}; use RFC 3339 such as '2024-05-01T12:00:00Z' "
                "or a duration like '30m'"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return max(parsed.timestamp(), 0.0)
    return max(now - parse_duration(raw), 0.0)


def format_duration(seconds: float) -> str:
    """The short form of `seconds` ("2h5m", "40s"), for summaries people read."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts) or "0s"
