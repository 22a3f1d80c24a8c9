"""Fault injection: the ways a real API server or the network misbehaves.

A watcher that is only ever tested against a polite server will not survive
a real one: streams end after a few events, lists come back 410 after an
etcd compaction, the server sheds load with 429 and `Retry-After`, a load
balancer stalls a connection without closing it, a proxy cuts a chunk in
half. Each rule here reproduces one of those on demand, scoped to a verb and
a resource when a test needs precision, and is consumed by the HTTP layer at
the moment it applies. Rules are plain state: setting one from a test, the
CLI or between two requests takes effect on the next request or event.

A server whose history was reset (an etcd restore, a new control plane at
the same address) is `Simulator.restart(history_reset=True)`; what it says
to a client still at an older resourceVersion is the API server's "Too
large resource version" (504), unless `serve_future_resource_versions()`
makes it behave like the proxies and old servers that serve such a request
from their current, lower state without a word.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from .errors import ApiError, Expired, too_large_resource_version

__all__ = ["FAILURE_STATUSES", "Faults", "WatchCloseRule"]

# Status codes `fail_next` can answer with, and the Status reason of each.
FAILURE_STATUSES: dict[int, tuple[str, str]] = {
    410: ("Expired", "The resourceVersion for the provided request is too old."),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
    504: ("Timeout", "Too large resource version (injected fault)"),
}

_ids = itertools.count(1)


def _applies(want: str | None, have: str | None) -> bool:
    return want is None or want == have


@dataclass(slots=True)
class _FailRule:
    status: int
    remaining: int
    verb: str | None
    resource: str | None
    retry_after: int


@dataclass(slots=True)
class _DelayRule:
    seconds: float
    remaining: int | None
    verb: str | None
    resource: str | None


@dataclass(slots=True)
class _CountedRule:
    remaining: int
    resource: str | None


@dataclass(slots=True)
class WatchCloseRule:
    """Close each matching watch stream after `events` events sent under this rule."""

    id: int
    events: int
    streams: int | None  # how many more streams it may close; None: all
    resource: str | None


class _InjectedError(ApiError):
    """An ApiError whose code and reason are chosen at run time."""

    def __init__(self, *, code: int, reason: str, message: str, retry_after: int) -> None:
        headers = {"Retry-After": str(retry_after)} if code in (429, 503) else None
        details = {"retryAfterSeconds": retry_after} if code in (429, 503) else None
        super().__init__(message, details=details, headers=headers)
        self.code = code
        self.reason = reason


class Faults:
    """The active fault rules of one simulator, consumed by its request handlers."""

    def __init__(self) -> None:
        self._failures: list[_FailRule] = []
        self._delays: list[_DelayRule] = []
        self._close_rules: list[WatchCloseRule] = []
        self._malformed: list[_CountedRule] = []
        self._truncated: list[_CountedRule] = []
        self._stalled: set[str | None] = set()
        self._released = asyncio.Event()
        # Serve requests at a resourceVersion not reached yet from the current state (no 504).
        self.future_resource_versions_served = False

    # -- arming rules (tests, the CLI) -------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int,
        verb: str | None = None,
        resource: str | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer the next `count` matching requests with `status` (410/429/500/503/504).

        `verb` is a Kubernetes verb (`list`, `watch`, `get`, `create`,
        `update`, `patch`, `delete`...). A 410 on a watch arrives as an ERROR
        event in a 200 stream, as the real watch cache sends it; everything
        else is an HTTP error with a `Status` body (429 and 503 carry
        `Retry-After`; 504 is "Too large resource version", with the cause
        `ResourceVersionTooLarge`, as a lagging or restored server answers).
        """
        if status not in FAILURE_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAILURE_STATUSES)}, got {status}")
        _check_count(count)
        self._failures.append(_FailRule(status, count, verb, resource, retry_after))

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = None,
        verb: str | None = None,
        resource: str | None = None,
    ) -> None:
        """Hold matching requests `seconds` before answering (all, or the next `count`)."""
        if seconds < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {seconds}")
        if count is not None:
            _check_count(count)
        self._delays.append(_DelayRule(seconds, count, verb, resource))

    def close_watches_after(
        self, events: int, *, streams: int | None = None, resource: str | None = None
    ) -> None:
        """Make open and future watch streams end cleanly after `events` more events.

        Counting starts when the rule is set (or when a stream opens); bookmarks
        do not count. `streams` limits how many streams the rule closes.
        """
        _check_count(events)
        if streams is not None:
            _check_count(streams)
        self._close_rules.append(WatchCloseRule(next(_ids), events, streams, resource))

    def stall_watches(self, *, resource: str | None = None) -> None:
        """Keep matching watch streams open but send nothing (no events, no
        bookmarks, no clean end) until `release_stalls()` or `clear()`."""
        self._stalled.add(resource)
        self._released = asyncio.Event()

    def serve_future_resource_versions(self, served: bool = True) -> None:
        """Serve a list or watch at a resourceVersion not reached yet from the current state.

        At once, instead of waiting and answering 504 "Too large resource
        version": what some proxies and old API servers do. After a history
        reset, a client then sees only resourceVersions lower than the one it
        asked for.
        """
        self.future_resource_versions_served = served

    def release_stalls(self) -> None:
        self._stalled.clear()
        self._released.set()

    def send_malformed_line(self, count: int = 1, *, resource: str | None = None) -> None:
        """Replace the next `count` watch events with a line that is not JSON."""
        _check_count(count)
        self._malformed.append(_CountedRule(count, resource))

    def truncate_next_event(self, count: int = 1, *, resource: str | None = None) -> None:
        """Send half of the next watch event's chunk, then drop the connection."""
        _check_count(count)
        self._truncated.append(_CountedRule(count, resource))

    def clear(self) -> None:
        """Disarm every rule and release stalled streams."""
        self._failures.clear()
        self._delays.clear()
        self._close_rules.clear()
        self._malformed.clear()
        self._truncated.clear()
        self.future_resource_versions_served = False
        self.release_stalls()

    @property
    def armed(self) -> bool:
        return bool(
            self._failures
            or self._delays
            or self._close_rules
            or self._malformed
            or self._truncated
            or self._stalled
            or self.future_resource_versions_served
        )

    # -- consuming rules (the HTTP layer) ------------------------------------------

    def take_failure(self, *, verb: str, resource: str | None) -> ApiError | None:
        """The injected error for this request, if a rule matches (consumes one)."""
        for rule in self._failures:
            if _applies(rule.verb, verb) and _applies(rule.resource, resource):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._failures.remove(rule)
                reason, message = FAILURE_STATUSES[rule.status]
                if rule.status == 410:
                    return Expired(message)
                if rule.status == 504:
                    return too_large_resource_version()
                return _InjectedError(
                    code=rule.status, reason=reason, message=message, retry_after=rule.retry_after
                )
        return None

    def take_delay(self, *, verb: str, resource: str | None) -> float:
        for rule in self._delays:
            if _applies(rule.verb, verb) and _applies(rule.resource, resource):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._delays.remove(rule)
                return rule.seconds
        return 0.0

    def close_rule(self, resource: str) -> WatchCloseRule | None:
        """The newest close-after-N rule for this resource (not consumed)."""
        for rule in reversed(self._close_rules):
            if _applies(rule.resource, resource):
                return rule
        return None

    def consume_close(self, rule: WatchCloseRule) -> None:
        """A stream was closed by `rule`; retire the rule when its quota is spent."""
        if rule.streams is not None:
            rule.streams -= 1
            if rule.streams <= 0 and rule in self._close_rules:
                self._close_rules.remove(rule)

    def is_stalled(self, resource: str) -> bool:
        return None in self._stalled or resource in self._stalled

    async def wait_released(self) -> None:
        await self._released.wait()

    def take_malformed(self, resource: str) -> bool:
        return _take(self._malformed, resource)

    def take_truncated(self, resource: str) -> bool:
        return _take(self._truncated, resource)


def _take(rules: list[_CountedRule], resource: str) -> bool:
    for rule in rules:
        if _applies(rule.resource, resource):
            rule.remaining -= 1
            if rule.remaining <= 0:
                rules.remove(rule)
            return True
    return False


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
