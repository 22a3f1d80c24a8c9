"""The single writer: the only task that writes the database.

Informers hand it deltas (`put`), relists (`replace`) and progress (`sync`)
through one bounded queue, so everything is applied in the order it
happened. The writer task drains the queue into batches — at most
`batch_rows` deltas, and no delta waits more than `batch_interval_s` — and
commits each batch in one transaction.

Transitions are computed while the batch is prepared, from the state the
writer remembers of every object (`store.view.PodState` & co: the tracked
status signature plus the aggregate contribution, not the whole row), and
inserted into history in the same transaction as the rows. Only after the
commit does the writer update the in-memory view and call subscribers, with
exactly the transitions it just committed: history and callbacks cannot
disagree, and a subscriber never hears of a change a reader cannot see.

Pipeline: two batches at a time. While batch N executes in the connection's
thread (one call for the whole transaction, `store.storage.run_in_thread`;
statements of many rows each, `store.statements`), the writer prepares batch
N+1 on the event loop from what is already queued. sqlite3 lets go of the
GIL while SQLite works, so the SQL of N overlaps the Python of N+1 and of the
informers. The order still holds: N+1 starts executing only after N
committed and was published, and nothing of N+1 is published before its own
commit. Preparing advances the writer's memory, so if N cannot be committed
and the writer reloads memory from the file (a batch given up, a corrupt
file), N+1 is prepared again from its queued operations before it runs.

Failures: a batch that cannot be committed because of the disk (full,
read-only, I/O error) is kept and retried with backoff while the store
reports itself unhealthy; the queue then fills and `put` waits, which slows
the informers instead of losing events. A corrupt file is moved aside and the
store starts empty (subscribers of `on_reset` are told, so the watcher can
relist). A value SQLite cannot store (an integer beyond 64 bits, a lone
surrogate) is sanitized and logged rather than wedging the writer.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from store.checkpointer import Checkpointer
from store.columns import TABLES
from store.errors import CorruptStore, InvalidRow, StoreClosed, StoreError, StoreUnavailable
from store.health import Candidate, analyze_row
from store.model import (
    ROW_TYPES,
    Delta,
    DeploymentRow,
    Kind,
    NodeRow,
    PodRow,
    Row,
    Severity,
    SyncState,
    Transition,
)
from store.settings import StoreSettings
from store.statements import INSERT_TRANSITION, NARROW_UPDATE, UPSERT_SYNC, many_rows
from store.storage import classify, connect_writer, move_aside, run_in_thread, translate
from store.transitions import (
    Change,
    changes_between,
    deletion_change,
    first_sight_changes,
    signature,
)
from store.view import Change as ViewChange
from store.view import DeploymentState, NodeState, PodState, State, View

__all__ = ["Subscriber", "Writer"]

log = logging.getLogger("store")

Subscriber = Callable[[Sequence[Transition]], None]

_new_tuple = tuple.__new__
_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})
_ROW_TYPE_OF: dict[Any, type] = dict(ROW_TYPES)
# Enum `.value` is a Python-level property; these run once per transition.
_KIND_TEXT = {k: k.value for k in Kind}
_SEVERITY_TEXT = {s: s.value for s in Severity}
_INT64 = (-(2**63), 2**63 - 1)
# Rows prepared between two turns of the event loop, so a 150k relist never freezes it.
_CHUNK = 500


# --- queue items ------------------------------------------------------------------------------


class _Put(msgspec.Struct):
    delta: Delta


class _PutMany(msgspec.Struct):
    """What one `put_many` handed over: one queue item, weighing as many rows as deltas."""

    deltas: list[Delta]


class _Replace(msgspec.Struct):
    kind: Kind
    rows: Sequence[Row]
    resource_version: str


class _ReplaceBegin(msgspec.Struct):
    kind: Kind


class _ReplaceEnd(msgspec.Struct):
    kind: Kind
    resource_version: str


class _Sync(msgspec.Struct):
    kind: Kind
    resource_version: str | None
    synced: bool | None
    listed: bool
    error: str | None


class _Flush(msgspec.Struct):
    done: anyio.Event
    error: BaseException | None = None


class _Apply(msgspec.Struct):
    deltas: Sequence[Delta]
    done: anyio.Event
    result: list[Transition] = []
    error: BaseException | None = None


_Op = _Put | _PutMany | _Replace | _ReplaceBegin | _ReplaceEnd | _Sync | _Flush | _Apply


def _weight(op: _Op) -> int:
    if isinstance(op, _PutMany):
        return len(op.deltas)
    if isinstance(op, _Replace):
        return max(1, len(op.rows))
    if isinstance(op, _Apply):
        return max(1, len(op.deltas))
    return 1


class _Batch:
    """One transaction's worth of work, prepared once and replayable until it commits."""

    __slots__ = (
        "candidates",
        "changes",
        "generation",
        "history",
        "now",
        "ops",
        "runs",
        "started",
        "statements",
        "sync",
        "transitions",
        "waiters",
    )

    def __init__(self, ops: list[_Op], *, generation: int, started: float) -> None:
        self.ops = ops
        self.generation = generation  # the writer's memory it was prepared against
        self.started = started  # perf_counter when first prepared, for `on_commit`
        self.now = time.time()
        self.runs: list[tuple[str, list[Sequence[Any]]]] = []
        self.history: list[tuple[Any, ...]] = []
        self.transitions: list[Transition] = []
        self.changes: list[ViewChange] = []
        self.candidates: dict[str, tuple[Candidate, ...] | None] = {}
        self.sync: dict[Kind, SyncState] = {}
        self.waiters: list[_Flush | _Apply] = []
        self.statements: list[tuple[str, list[Any]]] | None = None

    def emit(self, sql: str, params: Sequence[Any]) -> None:
        if self.runs and self.runs[-1][0] is sql:
            self.runs[-1][1].append(params)
        else:
            self.runs.append((sql, [params]))

    def seal(self) -> list[tuple[str, list[Any]]]:
        """The transaction's statements with their flat parameters, built once.

        Built here, on the event loop's thread, not in SQLite's: Python code
        in SQLite's thread holds the GIL, and while the loop is busy each
        hand-over of the GIL waits up to the interpreter's switch interval,
        so there a few microseconds of list building per row cost tens.
        """
        if self.statements is None:
            statements = [st for sql, params in self.runs for st in many_rows(sql, params)]
            statements.extend(many_rows(INSERT_TRANSITION, self.history))
            self.statements = statements
        return self.statements


