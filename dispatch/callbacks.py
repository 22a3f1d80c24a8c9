"""Callbacks on status transitions, dispatched off the ingest path.

The store computes transitions inside the transaction that writes the rows
and hands each committed batch to `CallbackRegistry.publish` (its subscribe
hook). `publish` never waits: it appends to a bounded queue and returns, so
the writer - and the informers behind it - run at the same speed whether a
callback takes a microsecond or hangs. A dispatcher task matches each
transition against the subscriptions' filters and hands it to that
subscription's own bounded queue, drained by its own worker task: a slow
webhook delays only the webhook. A failing callback is logged (at error
level, with its name) and counted, never retried here (sinks that want
retries, like the webhook, do their own), and never stops the dispatcher.

When a queue is full the transition is dropped for that consumer and
*counted* (`stats.dropped`, per subscription `dropped`), with a warning at
most every few seconds: better than stalling the store, and visible in the
metrics. History in the store keeps every transition regardless.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

import anyio
from anyio.abc import TaskGroup

from store.model import Kind, Severity, Transition

__all__ = [
    "Callback",
    "CallbackRegistry",
    "DeliveryError",
    "DispatchStats",
    "Subscription",
    "TransitionFilter",
    "log_transition",
]

log = logging.getLogger(__name__)
transitions_log = logging.getLogger("dispatch.transitions")

Callback = Callable[[Transition], Awaitable[None] | None]

_WARN_EVERY = 5.0


class _Default(enum.Enum):
    """Marks "use the registry's default" where None already means "no timeout"."""

    DEFAULT = enum.auto()


_DEFAULT = _Default.DEFAULT


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransitionFilter:
    """Which transitions a subscription wants; None means any.

    `fields` are shell-style patterns on `Transition.field`, e.g. `phase`,
    `condition/*`, `container/*/waiting_reason`.
    """

    kinds: frozenset[Kind] | None = None
    namespaces: frozenset[str] | None = None
    fields: tuple[str, ...] | None = None
    min_severity: Severity = Severity.INFO

    def matches(self, t: Transition) -> bool:
        if self.kinds is not None and t.kind not in self.kinds:
            return False
        if self.namespaces is not None and t.namespace not in self.namespaces:
            return False
        if t.severity.rank < self.min_severity.rank:
            return False
        if self.fields is not None:
            return any(fnmatch.fnmatchcase(t.field, p) for p in self.fields)
        return True


class DeliveryError(Exception):
    """A callback could not deliver a transition, for a reason its message states.

    Raise it (or a subclass, like `WebhookError`) from a callback for an
    expected failure (a receiver down, a payload refused): it is counted and
    logged without a traceback. Any other exception counts the same, and is
    logged with its traceback, as the bug it likely is.
    """


@dataclasses.dataclass
class DispatchStats:
    published: int = 0
    dropped: int = 0  # the dispatcher's own queue was full


class _Signal:
    """A re-armable wake-up, created lazily so objects can be built outside a loop."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def set(self) -> None:
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._event is None or self._event.is_set():
            self._event = anyio.Event()
        await self._event.wait()


