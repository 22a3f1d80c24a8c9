"""One list/watch loop for one kind in one scope, with client-go's reflector semantics.

The loop, per (kind, namespace or all namespaces):

1. **Sync**: a streaming list (`watch` with `sendInitialEvents=true`,
   `resourceVersionMatch=NotOlderThan`) whose ADDED events up to the bookmark
   annotated `k8s.io/initial-events-end` are the complete set, after which the
   same stream goes on as the watch; or, when the server refuses that, a
   paginated LIST (`limit`/`continue`). A 410 on a continue token restarts
   the list; twice in a row, the list is taken in one piece, as client-go's
   pager does. The complete set goes to `handler.on_list` (a *replace*: what
   the set lacks was deleted while we were away) — or, when the handler is a
   `ListStreamHandler`, piece by piece as it arrives (`on_list_begin`, then
   `on_list_items` per page or chunk, then `on_list_end`), so a 150k-object
   list is never held whole. A restarted list calls `on_list_begin` again.
2. **Watch** from the list's resourceVersion with `allowWatchBookmarks=true`
   and a random `timeoutSeconds` in the configured range. Every event and
   bookmark advances the resourceVersion, *after* the handler took the event,
   so a reconnect never skips one. A handler that is an `EventBatchHandler`
   takes the events of one network read in one call (`on_events`).
3. A watch that ends cleanly resumes from the last resourceVersion (no
   relist). A 410, as HTTP status or ERROR event, means that resourceVersion
   is gone: relist. A silent stream (inactivity timeout) or a line that does
   not decode reconnects from the last good resourceVersion; the server sends
   again what we could not read. Anything else backs off exponentially with
   full jitter; a 429 waits for its Retry-After instead.
4. **Proof of life.** The server proves a watch alive by an event, a
   bookmark, a completed list, or a watch that starts (headers received; the
   handler hears of it as a bookmark at the resourceVersion the watch
   resumes from). After a failure, and from a server whose bookmarks we
   know, only an event or a bookmark counts: a server that accepted the
   request may still say nothing, or speak from another history. A stream that
   says nothing for well beyond the server's own bookmark cadence (see
   `watcher.silence`) is declared silent at once: the handler is told
   (`on_error`, the kind is stale) and the watch reconnects.
5. **History that went away.** A server that has not reached our
   resourceVersion (504 "Too large resource version", as HTTP status or
   ERROR event) or whose resourceVersions went backwards (a list, bookmark
   or event numerically older than what we hold, compared only when both
   are integers) has lost or replaced the history we followed: an etcd
   restore, a new control plane behind the same address. The rows held may
   belong to objects that no longer exist: reported at once, then relist and
   replace. The first event of every stream is checked, and every bookmark,
   so a reconnect never resumes silently on another history. A new history
   that passed our resourceVersion before we reconnected shows neither: the
   store sees it in the events (a MODIFIED or DELETED for a uid it does not
   hold, under a name another uid holds) and the informers relist every kind
   (`request_relist(reason="history-reset")`, see `Informers.history_changed`).

Nothing here raises out of `run` but cancellation: a watcher that crashes
stops seeing the cluster, which is worse than one that keeps retrying and
says so in its sync state and logs.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import anyio
import msgspec

from kinds import KindSpec
from kinds.meta import INITIAL_EVENTS_END, KubeObject, ObjectList, WatchEvent
from retry import Backoff
from store.model import EventType
from watcher.errors import (
    ApiError,
    GoneError,
    HistoryResetError,
    MalformedEventError,
    SilentStreamError,
    StalledStreamError,
    TooLargeResourceVersionError,
    TooManyRequestsError,
    TransportError,
    WatcherError,
    api_error_from_status,
    decode_error_event,
)
from watcher.retry_log import RetryLog
from watcher.settings import WatchSettings
from watcher.silence import BookmarkCadence
from watcher.stats import WatchStats
from watcher.transport import ApiTransport, Query, iter_line_batches, set_read_timeout

__all__ = ["EventBatchHandler", "ListStreamHandler", "Reflector", "ReflectorHandler"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_event_decoder = msgspec.json.Decoder(WatchEvent)
_list_decoder = msgspec.json.Decoder(ObjectList)
# Statuses with which a server refuses a streaming list it does not implement.
_STREAMING_REFUSED = frozenset({400, 403, 405, 406, 415, 422, 501})
# Relist reasons that already mean "another history": a list after them is expected to go back.
_HISTORY_REASONS = frozenset({"too-large", "history-reset"})


class ReflectorHandler(Protocol[T]):
    """Where a reflector delivers what it sees; the informer implements it per kind."""

    async def on_list(self, items: list[T], resource_version: str) -> None:
        """The complete set in this reflector's scope, as of `resource_version`."""

    async def on_event(self, type: EventType, item: T) -> None: ...

    async def on_bookmark(self, resource_version: str) -> None: ...

    async def on_error(self, error: str) -> None:
        """The last failure, for the sync state (the next bookmark or list clears it)."""