class _Flight:
    """A batch executing in SQLite's thread; `error` is what it raised, if anything."""

    __slots__ = ("batch", "done", "error")

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch
        self.done = anyio.Event()
        self.error: Exception | None = None


def _write_batch(db: sqlite3.Connection, statements: list[tuple[str, list[Any]]]) -> None:
    """One batch's transaction (`_Batch.seal`); runs in the connection's thread.

    It always ends the transaction it began, even when the caller stopped
    waiting: a cancelled writer leaves no transaction open behind it.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        for text, flat in statements:
            db.execute(text, flat)
        db.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (e.g. on a full disk).
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _same_keys(old: State, new: State) -> bool:
    """Whether every indexed column (`store.statements.INDEXED`) keeps its value."""
    if (
        old.name != new.name
        or old.namespace != new.namespace
        or old.status != new.status
        or old.problem != new.problem
    ):
        return False
    if isinstance(old, PodState):
        assert isinstance(new, PodState)
        return old.node == new.node and old.deployment == new.deployment and old.phase == new.phase
    return True


def _problem(candidates: tuple[Candidate, ...]) -> int:
    """The `problem` column: 1 + the worst severity rank among the candidates."""
    return max(c.finding.severity.rank for c in candidates) + 1


def _validate(delta: Delta) -> None:
    # The common case in a few identity checks; anything unusual takes the full path.
    if (
        type(delta) is Delta
        and type(delta.row) is _ROW_TYPE_OF.get(delta.kind)
        and delta.type in _EVENT_TYPES
        and delta.row.uid
    ):
        return
    _validate_slowly(delta)


def _validate_slowly(delta: Delta) -> None:
    if not isinstance(delta, Delta):
        raise InvalidRow(f"expected a Delta, got {type(delta).__name__}")
    if delta.type not in _EVENT_TYPES:
        raise InvalidRow(f"unknown event type {delta.type!r} (expected ADDED, MODIFIED or DELETED)")
    _validate_row(delta.kind, delta.row)


def _validate_row(kind: Kind, row: Row) -> None:
    expected = ROW_TYPES.get(kind)
    if expected is None:
        raise InvalidRow(f"unknown kind {kind!r}")
    if not isinstance(row, expected):
        raise InvalidRow(
            f"a {kind.value} delta needs a {expected.__name__}, got {type(row).__name__}"
        )
    if not row.uid:
        raise InvalidRow(f"{kind.value} {row.namespace}/{row.name} has no uid")


def _sanitize_value(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return min(max(v, _INT64[0]), _INT64[1])
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str):
        return v.encode("utf-8", "replace").decode("utf-8")
    return v


# The write connection's page cache, in KiB (SQLite's default is 2 MiB). Watch
# events update pods all over a table of ~4 KiB rows; with the default cache
# nearly every update re-reads its leaf and index pages from the OS.
_WRITER_CACHE_KIB = 32 * 1024
# WAL pages after which a commit folds the WAL back into the file itself
# (SQLite's default is 1000). Checkpoints run in the background
# (`store.checkpointer`); this is only the safety net should they fall behind
# or fail: ~64 MiB of WAL.
_WAL_AUTOCHECKPOINT_PAGES = 16_000


async def _connect_tuned(path: Path, settings: StoreSettings) -> aiosqlite.Connection:
    conn = await connect_writer(path, settings)
    try:
        await conn.execute(f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
        await conn.execute("PRAGMA temp_store = MEMORY")
        await conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
    except BaseException as e:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await conn.close()
        if isinstance(e, sqlite3.Error | OSError):
            raise translate(e, path) from e
        raise
    return conn


class Writer:
    """The DeltaSink the informers write into, and the owner of the write connection.

    Use through `store.open_store`; the methods below are the public surface:
    `put`, `replace`, `sync` (the DeltaSink protocol), `apply`, `flush`,
    `subscribe`, `on_reset`, and the `healthy` / `last_error` attributes.
    """

    def __init__(self, *, path: Path, settings: StoreSettings, view: View) -> None:
        self.path = path
        self.settings = settings
        self.view = view
        self.healthy = False
        self.last_error: str | None = "store not opened yet"
        # The stream itself is unbounded: the bound is in rows (`_queued_rows`), so
        # that one `put_many` of a whole network read is one item yet weighs its size.
        self._send, self._recv = anyio.create_memory_object_stream[_Op](math.inf)
        self._queued_rows = 0
        self._room = anyio.Event()  # set when the queue drops below `queue_size` rows
        self._conn: aiosqlite.Connection | None = None
        self.checkpointer = Checkpointer(path, every_rows=settings.checkpoint_after_rows)
        self._states: dict[Kind, dict[str, State]] = {k: {} for k in Kind}
        self._names: dict[Kind, dict[tuple[str, str], str]] = {k: {} for k in Kind}
        self._candidates: dict[str, tuple[Candidate, ...]] = {}
        self._sync: dict[Kind, SyncState] = {k: SyncState(kind=k) for k in Kind}
        # Streamed relists under way: the uids put since `replace_begin`, per kind.
        self._relisting: dict[Kind, set[str]] = {}
        self._next_id = 1
        self._subscribers: list[Subscriber] = []
        self._reset_listeners: list[Callable[[], None]] = []
        self._health_listeners: list[Callable[[bool, str | None], None]] = []
        self._commit_listeners: list[Callable[[int, float], None]] = []
        self._containers_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._closing = False
        self._closed = anyio.Event()
        self._retry_wake = anyio.Event()
        # Set when a flush or apply is queued: the writer stops waiting for a fuller batch.
        self._wake = anyio.Event()
        self._next_retention = 0.0
        self.committed_batches = 0
        self.committed_transitions = 0
        self.dropped_rows = 0
        # Bumped whenever memory is reloaded from the tables: a batch prepared
        # before that is stale and must be prepared again.
        self._generation = 0
        self._flying: _Batch | None = None  # executing in SQLite's thread
        self._held: _Batch | None = None  # prepared, waiting for the flight before it

    # --- the DeltaSink protocol ----------------------------------------------------------------

    async def put(self, delta: Delta) -> None:
        """Queue one delta; waits only when the queue is full (never for a commit)."""
        _validate(delta)
        await self._enqueue(_Put(delta))

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        """Queue deltas in order, as `put` of each; all are validated before any is queued.

        They travel as one queue item (one hand-over, one wake-up of the
        writer) but count as `len(deltas)` rows against `queue_size`.
        """
        for delta in deltas:
            _validate(delta)
        if deltas:
            await self._enqueue(_PutMany(list(deltas)))

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None:
        """Queue a relist: `rows` become the complete set of `kind`, atomically.

        Objects held but absent from `rows` are deleted with a `deleted`
        transition. The kind is marked synced at `resource_version`.
        """
        kind = Kind(kind)
        for row in rows:
            _validate_row(kind, row)
        await self._enqueue(_Replace(kind, list(rows), resource_version))

    async def replace_begin(self, kind: Kind) -> None:
        """Start a streamed relist of `kind`: `put` every listed row, then `replace_end`.

        The rows go through the queue in ordinary batches, so neither the
        informer nor the writer ever holds the whole list. Readers meanwhile
        see old and new rows mixed; the set is complete at `replace_end`.
        Calling it again before the end (a restarted list) starts over.
        """
        await self._enqueue(_ReplaceBegin(Kind(kind)))

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        """End a streamed relist: delete what was not put since the begin; mark `kind` synced.

        Without a `replace_begin` before it, nothing is deleted (there is no
        record of what the list held); the kind is still marked synced.
        """
        await self._enqueue(_ReplaceEnd(Kind(kind), resource_version))

    async def sync(
        self,
        kind: Kind,
        *,
        resource_version: str | None = None,
        synced: bool | None = None,
        listed: bool = False,
        error: str | None = None,
    ) -> None:
        """Record informer progress, in order with the deltas before it.

        `error` sets the kind's error text; any sign of progress
        (`resource_version`, `listed`, `synced=True`) without an error clears it.
        """
        await self._enqueue(_Sync(Kind(kind), resource_version, synced, listed, error))

    # --- beyond the protocol ---------------------------------------------------------------------

    async def apply(self, deltas: Sequence[Delta]) -> list[Transition]:
        """Write `deltas` and wait for their commit; return the transitions they caused."""
        for d in deltas:
            _validate(d)
        op = _Apply(list(deltas), anyio.Event())
        await self._enqueue(op)
        await op.done.wait()
        if op.error is not None:
            raise op.error
        return op.result

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed (or the store closed).

        While the disk is failing this waits for the retry to succeed; wrap
        it in a timeout if the caller cannot wait.
        """
        op = _Flush(anyio.Event())
        await self._enqueue(op)
        await op.done.wait()
        if op.error is not None:
            raise op.error

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(transitions)` in the writer task right after each commit that has any.

        `fn` must not block or await (hand the list to a queue); an exception
        it raises is logged and does not stop the writer. Returns a function
        that unsubscribes.
        """
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def on_reset(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn()` when the store had to start over (a corrupt file moved aside).

        The store is then empty: the watcher should relist every kind.
        """
        self._reset_listeners.append(fn)
        return lambda: self._reset_listeners.remove(fn) if fn in self._reset_listeners else None

    def on_commit(self, fn: Callable[[int, float], None]) -> Callable[[], None]:
        """Call `fn(rows, seconds)` after each committed batch (metrics); it must not block.

        `rows` counts the objects the batch wrote or deleted, `seconds` the
        time from preparing the batch to its commit, retries included.
        """
        self._commit_listeners.append(fn)
        return lambda: self._commit_listeners.remove(fn) if fn in self._commit_listeners else None

    def on_health(self, fn: Callable[[bool, str | None], None]) -> Callable[[], None]:
        """Call `fn(healthy, last_error)` whenever the store turns unhealthy or recovers."""
        self._health_listeners.append(fn)
        return lambda: self._health_listeners.remove(fn) if fn in self._health_listeners else None

    async def set_size_limit(self, max_bytes: int | None) -> None:
        """Change the database size cap at runtime (None: no cap), e.g. after freeing space."""
        if self._conn is None:
            raise StoreUnavailable(self.last_error or "store not open")
        page = 4096
        async with self._conn.execute("PRAGMA page_size") as cur:
            row = await cur.fetchone()
            if row:
                page = int(row[0])
        pages = 2**31 - 2 if max_bytes is None else max(1, max_bytes // page)
        await self._conn.execute(f"PRAGMA max_page_count = {pages}")
        self._retry_wake.set()

    def objects(self, kind: Kind) -> int:
        return len(self._states[kind])

    @property
    def backlog(self) -> int:
        """Rows queued and not yet taken into a batch: how far ingest is behind the informers."""
        return self._queued_rows

    async def _enqueue(self, op: _Op) -> None:
        if self._closing:
            raise StoreClosed("the store is closed")
        # No event-loop round trip while the queue has room: an informer pushing
        # a burst stays cheap, and waits (backpressure) only when it holds
        # `queue_size` rows or more. An item bigger than that still goes in
        # once the queue is below the bound, so it never waits forever.
        while self._queued_rows >= self.settings.queue_size:
            room = self._room
            if room.is_set():
                room = self._room = anyio.Event()
            await room.wait()
            if self._closing:
                raise StoreClosed("the store is closed")
        try:
            self._send.send_nowait(op)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as e:
            raise StoreClosed("the store is closed") from e
        self._queued_rows += _weight(op)
        if isinstance(op, _Flush | _Apply):
            self._wake.set()

    def _taken(self, op: _Op) -> int:
        """Account for `op` leaving the queue; returns its weight in rows."""
        weight = _weight(op)
        self._queued_rows -= weight
        if self._queued_rows < self.settings.queue_size:
            self._room.set()
        return weight

    # --- lifecycle (called by store.service) --------------------------------------------------

    async def open(self) -> None:
        """Connect, moving a damaged file aside; on a storage failure stay unhealthy.

        Never raises for storage problems: the run loop keeps retrying them.
        """
        try:
            await self._connect()
        except StoreError as e:
            self._set_unhealthy(str(e))

    async def _connect(self) -> None:
        """Open the file and load it; a damaged file is moved aside once and replaced."""
        try:
            await self._open_and_load()
        except StoreError as e:
            if classify(e) != "corrupt":
                raise
            await self.checkpointer.aclose()
            self._move_aside(e)
            await self._open_and_load()
            self._notify_reset()
        self._set_healthy()

    async def _open_and_load(self) -> None:
        conn = await _connect_tuned(self.path, self.settings)
        self._conn = conn
        try:
            await self._load()
        except BaseException as e:
            self._conn = None
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await conn.close()
            if isinstance(e, msgspec.DecodeError | msgspec.ValidationError):
                raise CorruptStore(f"database {self.path} holds unreadable rows ({e})") from e
            if isinstance(e, sqlite3.Error | OSError):
                raise translate(e, self.path) from e
            raise

    def _move_aside(self, error: BaseException) -> None:
        try:
            moved = move_aside(self.path)
        except OSError as e:
            raise StoreUnavailable(
                f"{error}; and it cannot be moved aside ({type(e).__name__}: {e})"
            ) from e
        log.error("store: %s; moved it aside to %s and starting empty", error, moved)

    async def wait_closed(self) -> None:
        """Until the run loop has ended (after `close_queue`, once the queue is drained)."""
        await self._closed.wait()

    def close_queue(self) -> None:
        """No more input; the run loop drains what is queued, then ends."""
        self._closing = True
        self._send.close()
        self._wake.set()
        self._room.set()

    async def aclose_connection(self) -> None:
        await self.checkpointer.aclose()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:
                log.debug("error closing the write connection", exc_info=True)

    async def run(self) -> None:
        """The writer task: collect, prepare, commit, publish, forever — two batches at a time.

        While one batch executes in SQLite's thread, the next is collected
        from what is already queued and prepared here (see the module
        docstring); it starts executing only after the first one committed
        and was published.
        """
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.checkpointer.run)
                flight: _Flight | None = None
                while True:
                    if flight is None:
                        if self._conn is None and not await self._reconnect():
                            break
                        ops = await self._collect()
                        if ops is None:
                            break
                        if not ops:
                            await self._maybe_retention()
                            continue
                        flight = await self._launch(tg, await self._prepare(ops))
                        continue
                    following = await self._prepare_during(flight)
                    await flight.done.wait()
                    await self._land(flight)
                    flight = None
                    await self._maybe_retention()
                    if following is not None:
                        self._held = following
                        if self._conn is None and not await self._reconnect():
                            break
                        if following.generation != self._generation:
                            # The landing reloaded memory (a batch given up, a reset): the
                            # next batch was prepared against what is gone; prepare it again.
                            following = await self._prepare(
                                following.ops, started=following.started
                            )
                        self._held = None
                        flight = await self._launch(tg, following)
                # Only the checkpointer is left: every way out of the loop has no flight.
                tg.cancel_scope.cancel()
        finally:
            self._closing = True
            error = StoreClosed("the store closed before this was committed")
            for batch in (self._flying, self._held):
                if batch is not None:
                    self._fail_batch(batch, error)
            self._flying = self._held = None
            self._fail_pending(error)
            self._send.close()
            self._recv.close()
            self._room.set()  # a put waiting for room learns the store closed
            self._closed.set()

    async def _launch(self, tg: anyio.abc.TaskGroup, batch: _Batch) -> _Flight:
        """Hand `batch` to SQLite's thread; the caller lands it once `done` is set.

        Returns once the batch is in the thread's hands, not when the task
        that waits for it gets its first turn: that turn would come only
        after the next batch is prepared, and the thread would idle meanwhile.
        """
        flight = _Flight(batch)
        self._flying = batch
        await tg.start(self._fly, flight)
        return flight

    async def _fly(
        self,
        flight: _Flight,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        # `started` does not yield: this task goes on, without a turn of the loop in
        # between, into `_execute`, which queues the batch to SQLite's thread in
        # its first step. By the time the writer resumes, the thread has it.
        task_status.started()
        try:
            await self._execute(flight.batch)
        except Exception as e:
            flight.error = e
        finally:
            flight.done.set()

    async def _prepare_during(self, flight: _Flight) -> _Batch | None:
        """The next batch, from what is queued now, prepared while `flight` executes.

        It does not wait for more to arrive: the flight's commit is the pace,
        and whatever comes meanwhile makes the batch after.
        """
        ops: list[_Op] = []
        rows = 0
        while rows < self.settings.batch_rows and not flight.done.is_set():
            try:
                op = self._recv.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            ops.append(op)
            rows += self._taken(op)
        return await self._prepare(ops) if ops else None

    async def _land(self, flight: _Flight) -> None:
        """Finish an executed batch: on success publish it; on failure recover, then publish."""
        batch = flight.batch
        if flight.error is None:
            self._committed()
            ok = True
        else:
            ok = await self._commit(batch, error=flight.error)
        self._flying = None
        if ok:
            self._publish(batch)
            self._observe_commit(len(batch.changes), time.perf_counter() - batch.started)
            self.checkpointer.committed(len(batch.changes))

    def _fail_batch(self, batch: _Batch, error: StoreError) -> None:
        self.dropped_rows += len(batch.changes)
        for w in batch.waiters:
            w.error = error
            w.done.set()
        batch.waiters.clear()

    # --- collecting --------------------------------------------------------------------------

    async def _collect(self) -> list[_Op] | None:
        """The next batch; [] when idle until retention is due; None once closed and drained."""
        try:
            first = self._recv.receive_nowait()
        except anyio.WouldBlock:
            wait = self._next_retention - time.monotonic() if self._next_retention else math.inf
            if wait <= 0:
                return []
            waited: _Op | None = None
            with anyio.move_on_after(wait):
                try:
                    waited = await self._recv.receive()
                except anyio.EndOfStream:
                    return None
            if waited is None:
                return []
            first = waited
        except anyio.EndOfStream:
            return None
        self._taken(first)
        return await self._collect_more(first)

    async def _collect_more(self, first: _Op) -> list[_Op]:
        """Add to `first` until `batch_rows`, or `batch_interval_s` after it arrived.

        It sleeps through the interval once rather than waking for every
        delta that arrives in it: a wake-up per delta cost the event loop
        more than preparing the delta. A flush or apply (or the close) cuts
        the sleep short (`_wake`); then it stops as soon as the queue is
        momentarily empty.
        """
        self._wake = anyio.Event()
        ops = [first]
        rows = _weight(first)
        urgent = isinstance(first, _Flush | _Apply)
        deadline = anyio.current_time() + self.settings.batch_interval_s
        while rows < self.settings.batch_rows:
            try:
                op = self._recv.receive_nowait()
            except anyio.EndOfStream:
                break
            except anyio.WouldBlock:
                remaining = deadline - anyio.current_time()
                if urgent or remaining <= 0:
                    break
                with anyio.move_on_after(remaining):
                    await self._wake.wait()
                continue
            ops.append(op)
            rows += self._taken(op)
            urgent = urgent or isinstance(op, _Flush | _Apply)
        return ops

    # --- preparing ---------------------------------------------------------------------------

    async def _prepare(self, ops: list[_Op], *, started: float | None = None) -> _Batch:
        """Turn queued operations into one transaction's statements, transitions and view changes.

        This advances the writer's memory of every object; the batch is then
        committed (retried until it is) before anything is published. Between
        chunks of rows it yields, so a 150k-row relist never freezes the loop.
        `started`: when a batch prepared again (see `run`) was first prepared.
        """
        batch = _Batch(
            ops,
            generation=self._generation,
            started=time.perf_counter() if started is None else started,
        )
        touched: dict[Kind, bool] = {}
        counter = 0
        for op in ops:
            if isinstance(op, _PutMany):
                relisting = self._relisting
                for delta in op.deltas:
                    kind = delta.kind
                    if delta.type == "DELETED":
                        if delta.row.uid in self._states[kind]:
                            self._delete(kind, delta.row.uid, batch)
                    else:
                        self._upsert(kind, delta.row, batch)
                    touched[kind] = True
                    if relisting:
                        seen_so_far = relisting.get(kind)
                        if seen_so_far is not None and delta.type != "DELETED":
                            seen_so_far.add(delta.row.uid)
                    counter += 1
                    if counter % _CHUNK == 0:
                        await anyio.lowlevel.checkpoint()
                continue
            if isinstance(op, _Put):
                delta = op.delta
                self._delta(delta, batch)
                touched[delta.kind] = True
                if self._relisting:
                    seen_so_far = self._relisting.get(delta.kind)
                    if seen_so_far is not None and delta.type != "DELETED":
                        seen_so_far.add(delta.row.uid)
            elif isinstance(op, _ReplaceBegin):
                self._relisting[op.kind] = set()
            elif isinstance(op, _ReplaceEnd):
                streamed = self._relisting.pop(op.kind, None)
                if streamed is not None:
                    states = self._states[op.kind]
                    for uid in [u for u in states if u not in streamed]:
                        self._delete(op.kind, uid, batch)
                        counter += 1
                        if counter % _CHUNK == 0:
                            await anyio.lowlevel.checkpoint()
                self._update_sync(
                    op.kind, batch, resource_version=op.resource_version, synced=True, listed=True
                )
                touched[op.kind] = True
            elif isinstance(op, _Replace):
                self._relisting.pop(op.kind, None)  # a whole list supersedes a streamed one
                seen: set[str] = set()
                for row in op.rows:
                    seen.add(row.uid)
                    self._upsert(op.kind, row, batch)
                    counter += 1
                    if counter % _CHUNK == 0:
                        await anyio.lowlevel.checkpoint()
                states = self._states[op.kind]
                for uid in [u for u in states if u not in seen]:
                    self._delete(op.kind, uid, batch)
                self._update_sync(
                    op.kind, batch, resource_version=op.resource_version, synced=True, listed=True
                )
                touched[op.kind] = True
            elif isinstance(op, _Sync):
                self._update_sync(
                    op.kind,
                    batch,
                    resource_version=op.resource_version,
                    synced=op.synced,
                    listed=op.listed,
                    error=op.error,
                )
                touched.setdefault(op.kind, False)
            elif isinstance(op, _Apply):
                start = len(batch.transitions)
                for delta in op.deltas:
                    self._delta(delta, batch)
                    touched[delta.kind] = True
                    seen_so_far = self._relisting.get(delta.kind)
                    if seen_so_far is not None and delta.type != "DELETED":
                        seen_so_far.add(delta.row.uid)
                op.result = batch.transitions[start:]
                batch.waiters.append(op)
            else:
                batch.waiters.append(op)
            counter += 1
            if counter % _CHUNK == 0:
                await anyio.lowlevel.checkpoint()
        for kind, had_events in touched.items():
            current = batch.sync.get(kind, self._sync[kind])
            updated = msgspec.structs.replace(
                current,
                objects=len(self._states[kind]),
                last_event_at=batch.now if had_events else current.last_event_at,
            )
            self._sync[kind] = batch.sync[kind] = updated
        for s in batch.sync.values():
            batch.emit(
                UPSERT_SYNC,
                [
                    s.kind.value,
                    s.resource_version,
                    s.synced,
                    s.last_list_at,
                    s.last_event_at,
                    s.objects,
                    s.error,
                ],
            )
        batch.seal()  # now, while the batch before it executes
        return batch

    def _update_sync(
        self,
        kind: Kind,
        batch: _Batch,
        *,
        resource_version: str | None = None,
        synced: bool | None = None,
        listed: bool = False,
        error: str | None = None,
    ) -> None:
        s = batch.sync.get(kind, self._sync[kind])
        changes: dict[str, Any] = {}
        if resource_version is not None:
            changes["resource_version"] = resource_version
        if synced is not None:
            changes["synced"] = synced
        if listed:
            changes["last_list_at"] = batch.now
        if error is not None:
            changes["error"] = error
        elif resource_version is not None or listed or synced:
            changes["error"] = None
        self._sync[kind] = batch.sync[kind] = msgspec.structs.replace(s, **changes)

    def _delta(self, delta: Delta, batch: _Batch) -> None:
        if delta.type == "DELETED":
            if delta.row.uid in self._states[delta.kind]:
                self._delete(delta.kind, delta.row.uid, batch)
        else:
            self._upsert(delta.kind, delta.row, batch)

    def _upsert(self, kind: Kind, row: Row, batch: _Batch) -> None:
        # The hot path of the writer: runs once per ADDED/MODIFIED and per relisted row.
        spec = TABLES[kind]
        states = self._states[kind]
        uid = row.uid
        try:
            candidates = analyze_row(kind, row, self.settings.health)
            problem = _problem(candidates) if candidates else 0
            params = spec.params(row, problem)
            sig = signature(kind, row)
        except Exception:  # a row we cannot even encode: say so, keep going
            self.dropped_rows += 1
            log.exception(
                "store: cannot store %s %s/%s (uid %s); skipped",
                kind.value,
                row.namespace,
                row.name,
                uid,
            )
            return
        old = states.get(uid)
        if old is None or old.name != row.name or old.namespace != row.namespace:
            names = self._names[kind]
            key = (row.namespace, row.name)
            holder = names.get(key)
            if holder is not None and holder != uid:
                # Same name, new uid: the old object is gone even if we missed its DELETED.
                self._delete(kind, holder, batch)
            if old is not None:
                names.pop((old.namespace, old.name), None)
            names[key] = uid
        if old is None:
            changes = first_sight_changes(kind, sig, row)
        elif old.signature == sig:
            changes = None
        else:
            changes = changes_between(kind, old.signature, sig, row)
        state = self._state(kind, row, sig, problem)
        states[uid] = state
        batch.emit(
            NARROW_UPDATE[kind] if old is not None and _same_keys(old, state) else spec.upsert_sql,
            params,
        )
        if changes:
            self._record(kind, uid, state, changes, batch)
        if candidates or uid in self._candidates:
            fixed = self._date(candidates, self._candidates.get(uid), batch.now)
            if fixed:
                self._candidates[uid] = fixed
            else:
                self._candidates.pop(uid, None)
            batch.candidates[uid] = fixed or None
        batch.changes.append(_new_tuple(ViewChange, (kind, uid, old, state)))

    def _delete(self, kind: Kind, uid: str, batch: _Batch) -> None:
        old = self._states[kind].pop(uid)
        names = self._names[kind]
        if names.get((old.namespace, old.name)) == uid:
            del names[(old.namespace, old.name)]
        batch.emit(TABLES[kind].delete_sql, [uid])
        self._record(kind, uid, old, [deletion_change(kind, old.status)], batch)
        if self._candidates.pop(uid, None) is not None or uid in batch.candidates:
            batch.candidates[uid] = None
        batch.changes.append(ViewChange(kind, uid, old, None))

    def _record(
        self, kind: Kind, uid: str, state: State, changes: list[Change], batch: _Batch
    ) -> None:
        node = deployment = None
        if isinstance(state, PodState):
            node, deployment = state.node, state.deployment
        kind_text = _KIND_TEXT[kind]
        namespace, name = state.namespace, state.name
        for c in changes:
            tid = self._next_id
            self._next_id += 1
            t = Transition(
                at=batch.now,
                kind=kind,
                namespace=state.namespace,
                name=state.name,
                uid=uid,
                field=c.field,
                old=c.old,
                new=c.new,
                severity=c.severity,
                reason=c.reason,
                message=c.message,
                id=tid,
            )
            batch.transitions.append(t)
            batch.history.append(
                (
                    tid,
                    batch.now,
                    kind_text,
                    namespace,
                    name,
                    uid,
                    c.field,
                    c.old,
                    c.new,
                    _SEVERITY_TEXT[c.severity],
                    c.reason,
                    c.message,
                    node,
                    deployment,
                )
            )

    @staticmethod
    def _date(
        candidates: tuple[Candidate, ...], previous: tuple[Candidate, ...] | None, now: float
    ) -> tuple[Candidate, ...]:
        """Give every candidate its `since`: its own timestamp, else when history first saw it."""
        if not candidates:
            return ()
        before = {c.finding.check: c.finding.since for c in previous or ()}
        out = []
        for c in candidates:
            if not c.has_own_since or c.finding.since is None:
                since = before.get(c.finding.check) or now
                c = c._replace(finding=msgspec.structs.replace(c.finding, since=since))
            out.append(c)
        return tuple(out)

    def _state(self, kind: Kind, row: Row, sig: tuple[Any, ...], problem: int) -> State:
        intern = sys.intern
        if kind is Kind.POD:
            assert isinstance(row, PodRow)
            containers = sig[5]
            cached = self._containers_cache.get(containers)
            if cached is None:
                if len(self._containers_cache) > 200_000:
                    self._containers_cache.clear()
                self._containers_cache[containers] = containers
            else:
                sig = (*sig[:5], cached)
            # tuple.__new__ skips the namedtuple's Python-level __new__: this runs per pod.
            return _new_tuple(
                PodState,
                (
                    intern(row.namespace),
                    intern(row.node) if row.node else None,
                    intern(row.deployment) if row.deployment else None,
                    intern(row.phase),
                    intern(row.status),
                    row.ready,
                    row.restarts,
                    row.cpu_request_m,
                    row.cpu_limit_m,
                    row.memory_request_bytes,
                    row.memory_limit_bytes,
                    row.name,
                    sig,
                    problem,
                ),
            )
        if kind is Kind.DEPLOYMENT:
            assert isinstance(row, DeploymentRow)
            return DeploymentState(
                intern(row.namespace),
                row.name,
                row.replicas,
                row.ready_replicas,
                row.available_replicas,
                row.updated_replicas,
                row.unavailable_replicas,
                intern(row.status),
                sig,
                problem,
            )
        assert isinstance(row, NodeRow)
        return NodeState(
            row.namespace,
            row.name,
            sig[0] or "Unknown",
            intern(row.status),
            row.unschedulable,
            row.cpu_allocatable_m,
            row.memory_allocatable_bytes,
            row.pods_allocatable,
            sig,
            problem,
        )

    # --- committing --------------------------------------------------------------------------

    async def _execute(self, batch: _Batch) -> None:
        """Run the batch's transaction in the connection's thread, as one call.

        One call, not one per statement: each `await conn.execute` is a round
        trip through the event loop, which waits behind whatever the loop is
        busy with (an informer decoding a burst, the next batch being
        prepared), while the thread idles.
        """
        conn = self._conn
        if conn is None:
            raise StoreUnavailable(self.last_error or "no write connection")
        await run_in_thread(conn, _write_batch, batch.seal())

    async def _commit(self, batch: _Batch, *, error: Exception | None = None) -> bool:
        """Commit, retrying storage failures; False if the batch had to be given up.

        `error`: the batch already ran once and failed with it (a landed flight).
        """
        delay = self.settings.retry_initial_s
        sanitized = False
        while True:
            if error is None:
                try:
                    await self._execute(batch)
                except Exception as exc:
                    error = exc
            if error is None:
                self._committed()
                return True
            e: Exception = error
            error = None
            kind = classify(e)
            if kind == "corrupt":
                await self._reset_after_corruption(e, batch)
                return False
            if kind == "other":
                if not sanitized:
                    sanitized = True
                    self._sanitize(batch, e)
                    continue
                log.error("store: cannot commit a batch (%s); reloading state from the database", e)
                await self._give_up(batch, translate(e, self.path))
                return False
            self._set_unhealthy(str(translate(e, self.path)))
            if self._closing and self._send_closed_and_empty():
                await self._give_up(batch, StoreUnavailable(self.last_error or str(e)))
                return False
            await self._wait_retry(delay)
            delay = min(delay * 2, self.settings.retry_max_s)
            if self._conn is None or getattr(e, "sqlite_errorname", "").startswith(
                ("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")
            ):
                await self._reopen()

    def _committed(self) -> None:
        if not self.healthy:
            log.warning("store: writes succeed again; store healthy")
        self._set_healthy()

    def _sanitize(self, batch: _Batch, error: BaseException) -> None:
        log.warning(
            "store: a batch holds values SQLite cannot store (%s); storing them sanitized", error
        )
        for _sql, params in batch.runs:
            params[:] = [tuple(_sanitize_value(v) for v in p) for p in params]
        batch.history = [tuple(_sanitize_value(v) for v in h) for h in batch.history]
        batch.statements = None

    async def _give_up(self, batch: _Batch, error: StoreError) -> None:
        """Drop a batch that cannot be written, and re-sync memory with what the file holds."""
        self._fail_batch(batch, error)
        if self._conn is not None:
            try:
                await self._load()
            except Exception as e:
                self._set_unhealthy(str(translate(e, self.path)))
        # The informers have moved past these events: only a relist brings the
        # dropped objects (and any deletion among them) back.
        log.error(
            "store: dropped %d changes that could not be written (%s); relisting",
            len(batch.changes),
            error,
        )
        self._notify_reset()

    def _send_closed_and_empty(self) -> bool:
        return self._recv.statistics().current_buffer_used == 0

    async def _wait_retry(self, delay: float) -> None:
        self._retry_wake = anyio.Event()
        with anyio.move_on_after(delay):
            await self._retry_wake.wait()

    async def _reopen(self) -> None:
        await self.aclose_connection()
        try:
            self._conn = await _connect_tuned(self.path, self.settings)
        except StoreError as e:
            self._set_unhealthy(str(e))

    async def _reconnect(self) -> bool:
        """Keep trying to open the file; False if the store closed meanwhile."""
        delay = self.settings.retry_initial_s
        while not (self._closing and self._send_closed_and_empty()):
            try:
                await self._connect()
                log.warning("store: database %s is usable again; store healthy", self.path)
                return True
            except StoreError as e:
                self._set_unhealthy(str(e))
            await self._wait_retry(delay)
            delay = min(delay * 2, self.settings.retry_max_s)
        return False

    async def _reset_after_corruption(self, error: BaseException, batch: _Batch) -> None:
        """The file went bad under us: start over empty, and tell the watcher to relist."""
        await self.aclose_connection()
        for w in batch.waiters:
            w.error = StoreError(f"store reset after corruption: {error}")
            w.done.set()
        try:
            self._move_aside(translate(error, self.path))
            await self._open_and_load()
            self._set_healthy()
        except StoreError as e:
            self._set_unhealthy(str(e))
        self._notify_reset()

    def _notify_reset(self) -> None:
        for fn in list(self._reset_listeners):
            try:
                fn()
            except Exception:
                log.exception("store: reset listener failed")

    def _publish(self, batch: _Batch) -> None:
        self.view.apply(batch.changes, batch.candidates, batch.sync, now=batch.now)
        self.committed_batches += 1
        self.committed_transitions += len(batch.transitions)
        if batch.transitions:
            for fn in list(self._subscribers):
                try:
                    fn(batch.transitions)
                except Exception:
                    log.exception("store: transition subscriber %r failed", fn)
        for w in batch.waiters:
            w.done.set()

    def _observe_commit(self, rows: int, seconds: float) -> None:
        for fn in list(self._commit_listeners):
            try:
                fn(rows, seconds)
            except Exception:
                log.exception("store: commit listener %r failed", fn)

    def _fail_pending(self, error: StoreError) -> None:
        while True:
            try:
                op = self._recv.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            weight = self._taken(op)
            if isinstance(op, _Flush | _Apply):
                op.error = error
                op.done.set()
            else:
                self.dropped_rows += weight

    def _set_healthy(self) -> None:
        changed = not self.healthy
        self.healthy = True
        self.last_error = None
        if changed:
            self._notify_health()

    def _set_unhealthy(self, message: str) -> None:
        changed = self.healthy or self.last_error != message
        if changed:
            log.error("store: unhealthy: %s", message)
        self.healthy = False
        self.last_error = message
        if changed:
            self._notify_health()

    def _notify_health(self) -> None:
        for fn in list(self._health_listeners):
            try:
                fn(self.healthy, self.last_error)
            except Exception:
                log.exception("store: health listener failed")

    # --- retention ---------------------------------------------------------------------------

    async def _maybe_retention(self) -> None:
        now = time.monotonic()
        if self._conn is None or now < self._next_retention:
            return
        self._next_retention = now + self.settings.retention_interval_s
        try:
            await self.trim_history()
        except Exception as e:
            log.warning("store: history retention failed: %s", translate(e, self.path))

    async def trim_history(self, *, now: float | None = None) -> int:
        """Apply retention (age, then row count) in small transactions; returns rows deleted."""
        conn = self._conn
        if conn is None:
            return 0
        cutoff = (time.time() if now is None else now) - self.settings.history_max_age_s
        deleted = 0
        while True:
            cur = await conn.execute(
                "DELETE FROM transitions WHERE id IN "
                "(SELECT id FROM transitions WHERE at < ? ORDER BY id LIMIT 5000)",
                (cutoff,),
            )
            deleted += cur.rowcount
            if cur.rowcount < 5000:
                break
            await anyio.lowlevel.checkpoint()
        async with conn.execute(
            "SELECT id FROM transitions ORDER BY id DESC LIMIT 1 OFFSET ?",
            (self.settings.history_max_rows,),
        ) as c:
            row = await c.fetchone()
        if row is not None:
            boundary = row[0]
            while True:
                cur = await conn.execute(
                    "DELETE FROM transitions WHERE id IN "
                    "(SELECT id FROM transitions WHERE id <= ? ORDER BY id LIMIT 5000)",
                    (boundary,),
                )
                deleted += cur.rowcount
                if cur.rowcount < 5000:
                    break
                await anyio.lowlevel.checkpoint()
        return deleted

    # --- loading -----------------------------------------------------------------------------

    async def _load(self) -> None:
        """Rebuild the writer's memory and the view from the tables (at open, after a reset)."""
        conn = self._conn
        assert conn is not None
        now = time.time()
        self._generation += 1
        self._states = {k: {} for k in Kind}
        self._names = {k: {} for k in Kind}
        self._candidates = {}
        self._relisting = {}  # a streamed relist begun before a reset is void: its uids are gone
        self.view.clear()
        changes: list[ViewChange] = []
        problems: dict[str, tuple[Kind, tuple[Candidate, ...]]] = {}
        for kind, spec in TABLES.items():
            states, names = self._states[kind], self._names[kind]
            async with conn.execute(f"SELECT {spec.select_list_no_obj} FROM {spec.table}") as cur:
                while True:
                    records = await cur.fetchmany(2000)
                    if not records:
                        break
                    for record in records:
                        row = spec.row(record)
                        sig = signature(kind, row)
                        candidates = analyze_row(kind, row, self.settings.health)
                        problem = _problem(candidates) if candidates else 0
                        state = self._state(kind, row, sig, problem)
                        states[row.uid] = state
                        names[(row.namespace, row.name)] = row.uid
                        changes.append(ViewChange(kind, row.uid, None, state))
                        if candidates:
                            problems[row.uid] = (kind, candidates)
                    await anyio.lowlevel.checkpoint()
        await self._date_from_history(conn, problems, now)
        async with conn.execute(
            "SELECT kind, resource_version, synced, last_list_at, last_event_at, objects, error "
            "FROM sync_state"
        ) as cur:
            sync_rows = await cur.fetchall()
        self._sync = {k: SyncState(kind=k) for k in Kind}
        for r in sync_rows:
            if r[0] in Kind._value2member_map_:
                k = Kind(r[0])
                self._sync[k] = SyncState(
                    kind=k,
                    resource_version=r[1],
                    synced=bool(r[2]),
                    last_list_at=r[3],
                    last_event_at=r[4],
                    objects=len(self._states[k]),
                    error=r[6],
                )
        async with conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'transitions'), 0), "
            "coalesce((SELECT max(id) FROM transitions), 0))"
        ) as cur:
            top = await cur.fetchone()
        self._next_id = int(top[0] if top and top[0] is not None else 0) + 1
        self.view.apply(changes, dict(self._candidates), dict(self._sync), now=now)

    async def _date_from_history(
        self,
        conn: aiosqlite.Connection,
        problems: dict[str, tuple[Kind, tuple[Candidate, ...]]],
        now: float,
    ) -> None:
        """`since` of reloaded candidates: the latest transition of their field in history."""
        uids = list(problems)
        latest: dict[tuple[str, str], float] = {}
        for i in range(0, len(uids), 500):
            chunk = uids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            async with conn.execute(
                f"SELECT uid, field, max(at) FROM transitions WHERE uid IN ({marks}) "
                "GROUP BY uid, field",
                chunk,
            ) as cur:
                for uid, field, at in await cur.fetchall():
                    latest[(uid, field)] = at
        for uid, (_kind, candidates) in problems.items():
            fixed = []
            for c in candidates:
                if not c.has_own_since or c.finding.since is None:
                    since = latest.get((uid, c.field or ""), now)
                    c = c._replace(finding=msgspec.structs.replace(c.finding, since=since))
                fixed.append(c)
            self._candidates[uid] = tuple(fixed)