class Subscription:
    """One callback with its filter, bounded queue and counters; `close()` ends it."""

    def __init__(
        self,
        *,
        registry: CallbackRegistry,
        callback: Callback,
        filter: TransitionFilter,
        name: str,
        queue_size: int,
        timeout: float | None,
    ) -> None:
        self.callback = callback
        self.filter = filter
        self.name = name
        self.timeout = timeout
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._registry = registry
        self._queue: deque[Transition] = deque()
        self._limit = queue_size
        self._busy = False
        self._closed = False
        self._wake = _Signal()
        self._idle = _Signal()
        self._last_warning = 0.0
        self._last_failure_log = -_WARN_EVERY
        # The history id of the first transition queued here: what came before it was
        # dispatched before this subscription existed (see `replay`).
        self.first_offered: int | None = None

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, t: Transition) -> None:
        if self._closed:
            return
        if self.first_offered is None and t.id is not None:
            self.first_offered = t.id
        if len(self._queue) >= self._limit:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY:
                self._last_warning = now
                log.warning(
                    "callback %s is behind; %d transitions dropped so far", self.name, self.dropped
                )
            return
        self._queue.append(t)
        self._wake.set()

    def replay(self, transitions: Iterable[Transition]) -> int:
        """Queue older transitions (from history) ahead of the queued live ones; returns how many.

        Only those this subscription did not get live: matching its filter and
        recorded before `first_offered`. Call it once the registry has
        `dispatched()` everything committed before the history was read, so
        that `first_offered` is settled for them. Not bounded by the queue
        size: the caller bounds what it reads from history.
        """
        if self._closed:
            return 0
        first = self.first_offered
        older = [
            t
            for t in transitions
            if t.id is not None and (first is None or t.id < first) and self.filter.matches(t)
        ]
        self._queue.extendleft(reversed(older))
        if older:
            self._wake.set()
        return len(older)

    def close(self) -> None:
        """Stop delivering; transitions already queued are still delivered."""
        self._closed = True
        self._registry._remove(self)
        self._wake.set()

    async def drained(self) -> None:
        """Wait until everything published so far was handed to the callback (tests, shutdown)."""
        await self._registry.dispatched()
        while self._queue or self._busy:
            await self._idle.wait()

    async def run(self) -> None:
        while True:
            while self._queue:
                t = self._queue.popleft()
                self._busy = True
                try:
                    await self._deliver(t)
                finally:
                    self._busy = False
            self._idle.set()
            if self._closed:
                return
            await self._wake.wait()

    async def _deliver(self, t: Transition) -> None:
        # The boundary between the dispatcher and a callback: whatever a callback
        # raises is this subscription's failure, logged and counted, and the other
        # subscriptions (and the next transitions) go on.
        try:
            with anyio.fail_after(self.timeout):
                result = self.callback(t)
                if inspect.isawaitable(result):
                    await result
        except DeliveryError as e:  # the sink said why: no traceback needed
            self._failed(t, str(e))
        except TimeoutError:
            self._failed(t, f"no return within {self.timeout:g} s")
        except Exception as e:  # a bug in the callback: with its traceback
            self._failed(t, f"{type(e).__name__}: {e}", error=e)
        else:
            self.delivered += 1

    def _failed(self, t: Transition, why: str, *, error: Exception | None = None) -> None:
        """Count a failed delivery; log it at error level, at most once every few seconds."""
        self.failed += 1
        now = time.monotonic()
        if now - self._last_failure_log <= _WARN_EVERY:
            return
        self._last_failure_log = now
        log.error(
            "callback %s failed on %s %s/%s %s: %s (%d failures so far)",
            self.name,
            t.kind,
            t.namespace,
            t.name,
            t.field,
            why,
            self.failed,
            exc_info=error,
        )