@runtime_checkable
class ListStreamHandler(Protocol[T]):
    """A handler that takes a list piece by piece instead of whole (see the module docstring)."""

    async def on_list_begin(self) -> None:
        """A list starts (or starts over): what follows until `on_list_end` is the complete set."""

    async def on_list_items(self, items: list[T]) -> None: ...

    async def on_list_end(self, resource_version: str, count: int) -> None:
        """The list is complete as of `resource_version`, `count` objects in all."""


@runtime_checkable
class EventBatchHandler(Protocol[T]):
    """A handler that takes watch events several at a time (what one network read brought).

    When the handler has `on_events`, the reflector calls it instead of
    `on_event`: one await per read instead of one per event, so the handler
    can take its locks and hand the sink its deltas once per batch. The
    events are in the order received; the resourceVersion advances past them
    only after `on_events` returns.
    """

    async def on_events(self, events: list[tuple[EventType, T]]) -> None: ...


# Objects that cannot be normalized: logged, counted and left out (see `Reflector._skip`).
_UNREADABLE = (ValueError, TypeError, msgspec.DecodeError, msgspec.ValidationError)

# Items handed to a ListStreamHandler at once during a streaming list (paged lists: per page).
_STREAM_CHUNK = 500
# Watch events handed over at once, at most. A network read can hold
# thousands (a backlog after a stall arrives in megabyte reads): handed over
# whole, the store's writer would wait for the entire read to be decoded
# before it could prepare the first row, and SQLite would idle meanwhile.
# After each hand-over the loop turns once, so the writer keeps pace.
_HAND_OVER_EVERY = 256


class _StreamingRefused(WatcherError):
    pass


