"""Exponential backoff with full jitter, which a server's Retry-After overrides.

The n-th failure in a row (counting from 0) waits a uniform draw from
[0, min(max, initial * factor**n)]: full jitter, so clients that failed
together (an API server restart, a receiver's outage) do not come back
together. A server that says how long to wait (`Retry-After`) is obeyed
instead, up to `retry_after_max`, so a typo there cannot park a client for
a day. A long-lived loop forgets its streak after `reset_after` seconds
without a failure; a one-shot retry (a webhook's attempts at one
transition) uses a fresh `Backoff` and never needs to.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable

__all__ = ["Backoff", "BackoffPolicy"]

# The exponent stops growing here: the ceiling is long capped by `max`, and
# factor**n must stay a finite float.
_MAX_EXPONENT = 64


@dataclasses.dataclass(frozen=True, kw_only=True)
class BackoffPolicy:
    """The numbers of a backoff, in seconds; see the module docstring."""

    initial: float
    max: float
    factor: float = 2.0
    # Forget the streak after this long without a failure; None: never.
    reset_after: float | None = None
    # Upper bound on a server's Retry-After; None: `max`.
    retry_after_max: float | None = None

    def __post_init__(self) -> None:
        for name in ("initial", "max", "factor", "reset_after", "retry_after_max"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"backoff {name} must be a finite number, got {value!r}")
        if self.initial <= 0 or self.max <= 0:
            raise ValueError(
                f"backoff initial and max must be positive, got {self.initial!r}, {self.max!r}"
            )
        if self.factor < 1:
            raise ValueError(f"backoff factor must be at least 1, got {self.factor!r}")
        if self.reset_after is not None and self.reset_after <= 0:
            raise ValueError(f"backoff reset_after must be positive, got {self.reset_after!r}")
        if self.retry_after_max is not None and self.retry_after_max < 0:
            raise ValueError(
                f"backoff retry_after_max must not be negative, got {self.retry_after_max!r}"
            )

    def ceiling(self, attempt: int) -> float:
        """The longest wait after the `attempt`-th failure in a row (from 0)."""
        return min(self.max, self.initial * self.factor ** min(attempt, _MAX_EXPONENT))

    def obey(self, retry_after: float) -> float:
        """A server's requested wait, bounded by `retry_after_max`."""
        bound = self.max if self.retry_after_max is None else self.retry_after_max
        return min(max(0.0, retry_after), bound)


class Backoff:
    """The running state of one retry loop under a `BackoffPolicy`."""

    def __init__(
        self,
        policy: BackoffPolicy,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._rng = rng or random.Random()
        self._clock = clock
        self._attempt = 0
        self._last_failure: float | None = None

    @property
    def attempt(self) -> int:
        """Failures in the current streak."""
        return self._attempt

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self, *, retry_after: float | None = None) -> float:
        """The sleep before the next try; each call counts as one failure.

        `retry_after` is what the server asked for, if it did: it replaces
        the jittered draw (the streak still grows, for when it stops asking).
        """
        policy = self.policy
        now = self._clock()
        if (
            policy.reset_after is not None
            and self._last_failure is not None
            and now - self._last_failure > policy.reset_after
        ):
            self._attempt = 0
        self._last_failure = now
        delay = self._rng.uniform(0.0, policy.ceiling(self._attempt))
        self._attempt = min(self._attempt + 1, _MAX_EXPONENT)
        return delay if retry_after is None else policy.obey(retry_after)