class CallbackRegistry:
    """Subscriptions to transitions, and the dispatcher that feeds them.

    Run `run()` in a task group for the agent's lifetime; give `publish` to
    the store (`writer.subscribe(registry.publish)`). Subscribing works
    before and while it runs.
    """

    def __init__(
        self,
        *,
        queue_size: int = 10_000,
        subscriber_queue_size: int = 1_000,
        callback_timeout: float | None = 30.0,
    ) -> None:
        self.stats = DispatchStats()
        self._subs: list[Subscription] = []
        self._sub_queue_size = subscriber_queue_size
        self._timeout = callback_timeout
        self._queue: deque[Transition] = deque()
        self._limit = queue_size
        self._wake = _Signal()
        self._dispatched = _Signal()
        self._tg: TaskGroup | None = None
        self._last_warning = 0.0

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subs)

    def subscribe(
        self,
        callback: Callback,
        *,
        kinds: Iterable[Kind | str] | None = None,
        namespaces: Iterable[str] | None = None,
        fields: Iterable[str] | None = None,
        min_severity: Severity | str = Severity.INFO,
        name: str | None = None,
        queue_size: int | None = None,
        timeout: float | _Default | None = _DEFAULT,
    ) -> Subscription:
        """Call `callback(transition)` (sync or async) for each matching transition.

        `timeout` bounds one call (default: the registry's); None: unbounded,
        for sinks that bound themselves (the webhook).
        """
        flt = TransitionFilter(
            kinds=frozenset(Kind(k) for k in kinds) if kinds is not None else None,
            namespaces=frozenset(namespaces) if namespaces is not None else None,
            fields=tuple(fields) if fields is not None else None,
            min_severity=Severity(min_severity),
        )
        sub = Subscription(
            registry=self,
            callback=callback,
            filter=flt,
            name=name
            or getattr(callback, "name", None)
            or getattr(callback, "__qualname__", None)
            or repr(callback),
            queue_size=queue_size or self._sub_queue_size,
            timeout=self._timeout if isinstance(timeout, _Default) else timeout,
        )
        self._subs.append(sub)
        if self._tg is not None:
            self._tg.start_soon(sub.run)
        return sub

    async def dispatched(self) -> None:
        """Wait until every published transition was handed to the subscriptions' queues."""
        while self._queue:
            await self._dispatched.wait()

    @property
    def pending(self) -> int:
        """Transitions published but not yet handed to a callback (all subscriptions)."""
        return self.dispatch_pending + sum(sub.pending for sub in self._subs)

    @property
    def dispatch_pending(self) -> int:
        """Transitions in the shared dispatch queue, before any subscription's own queue."""
        return len(self._queue)

    async def drain(self) -> None:
        """Wait until every transition published so far was handed to its callbacks.

        For a graceful shutdown: the store's last commit publishes transitions
        that history already holds, and callbacks (webhooks above all) should
        hear of them too. Needs `run()` running. Unbounded, since a callback
        may hang: the caller bounds it (`anyio.move_on_after`) and then cancels.
        """
        await self.dispatched()
        for sub in tuple(self._subs):
            await sub.drained()

    def start_soon(self, fn: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `fn()` in the dispatcher's task group (work that feeds subscriptions).

        A failure is logged, never raised into the dispatcher; while `run()`
        is not running, the work is not done (and that is logged too).
        """

        async def guarded() -> None:
            try:
                await fn()
            except Exception:
                log.exception("%s failed", name)

        if self._tg is None:
            log.warning("%s skipped: the callback dispatcher is not running", name)
            return
        self._tg.start_soon(guarded, name=name)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, transitions: Iterable[Transition]) -> None:
        """Queue committed transitions for dispatch; never blocks (the store's hook)."""
        queued = False
        for t in transitions:
            if len(self._queue) >= self._limit:
                self.stats.dropped += 1
                now = time.monotonic()
                if now - self._last_warning > _WARN_EVERY:
                    self._last_warning = now
                    log.warning(
                        "transition dispatch queue full; %d dropped so far", self.stats.dropped
                    )
                continue
            self._queue.append(t)
            self.stats.published += 1
            queued = True
        if queued:
            self._wake.set()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                for sub in self._subs:
                    tg.start_soon(sub.run)
                while True:
                    while self._queue:
                        t = self._queue.popleft()
                        for sub in self._subs:
                            if sub.filter.matches(t):
                                sub.offer(t)
                    self._dispatched.set()
                    await self._wake.wait()
            finally:
                self._tg = None


def log_transition(t: Transition) -> None:
    """The machines' sink: one record per transition, at a level by severity.

    For `--log-format json`: the message is the one line people would read,
    and the transition's parts are fields of their own, so a collector can
    filter and count without parsing it. Info transitions (recoveries among
    them) are logged at DEBUG. People's consoles use `TransitionLog`.
    """
    level = {
        Severity.INFO: logging.DEBUG,
        Severity.WARNING: logging.WARNING,
        Severity.CRITICAL: logging.ERROR,
    }[t.severity]
    if not transitions_log.isEnabledFor(level):
        return
    where = f"{t.namespace}/{t.name}" if t.namespace else t.name
    why = f" ({t.reason}: {t.message})" if t.reason or t.message else ""
    transitions_log.log(
        level,
        "%s %s %s: %s -> %s%s",
        t.kind,
        where,
        t.field,
        t.old,
        t.new,
        why,
        extra={
            "fields": {
                "kind": str(t.kind),
                "namespace": t.namespace,
                "name": t.name,
                "field": t.field,
                "old": t.old,
                "new": t.new,
                "severity": str(t.severity),
                "reason": t.reason,
                "message": t.message,
            }
        },
    )
