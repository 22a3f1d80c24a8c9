"""How long a watch stream may stay silent: learned from the server's own bookmark rhythm.

An API server that allows bookmarks sends one every so often even when
nothing changes; that rhythm is the server's promise that the stream is
alive. `BookmarkCadence` learns it per reflector, simply:

- a *gap* is the time between two bookmarks received on the same stream
  (not across a reconnect, and not from the stream's start to its first
  bookmark, which depends on when the server's timer began);
- the *interval* is the median of the last `samples` gaps, known once
  `minimum` gaps were seen; the median ignores one bookmark delayed behind a
  burst of events, and a server that changes its rhythm is followed within
  a few bookmarks;
- the *limit* is `max(floor, factor x interval)`: a stream that sent no
  event and no bookmark for that long is silent.

Before the interval is known there is no limit; the inactivity timeout
(`WatchSettings.inactivity_timeout`) remains the last resort either way.
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["BookmarkCadence"]


class BookmarkCadence:
    """The typical gap between a server's bookmarks, and the silence it makes suspicious."""

    def __init__(self, *, factor: float, floor: float, samples: int = 8, minimum: int = 2) -> None:
        if factor <= 1 or floor <= 0 or samples < 1 or not 1 <= minimum <= samples:
            raise ValueError(
                f"bad cadence parameters: factor={factor}, floor={floor}, "
                f"samples={samples}, minimum={minimum}"
            )
        self.factor = factor
        self.floor = floor
        self._minimum = minimum
        self._gaps: deque[float] = deque(maxlen=samples)
        self._last: float | None = None
        self._interval: float | None = None

    def stream_opened(self) -> None:
        """A new stream: its first bookmark starts a new gap, not one across the reconnect."""
        self._last = None

    def bookmark(self, at: float) -> None:
        """A bookmark arrived at monotonic time `at`."""
        if self._last is not None and at > self._last:
            self._gaps.append(at - self._last)
            if len(self._gaps) >= self._minimum:
                self._interval = statistics.median(self._gaps)
        self._last = at

    @property
    def interval(self) -> float | None:
        """The learned bookmark interval in seconds (None until enough gaps were seen)."""
        return self._interval

    @property
    def limit(self) -> float | None:
        """Seconds without event or bookmark after which a stream is silent (None: no limit yet)."""
        if self._interval is None:
            return None
        return max(self.floor, self.factor * self._interval)