class Reflector(Generic[T]):
    """List and watch one kind in one scope into a handler, forever."""

    def __init__(
        self,
        *,
        spec: KindSpec[T],
        transport: ApiTransport,
        handler: ReflectorHandler[T],
        settings: WatchSettings,
        stats: WatchStats,
        namespace: str | None = None,
        label_selector: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = spec
        self.namespace = namespace
        self._transport = transport
        self._handler = handler
        self._stream: ListStreamHandler[T] | None = (
            handler if isinstance(handler, ListStreamHandler) else None
        )
        self._batcher: EventBatchHandler[T] | None = (
            handler if isinstance(handler, EventBatchHandler) else None
        )
        self._settings = settings
        self._stats = stats
        self._selector = label_selector
        self._rng = rng or random.Random()
        self._backoff = Backoff(settings.backoff, rng=self._rng)
        self._path = spec.resource.path(namespace)
        self._kind = spec.name
        self._label = spec.name + (f" in {namespace}" if namespace else "")
        self._streaming = settings.streaming_list
        self.resource_version: str | None = None
        self.synced = False
        self._need_list = True
        self._list_reason = "initial"  # why the next list happens, for the relist counter
        self._relist_error: str | None = None  # to report before a requested relist
        self._failing = False
        # Failed tries are logged as they start, change and end, not one line each.
        self._retries = RetryLog(log, self._label)
        self._attempt: anyio.CancelScope | None = None
        self._gone_in_a_row = 0
        self._cadence = BookmarkCadence(
            factor=settings.silence_factor, floor=settings.silence_floor
        )
        self._proved_at = 0.0  # when the open stream last proved itself alive (time.monotonic)
        self._silences = 0  # streams declared silent since the server last said anything

    @property
    def bookmark_interval(self) -> float | None:
        """The server's bookmark interval as learned on this reflector's streams (None: unknown)."""
        return self._cadence.interval

    # -- the loop ---------------------------------------------------------------

    def request_relist(self, *, reason: str = "requested", error: str | None = None) -> None:
        """Drop the current watch and list again (the store lost its data, say).

        `reason`: the relist counter's reason. `error`: reported to the handler
        before the list (the kind is stale until it completes), e.g. when the
        store saw events of another history (`history-reset`).
        """
        self._need_list = True
        self._list_reason = reason
        self._relist_error = error
        if self._attempt is not None:
            self._attempt.cancel()

    @property
    def relisting_for(self) -> str | None:
        """Why the next list happens, while one is due (None: none is)."""
        return self._list_reason if self._need_list else None

    async def run(self) -> None:
        while True:
            delay = 0.0
            if self._relist_error is not None:
                error, self._relist_error = self._relist_error, None
                await self._report(error)
            with anyio.CancelScope() as attempt:
                self._attempt = attempt
                delay = await self._run_once()
            self._attempt = None
            if attempt.cancelled_caught:
                self._count_restart(
                    "relist-requested" if self._list_reason == "requested" else self._list_reason
                )
                continue
            if delay > 0:
                await anyio.sleep(delay)

    async def _run_once(self) -> float:
        """One list and/or watch; returns how long to wait before the next."""
        delay = 0.0
        try:
            if self._need_list:
                if self._streaming:
                    try:
                        # Lists, then goes on as the watch; a failure after
                        # the list completed resumes from its resourceVersion.
                        await self._watch(initial=True)
                        return 0.0
                    except _StreamingRefused as e:
                        self._streaming = False
                        log.info(
                            "%s: streaming list refused (%s); using paged lists", self._label, e
                        )
                await self._list()
            await self._watch(initial=False)
        except GoneError as e:
            self._count_restart("gone")
            log.info(
                "%s: resourceVersion %s expired (%s); relisting",
                self._label,
                self.resource_version,
                e,
            )
            self._need_list = True
            self._list_reason = "gone"
            # An immediate relist, unless 410s come in a row with no event
            # between them (a server or proxy that answers 410 to everything):
            # then the backoff applies and the sync state shows the error, so
            # such a server is not sent full LISTs in a tight loop.
            self._gone_in_a_row += 1
            delay = 0.0
            if self._gone_in_a_row > 1:
                delay = self._backoff.next_delay()
                await self._report(f"{self._gone_in_a_row} expired resourceVersions (410) in a row")
        except (TooLargeResourceVersionError, HistoryResetError) as e:
            delay = await self._history_lost(e)
        except TooManyRequestsError as e:
            self._count_restart("throttled")
            delay = self._backoff.next_delay(retry_after=e.retry_after)
            self._retries.failed("throttled (429)", retry_in=delay)
            await self._report(f"throttled (429), retrying in {delay:.1f} s")
        except SilentStreamError as e:
            self._count_restart("silent")
            # One warning per stall; a stall that outlasts several reconnects says so at INFO.
            self._silences += 1
            log.log(
                logging.WARNING if self._silences == 1 else logging.INFO,
                "%s: %s from %s%s",
                self._label,
                e,
                self.resource_version,
                f" ({self._silences} times in a row)" if self._silences > 1 else "",
            )
            await self._report(str(e))
        except StalledStreamError as e:
            self._count_restart("stalled")
            self._retries.failed(str(e), retry_in=0.0)
            await self._report(str(e))
        except MalformedEventError as e:
            self._count_restart("malformed")
            delay = self._backoff.next_delay()
            self._retries.failed(str(e), retry_in=delay)
            await self._report(str(e))
        except (ApiError, TransportError) as e:
            self._count_restart("error")
            delay = self._backoff.next_delay()
            self._retries.failed(str(e), retry_in=delay)
            await self._report(str(e))
        return delay

    async def _history_lost(self, error: TooLargeResourceVersionError | HistoryResetError) -> float:
        """The server's history is not the one our resourceVersion came from: relist, replace.

        Reported to the handler at once (the kind is stale): until the list
        completes, the rows held may be objects the server no longer has.
        A second one in a row, with no event between, backs off as 410s do.
        """
        held = self.resource_version
        if isinstance(error, TooLargeResourceVersionError):
            reason = "too-large"
            log.warning(
                "%s: the API server has not reached resourceVersion %s (%s): its history was "
                "reset or it lags behind; relisting and replacing every object",
                self._label,
                held,
                error.message or error,
            )
            report = f"the API server has not reached resourceVersion {held} ({error.message})"
        else:
            reason = "history-reset"
            log.warning(
                "%s: %s: the API server's history was reset (an etcd restore, or a new control "
                "plane at the same address?); relisting and replacing every object",
                self._label,
                error,
            )
            report = f"{error}: the API server's history was reset"
        self._count_restart(reason)
        self._need_list = True
        self._list_reason = reason
        self._gone_in_a_row += 1
        await self._report(f"{report}; relisting")
        return self._backoff.next_delay() if self._gone_in_a_row > 1 else 0.0

    async def _report(self, error: str) -> None:
        self._failing = True
        await self._handler.on_error(error)

    async def _healthy(self) -> None:
        """A watch delivered again after failures: progress, which clears the error."""
        if self._failing and self.resource_version:
            self._failing = False
            self._silences = 0
            self._retries.succeeded("watching again")
            await self._handler.on_bookmark(self.resource_version)

    async def _watch_started(self) -> None:
        """Headers received: proof of life, told to the handler as a bookmark at our version.

        Not after a failure: a server that stalled, or one whose history was
        replaced, answers headers too; the first event or bookmark of the
        stream (its resourceVersion checked) clears the error instead. Nor
        from a server known to send bookmarks: its first one, checked the
        same way, follows within one interval and proves more.
        """
        if not self._failing and self._cadence.interval is None and self.resource_version:
            await self._handler.on_bookmark(self.resource_version)

    def _check_forward(self, seen: str, where: str) -> None:
        """Raise HistoryResetError when `seen` is older than the resourceVersion we hold."""
        held = self.resource_version
        if held and _older(seen, held):
            raise HistoryResetError(held=held, seen=seen, where=where)

    def _rearm(self, resp: Any, current: float | None, *, initial: bool) -> float | None:
        """Make the stream's read timeout the silence limit, if one applies now; return it."""
        limit = self._silence_limit(initial=initial)
        if limit != current:
            set_read_timeout(resp, self._settings.inactivity_timeout if limit is None else limit)
        return limit

    def _silence_limit(self, *, initial: bool) -> float | None:
        """Seconds without a byte from the server after which the stream is silent (None: none).

        None during a streaming list: the server sends its snapshot and no
        bookmark until the end, so the cadence says nothing about it (the
        inactivity timeout still does). None while the cadence is unknown,
        and when the inactivity timeout would come first anyway.
        """
        limit = self._cadence.limit
        if initial or limit is None or limit >= self._settings.inactivity_timeout:
            return None
        return limit

    def _count_restart(self, reason: str) -> None:
        self._stats.restarts[(self._kind, reason)] += 1

    def _count_request(self, verb: str, result: str) -> None:
        self._stats.requests[(self._kind, verb, result)] += 1

    def _query(self, *pairs: tuple[str, str]) -> Query:
        query = list(pairs)
        if self._selector:
            query.append(("labelSelector", self._selector))
        return query

    # -- LIST ---------------------------------------------------------------------

    async def _list(self) -> None:
        started = time.monotonic()
        items: list[T] = []
        token: str | None = None
        expired_in_a_row = 0
        pages = 0
        next_log = started + self._settings.progress_log_interval
        resource_version = ""
        stream = self._stream
        count = 0
        if stream is not None:
            await stream.on_list_begin()
        while True:
            limit = self._settings.list_page_size if expired_in_a_row < 2 else 0
            pairs: list[tuple[str, str]] = []
            if limit:
                pairs.append(("limit", str(limit)))
            if token:
                pairs.append(("continue", token))
            try:
                body = await self._get("list", self._query(*pairs))
            except GoneError:
                if not token:
                    raise
                expired_in_a_row += 1
                self._count_restart("continue-gone")
                log.info(
                    "%s: continue token expired after %d objects; restarting the list",
                    self._label,
                    count,
                )
                items, token, pages, count = [], None, 0, 0
                if stream is not None:
                    await stream.on_list_begin()
                continue
            try:
                page = _list_decoder.decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise MalformedEventError(f"unreadable list page: {e}", line=body[:200]) from e
            normalize = self.spec.normalize
            for obj in page.items:
                if (row := self._normalize(normalize, obj)) is not None:
                    items.append(row)
            del page.items[:]
            count = len(items) if stream is None else count + len(items)
            if stream is not None and items:
                await stream.on_list_items(items)
                items = []
            pages += 1
            resource_version = page.metadata.resource_version
            token = page.metadata.continue_ or None
            now = time.monotonic()
            if token and now >= next_log:
                next_log = now + self._settings.progress_log_interval
                log.info(
                    "%s: listing, %d objects so far (%d pages, %.1f s)",
                    self._label,
                    count,
                    pages,
                    now - started,
                )
            if not token:
                break
        if not resource_version:
            raise MalformedEventError("list without a resourceVersion")
        if stream is not None:
            await stream.on_list_end(resource_version, count)
        else:
            await self._handler.on_list(items, resource_version)
        self._listed(resource_version)
        log.info(
            "%s: listed %d objects in %.1f s (%d pages, resourceVersion %s)",
            self._label,
            count,
            time.monotonic() - started,
            pages,
            resource_version,
        )

    async def _get(self, verb: str, query: Query) -> bytes:
        try:
            body = await self._transport.get(
                self._path, query, request_timeout=self._settings.list_request_timeout
            )
        except ApiError as e:
            self._count_request(verb, str(e.status))
            raise
        except TransportError:
            self._count_request(verb, "transport")
            raise
        self._count_request(verb, "ok")
        return body

    def _normalize(self, normalize: Callable[[KubeObject], T], obj: KubeObject) -> T | None:
        """The row for `obj`, or None for an object that cannot be read (see `_skip`)."""
        try:
            item = normalize(obj)
        except _UNREADABLE as e:
            self._skip(obj, str(e))
            return None
        if not getattr(item, "uid", "x"):
            self._skip(obj, "no metadata.uid")
            return None
        return item

    def _skip(self, obj: KubeObject, problem: str) -> None:
        """Log and count an object that cannot be read; it is left out.

        Such an object is left out rather than raised: the server would send
        the same bytes again on every reconnect, so raising would stall the
        whole kind (or, for a row the store rejects, stop the agent) over one
        object.
        """
        meta = obj.metadata
        self._stats.skipped[self._kind] += 1
        log.warning(
            "%s: skipping unreadable %s %s/%s: %s",
            self._label,
            self.spec.resource.kind,
            meta.namespace or "",
            meta.name,
            problem,
        )

    # -- WATCH --------------------------------------------------------------------

    async def _watch(self, *, initial: bool) -> None:
        s = self._settings
        pairs = [("watch", "1"), ("allowWatchBookmarks", "true")]
        if initial:
            pairs += [
                ("sendInitialEvents", "true"),
                ("resourceVersionMatch", "NotOlderThan"),
                ("resourceVersion", ""),
            ]
            verb = "stream-list"
        else:
            pairs.append(("resourceVersion", self.resource_version or ""))
            verb = "watch"
        pairs.append(("timeoutSeconds", str(s.watch_timeout(self._rng))))
        opened = False
        try:
            async with self._transport.stream(
                self._path, self._query(*pairs), inactivity_timeout=s.inactivity_timeout
            ) as resp:
                opened = True
                self._count_request(verb, "ok")
                await self._consume(resp, initial=initial)
        except ApiError as e:
            # Failures of the request itself; an ERROR event inside the stream
            # is the watch's answer, not the request's.
            if not opened:
                self._count_request(verb, str(e.status))
                if initial and e.status in _STREAMING_REFUSED:
                    raise _StreamingRefused(str(e)) from e
            raise
        except TransportError:
            if not opened:
                self._count_request(verb, "transport")
            raise

    async def _consume(self, resp: Any, *, initial: bool) -> None:
        """Read one watch response to its end (or the first failure).

        The hot path of the agent: per line one decode, one normalize, and
        the hand-over. Events are handed over a network read at a time when
        the handler is an `EventBatchHandler` (one await per read, not per
        event); a bookmark, an ERROR event or an unreadable line first hands
        over the events before it, so order and the resourceVersion rule
        (advanced only once the handler took the event) are kept.
        """
        started = time.monotonic()
        events = 0
        items: list[T] = []
        listed = 0  # objects of the streaming list so far
        stream = self._stream if initial else None
        if stream is not None:
            await stream.on_list_begin()
        next_log = started + self._settings.progress_log_interval
        handler = self._handler
        batcher = self._batcher
        normalize = self.spec.normalize
        decode = _event_decoder.decode
        counts = self._stats.events
        kind = self._kind
        keys = {t: (kind, t) for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")}
        # Watch events not yet handed over, and the resourceVersion after them.
        pending: list[tuple[EventType, T]] = []
        pending_rv = ""
        cadence = self._cadence
        cadence.stream_opened()
        self._proved_at = time.monotonic()
        # The first event of a watch is checked against the resourceVersion it resumed from.
        check_first = not initial
        if not initial:
            await self._watch_started()
        # A silence limit, once learned, becomes the stream's read timeout
        # (re-armed by every byte received, as the inactivity timeout is): no
        # cost per read, and a hand-over in progress is never interrupted,
        # since the timeout surfaces at the next read.
        limit = self._rearm(resp, None, initial=initial)
        try:
            async for batch in iter_line_batches(resp):
                self._proved_at = time.monotonic()
                for line in batch:
                    try:
                        event = decode(line)
                    except (msgspec.DecodeError, msgspec.ValidationError) as e:
                        if pending:
                            await self._hand_over(pending, pending_rv)
                        raise MalformedEventError(
                            f"undecodable watch event ({e})", line=bytes(line[:1024])
                        ) from e
                    type_ = event.type
                    obj = event.object
                    try:
                        counts[keys[type_]] += 1
                    except KeyError:
                        if pending:
                            await self._hand_over(pending, pending_rv)
                        raise MalformedEventError(
                            f"unknown watch event type {type_!r}", line=bytes(line[:1024])
                        ) from None
                    if type_ == "BOOKMARK" or type_ == "ERROR":
                        if pending:
                            await self._hand_over(pending, pending_rv)
                            pending = []
                        if type_ == "ERROR":
                            raise self._error_event(obj, line)
                        self._gone_in_a_row = 0
                        rv = obj.metadata.resource_version
                        if not rv:
                            continue
                        if not initial:
                            self._check_forward(rv, "bookmark")
                            check_first = False
                            cadence.bookmark(self._proved_at)
                            self.resource_version = rv
                            self._failing = False  # the bookmark's sync clears the error
                            self._silences = 0
                            self._retries.succeeded("watching again")
                            await handler.on_bookmark(rv)
                            limit = self._rearm(resp, limit, initial=False)  # the cadence moved
                            continue
                        annotations = obj.metadata.annotations
                        if annotations is None or annotations.get(INITIAL_EVENTS_END) != "true":
                            continue
                        if stream is not None:
                            if items:
                                await stream.on_list_items(items)
                            await stream.on_list_end(rv, listed)
                        else:
                            await handler.on_list(items, rv)
                        self._listed(rv)
                        log.info(
                            "%s: listed %d objects in %.1f s (streaming, resourceVersion %s)",
                            self._label,
                            listed,
                            time.monotonic() - started,
                            rv,
                        )
                        items = []
                        initial = False
                        stream = None
                        limit = self._rearm(resp, limit, initial=False)
                        continue
                    # ADDED, MODIFIED or DELETED.
                    events += 1
                    self._gone_in_a_row = 0
                    item: T | None
                    try:
                        item = normalize(obj)
                    except _UNREADABLE as e:
                        self._skip(obj, str(e))
                        item = None
                    else:
                        if not getattr(item, "uid", "x"):
                            self._skip(obj, "no metadata.uid")
                            item = None
                    if initial:
                        if item is None:
                            continue
                        items.append(item)
                        listed += 1
                        if listed % _STREAM_CHUNK == 0:
                            if stream is not None:
                                await stream.on_list_items(items)
                                items = []
                            now = time.monotonic()
                            if now >= next_log:
                                next_log = now + self._settings.progress_log_interval
                                log.info(
                                    "%s: streaming list, %d objects so far (%.1f s)",
                                    self._label,
                                    listed,
                                    now - started,
                                )
                        continue
                    rv = obj.metadata.resource_version
                    if check_first and rv:
                        # Before the handler sees it: an event from another history
                        # must not reach the store as a change.
                        check_first = False
                        self._check_forward(rv, f"{type_} event")
                    # `type_` is one of the three EventType values here (checked
                    # above); a cast() per event would cost a call for the type checker.
                    if item is not None:
                        if batcher is not None:
                            pending.append((type_, item))  # type: ignore[arg-type]
                            if rv:
                                pending_rv = rv
                            if len(pending) >= _HAND_OVER_EVERY:
                                await self._hand_over(pending, pending_rv)
                                pending = []
                                await anyio.lowlevel.checkpoint()
                            continue
                        await handler.on_event(type_, item)  # type: ignore[arg-type]
                    if rv:
                        if pending:
                            pending_rv = rv
                        else:
                            self.resource_version = rv
                if pending:
                    await self._hand_over(pending, pending_rv)
                    pending = []
                if self._failing and not initial:
                    await self._healthy()
        except StalledStreamError as e:
            if limit is None:
                raise  # the inactivity timeout: no cadence was known
            raise SilentStreamError(
                silent_for=time.monotonic() - self._proved_at,
                interval=cadence.interval or limit,
            ) from e
        if initial:
            raise TransportError(
                f"streaming list ended after {listed} objects, "
                "before its initial-events-end bookmark"
            )
        self._count_restart("closed")
        if events == 0 and time.monotonic() - started < self._settings.min_watch_duration:
            raise TransportError("watch ended at once without an event")

    async def _hand_over(self, events: list[tuple[EventType, T]], resource_version: str) -> None:
        """Deliver gathered watch events; the resourceVersion advances once they are taken."""
        assert self._batcher is not None
        await self._batcher.on_events(events)
        if resource_version:
            self.resource_version = resource_version

    def _listed(self, resource_version: str) -> None:
        held = self.resource_version
        if held and _older(resource_version, held) and self._list_reason not in _HISTORY_REASONS:
            # The list replaced every object already; what is left is to say so.
            log.warning(
                "%s: resourceVersion went back from %s to %s (list): the API server's history "
                "was reset (an etcd restore, or a new control plane at the same address?); "
                "the list replaces every object",
                self._label,
                held,
                resource_version,
            )
            self._list_reason = "history-reset"
        self._failing = False  # the list's sync clears the error
        self._retries.succeeded("listed again")
        self._stats.relists[self._kind] += 1
        self._stats.relist_reasons[(self._kind, self._list_reason)] += 1
        self.resource_version = resource_version
        self.synced = True
        self._need_list = False

    def _error_event(self, obj: KubeObject, line: memoryview) -> ApiError:
        code = obj.code or 0
        reason = obj.reason or ""
        if code == 0 and reason in ("Expired", "Gone"):
            code = 410
        # The causes (a 504's ResourceVersionTooLarge) are not in KubeObject: read them here,
        # on the rare ERROR line, rather than on every event.
        causes = decode_error_event(line).causes if code == 504 else ()
        return api_error_from_status(
            code or 500, reason=reason, message=obj.message or "watch ERROR event", causes=causes
        )


def _older(seen: str, held: str) -> bool:
    """`seen` is numerically below `held`; resourceVersions that are not integers never compare."""
    if not (seen.isascii() and seen.isdigit() and held.isascii() and held.isdigit()):
        return False
    return int(seen) < int(held)
