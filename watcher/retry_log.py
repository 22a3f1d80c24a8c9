"""Log a run of failed retries as it starts, as its error changes, and as it ends.

A loop that retries every second or so against an API server that is down
would otherwise print a warning per try (37 in 43 s for a closed port), all
saying the same. `RetryLog` says it once: a WARNING when the first try
fails, another when the error is a different one, an INFO line when a try
succeeds again, with how many tries failed and for how long. Each retry in
between is logged at DEBUG.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RetryLog"]


class RetryLog:
    """The log of one retrying loop (`subject`, e.g. `pods in shop`, prefixes its lines)."""

    def __init__(
        self,
        logger: logging.Logger,
        subject: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._prefix = f"{subject}: " if subject else ""
        self._clock = clock
        self._error: str | None = None
        self._since = 0.0
        self._failures = 0

    @property
    def failing(self) -> bool:
        return self._error is not None

    def failed(self, error: str, *, retry_in: float) -> None:
        """A try failed with `error`; the next one is in `retry_in` seconds."""
        self._failures += 1
        if self._error is None:
            self._since = self._clock()
            self._log.warning(
                "%s%s; retrying in %.1f s (repeats are logged at debug)",
                self._prefix,
                error,
                retry_in,
            )
        elif error != self._error:
            self._log.warning(
                "%snow %s (was: %s; %d failed tries in %.0f s); still retrying",
                self._prefix,
                error,
                self._error,
                self._failures - 1,
                self._clock() - self._since,
            )
        else:
            self._log.debug(
                "%s%s; try %d, retrying in %.1f s",
                self._prefix,
                error,
                self._failures,
                retry_in,
            )
        self._error = error

    def succeeded(self, what: str = "working again") -> None:
        """A try succeeded: the end of the failures, if there were any."""
        if self._error is None:
            return
        self._log.info(
            "%s%s after %d failed tries in %.0f s (last error: %s)",
            self._prefix,
            what,
            self._failures,
            self._clock() - self._since,
            self._error,
        )
        self._error = None
        self._failures = 0
