"""Virtual time for the scenario engine, and the timers that run on it.

A seeded scenario must produce the same objects on every run, and objects are
full of timestamps (startedAt, lastTransitionTime, deletionTimestamp...). Reading
the wall clock would make two runs differ, so the engine, its controllers and
(when the caller wires it so) the object store all read one `SimClock` that only
moves when the engine says so: by a fixed amount per churn step, or by
`Scenario.advance()`. A live run steps at the churn rate, so virtual time keeps
pace with the wall clock there while staying a pure function of the step count.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

__all__ = ["SimClock", "TimerQueue", "format_time"]

T = TypeVar("T")


def format_time(moment: datetime) -> str:
    """RFC 3339 with second precision and a `Z`, as the API server writes `metav1.Time`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimClock:
    """A clock that only moves forward when told to; callable like `datetime.now`.

    Calling the instance returns the current virtual `datetime`, so it can be
    handed to `ObjectStore(clock=...)` and creation timestamps agree with the
    status timestamps the engine writes.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start time")
        self._start = start.astimezone(UTC).replace(microsecond=0)
        self._elapsed = 0.0
        self._stamp_second = -1
        self._stamp = ""

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    @property
    def start(self) -> datetime:
        return self._start

    @property
    def seconds(self) -> float:
        """Virtual seconds elapsed since the start; the timers' time axis."""
        return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("virtual time cannot go backwards")
        self._elapsed += seconds

    def advance_to(self, seconds: float) -> None:
        """Move to an absolute point on the timer axis (never backwards)."""
        self._elapsed = max(self._elapsed, seconds)

    def seconds_of(self, stamp: str) -> float:
        """Where an API timestamp lies on the timer axis (negative: before the start)."""
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return (moment - self._start).total_seconds()

    def stamp(self, offset: float = 0.0) -> str:
        """The current time (plus `offset` seconds) formatted as the API writes it.

        The string for the current second is cached: populating 150k pods
        stamps the same second hundreds of thousands of times, and sharing one
        string object also keeps the objects' memory down.
        """
        if offset:
            return format_time(self() + timedelta(seconds=offset))
        second = int(self._elapsed)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = format_time(self._start + timedelta(seconds=second))
        return self._stamp


class TimerQueue(Generic[T]):
    """Items due at a virtual time, popped in time order (ties in scheduling order).

    The sequence number makes the order total, so two runs that schedule the
    same things fire them in the same order, and items are never compared.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, at: float, item: T) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, item))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> tuple[float, T] | None:
        """The earliest item due at or before `now`, with its due time, or None."""
        if self._heap and self._heap[0][0] <= now:
            at, _, item = heapq.heappop(self._heap)
            return at, item
        return None
