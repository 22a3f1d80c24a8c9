"""The learned bookmark cadence, and the errors that mean the server's history went away."""

from __future__ import annotations

import msgspec
import pytest

from watcher.errors import (
    ApiError,
    GoneError,
    TooLargeResourceVersionError,
    api_error_from_status,
    decode_error_event,
    decode_status,
)
from watcher.settings import WatchSettings
from watcher.silence import BookmarkCadence


def test_the_interval_is_the_median_gap_once_two_were_seen() -> None:
    cadence = BookmarkCadence(factor=3.0, floor=1.0)
    cadence.stream_opened()
    cadence.bookmark(100.0)
    cadence.bookmark(105.0)
    assert (cadence.interval, cadence.limit) == (None, None)  # one gap: not yet
    cadence.bookmark(110.0)
    assert (cadence.interval, cadence.limit) == (5.0, 15.0)
    cadence.bookmark(140.0)  # one bookmark held back behind a burst of events
    cadence.bookmark(145.0)
    assert cadence.interval == 5.0


def test_no_gap_is_measured_across_a_reconnect() -> None:
    cadence = BookmarkCadence(factor=3.0, floor=1.0)
    cadence.stream_opened()
    cadence.bookmark(0.0)
    cadence.bookmark(2.0)
    cadence.stream_opened()
    cadence.bookmark(500.0)  # the first bookmark of the new stream starts afresh
    cadence.bookmark(502.0)
    assert cadence.interval == 2.0


def test_the_floor_bounds_a_fast_cadence() -> None:
    cadence = BookmarkCadence(factor=3.0, floor=10.0)
    for at in (0.0, 1.0, 2.0):
        cadence.bookmark(at)
    assert (cadence.interval, cadence.limit) == (1.0, 10.0)


@pytest.mark.parametrize("bad", [{"silence_factor": 1.0}, {"silence_floor": 0.0}])
def test_silence_settings_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"WatchSettings\.silence"):
        WatchSettings(**bad)  # type: ignore[arg-type]


TOO_LARGE_BODY = msgspec.json.encode(
    {
        "kind": "Status",
        "status": "Failure",
        "message": "Too large resource version: 1234, current: 56",
        "reason": "Timeout",
        "code": 504,
        "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "x"}]},
    }
)


def test_a_504_with_the_too_large_cause_means_relist() -> None:
    status = decode_status(TOO_LARGE_BODY)
    error = api_error_from_status(504, reason=status.reason, causes=status.causes)
    assert isinstance(error, TooLargeResourceVersionError)
    # Servers that send no causes are known by the message, as client-go knows them.
    worded = api_error_from_status(504, message="Too large resource version: 9, current: 3")
    assert isinstance(worded, TooLargeResourceVersionError)
    # Any other 504 is an ordinary failure (backoff), and a 410 stays a 410.
    other = api_error_from_status(504, reason="Timeout", message="request timed out")
    assert type(other) is ApiError
    assert isinstance(api_error_from_status(410, causes=status.causes), GoneError)


def test_the_causes_of_a_watch_error_event_are_read() -> None:
    line = b'{"type":"ERROR","object":' + TOO_LARGE_BODY + b"}"
    assert decode_error_event(memoryview(line)).causes == ["ResourceVersionTooLarge"]
    assert decode_error_event(b'{"type":"ERROR","object":"nonsense"}').causes == []
    assert decode_status(b"<html>bad gateway</html>").causes == []
