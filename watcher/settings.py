"""Every timing and size the informers use, in one place.

The defaults follow client-go's reflector, so the agent behaves towards a real
API server the way its controllers do: watches last a random 5-10 minutes
(spreading reconnects of many agents), failures back off from 0.8 s doubling to
30 s with full jitter (no thundering herd after an API server restart), and the
backoff forgets after two healthy minutes. The inactivity timeout must exceed
the server's bookmark interval (about a minute in Kubernetes): a stream that
has sent neither an event nor a bookmark for that long is dead, whatever TCP
thinks. Tests shrink these numbers instead of patching the code.

A server that sends bookmarks more often than that is held to its own
rhythm: each reflector learns the typical gap between bookmarks (see
`watcher.silence`), and a stream silent for `silence_factor` times that gap,
never less than `silence_floor`, is declared silent at once (the kind is
reported stale and the watch reconnects). Against an API server with the
usual one-minute bookmarks that bound (3 minutes) lies beyond the inactivity
timeout, which then stays the rule, as it does for servers that send no
bookmarks at all.
"""

from __future__ import annotations

import dataclasses
import random

from retry import BackoffPolicy

__all__ = ["WatchSettings"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class WatchSettings:
    """Timings (seconds) and sizes for list/watch; see the module docstring."""

    # LIST: objects per page; a page request slower than this is a failure.
    list_page_size: int = 500
    list_request_timeout: float = 60.0
    # Try a streaming list (sendInitialEvents) first; fall back to pages when
    # the server refuses it.
    streaming_list: bool = True
    # WATCH: the server ends the stream after a random time in this range.
    watch_timeout_min: float = 300.0
    watch_timeout_max: float = 600.0
    # No byte for this long (events and bookmarks both count) -> reconnect.
    inactivity_timeout: float = 150.0
    # Neither event nor bookmark for max(silence_floor, silence_factor x the
    # learned bookmark interval) -> the stream is silent: stale, reconnect.
    silence_factor: float = 3.0
    silence_floor: float = 10.0
    connect_timeout: float = 10.0
    # A watch that ends sooner than this without a single event counts as a
    # failure, so a server that closes every stream at once is not hammered.
    min_watch_duration: float = 1.0
    # Exponential backoff with full jitter (`retry.Backoff`): sleep
    # uniform(0, min(max, initial * factor**n)).
    backoff_initial: float = 0.8
    backoff_factor: float = 2.0
    backoff_max: float = 30.0
    # n resets when no failure happened for this long.
    backoff_reset_after: float = 120.0
    # Upper bound on a server's Retry-After, so a typo there cannot park us for a day.
    retry_after_max: float = 60.0
    # Progress log lines while a list is running.
    progress_log_interval: float = 5.0
    # Pods wait this long for the ReplicaSet informer to sync before they start
    # (their deployment is then derived from pod-template-hash and fixed up).
    link_sync_wait: float = 30.0
    # Pods whose ReplicaSet is not known yet, kept for the fix-up; beyond this
    # the oldest are dropped (and counted) and keep their derived deployment.
    pending_link_limit: int = 10_000
    # Store literal env values (and the configuration annotations that repeat
    # them) as the API server sends them; off by default: kinds.redaction.
    reveal_env_values: bool = False

    def __post_init__(self) -> None:
        positive = (
            "list_page_size",
            "list_request_timeout",
            "watch_timeout_min",
            "inactivity_timeout",
            "silence_floor",
            "connect_timeout",
            "backoff_initial",
            "backoff_max",
            "backoff_reset_after",
            "pending_link_limit",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"WatchSettings.{name} must be positive")
        if self.watch_timeout_max < self.watch_timeout_min:
            raise ValueError("WatchSettings.watch_timeout_max must be >= watch_timeout_min")
        if self.backoff_factor < 1:
            raise ValueError("WatchSettings.backoff_factor must be >= 1")
        if self.silence_factor <= 1:
            raise ValueError("WatchSettings.silence_factor must be > 1")

    def watch_timeout(self, rng: random.Random) -> int:
        """A fresh server-side timeoutSeconds for one watch request."""
        return max(1, round(rng.uniform(self.watch_timeout_min, self.watch_timeout_max)))

    @property
    def backoff(self) -> BackoffPolicy:
        """The retry policy of every request to the API server (`retry.Backoff`)."""
        return BackoffPolicy(
            initial=self.backoff_initial,
            factor=self.backoff_factor,
            max=self.backoff_max,
            reset_after=self.backoff_reset_after,
            retry_after_max=self.retry_after_max,
        )
