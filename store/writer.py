"""The single writer: the only task that writes the database.

Informers hand it deltas (`put`), relists (`replace`) and progress (`sync`)
through one bounded queue (`store.operations`), so everything is applied in
the order it happened. The writer task drains the queue into batches — at most
`batch_rows` deltas, and no delta waits more than `batch_interval_s` — and
commits each batch (`store.batch`) in one transaction.

Transitions are computed while the batch is prepared, from the writer's
memory of every object (`store.memory`), and inserted into history in the
same transaction as the rows. Only after the commit does the writer update
the in-memory view and call subscribers, with exactly the transitions it just
committed: history and callbacks cannot disagree, and a subscriber never
hears of a change a reader cannot see.

Pipeline: two batches at a time. While batch N executes in the connection's
thread (one call for the whole transaction, `store.storage.run_in_thread`;
statements of many rows each, `store.statements`), the writer prepares batch
N+1 on the event loop from what is queued and keeps adding what arrives.
sqlite3 lets go of the GIL while SQLite works, so the SQL of N overlaps the
Python of N+1 and of the informers. The moment N commits, N+1 goes to the
thread (in the same turn of the loop), and N is published while N+1
executes. The order still holds: N+1 starts executing only after N
committed, N is published before N+1, and nothing of N+1 is published before
its own commit. If N fails, N+1 waits. Preparing advances the writer's
memory, so if N cannot be committed and the writer reloads memory from the
file (a batch given up, a corrupt file), N+1 is prepared again from its
queued operations before it runs.

Failures: a batch that cannot be committed because of the disk (full,
read-only, I/O error) is kept and retried with backoff while the store
reports itself unhealthy; the queue then fills and `put` waits, which slows
the informers instead of losing events. A corrupt file is moved aside and the
store starts empty (subscribers of `on_reset` are told, so the watcher can
relist). A value SQLite cannot store (an integer beyond 64 bits, a lone
surrogate) is sanitized and logged rather than wedging the writer. Between
batches the writer trims history to its limits (`store.retention`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import aiosqlite
import anyio
import anyio.abc
import msgspec

from store import retention
from store.batch import Batch, sanitize_value, write_batch
from store.cluster import (
    ClaimOutcome,
    ClaimVerdict,
    holds_data,
    read_identity,
    record_identity,
)
from store.errors import CorruptStore, StoreClosed, StoreError, StoreUnavailable
from store.memory import ObjectMemory
from store.model import ClusterIdentity, Delta, Kind, Row, Transition
from store.object_policy import enforce_object_policy
from store.operations import (
    Apply,
    Flush,
    Op,
    Put,
    PutMany,
    Replace,
    ReplaceBegin,
    ReplaceEnd,
    Sync,
    validate,
    validate_row,
    weight_of,
)
from store.settings import StoreSettings
from store.storage import (
    classify,
    connect_writer,
    move_aside,
    pragma,
    run_in_thread,
    translate,
)
from store.view import View

__all__ = ["Subscriber", "Writer"]

log = logging.getLogger("store")

Subscriber = Callable[[Sequence[Transition]], None]


class _Flight:
    """A batch executing in SQLite's thread; `error` is what it raised, if anything."""

    __slots__ = ("batch", "done", "error", "successor")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.done = anyio.Event()
        self.error: Exception | None = None
        # The batch that went to SQLite's thread the moment this one committed.
        self.successor: _Flight | None = None


# The write connection's page cache, in KiB (SQLite's default is 2 MiB). Watch
# events update pods all over a table of ~4 KiB rows; with the default cache
# nearly every update re-reads its leaf and index pages from the OS.
_WRITER_CACHE_KIB = 32 * 1024
# WAL pages after which a commit folds the WAL back into the file (SQLite's
# default is 1000). Watch events rewrite the same hot pages over and over; a
# checkpoint copies each page once however often it was written, so fewer,
# larger checkpoints copy less and sync less, and a burst of events commits
# without a checkpoint (and its fsyncs) in the middle of it. 4000 pages bound
# the WAL to ~16 MiB between checkpoints.
_WAL_AUTOCHECKPOINT_PAGES = 4000


async def _connect_tuned(path: Path, settings: StoreSettings) -> aiosqlite.Connection:
    conn = await connect_writer(path, settings)
    try:
        await pragma(conn, f"PRAGMA cache_size = -{_WRITER_CACHE_KIB}")
        await pragma(conn, "PRAGMA temp_store = MEMORY")
        await pragma(conn, f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
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
    `put`, `put_many`, `replace`, `sync` (the DeltaSink protocol), `apply`,
    `flush`, `subscribe`, `on_reset`, and the `healthy` / `last_error` attributes.
    """

    def __init__(self, *, path: Path, settings: StoreSettings, view: View) -> None:
        self.path = path
        self.settings = settings
        self.view = view
        self.healthy = False
        self.last_error: str | None = "store not opened yet"
        # The stream itself is unbounded: the bound is in rows (`_queued_rows`), so
        # that one `put_many` of a whole network read is one item yet weighs its size.
        self._send, self._recv = anyio.create_memory_object_stream[Op](math.inf)
        self._queued_rows = 0
        self._room = anyio.Event()  # set when the queue drops below `queue_size` rows
        self._conn: aiosqlite.Connection | None = None
        self._memory = ObjectMemory(settings)
        self._subscribers: list[Subscriber] = []
        self._reset_listeners: list[Callable[[], None]] = []
        self._history_listeners: list[Callable[[Kind, str], None]] = []
        self._health_listeners: list[Callable[[bool, str | None], None]] = []
        self._commit_listeners: list[Callable[[int, float], None]] = []
        self._closing = False
        self._closed = anyio.Event()
        self._retry_wake = anyio.Event()
        # Set when a flush or apply is queued: the writer stops waiting for a fuller batch.
        self._wake = anyio.Event()
        # Set when anything is queued, or a flight lands: what the writer waits
        # for while it prepares the next batch during a flight.
        self._stir = anyio.Event()
        self._next_retention = 0.0
        self.committed_batches = 0
        self.committed_transitions = 0
        self._dropped_rows = 0  # those the memory skips are counted there (`dropped_rows`)
        self._flying: Batch | None = None  # executing in SQLite's thread
        # Being prepared while the flight before it executes; `_adding` while the
        # memory adds to it (it cannot be sealed then), `_held_rows` its weight.
        self._held: Batch | None = None
        self._adding = False
        self._held_rows = 0
        # The cluster the file was claimed for (`claim`); a file started over records it.
        self._cluster: ClusterIdentity | None = None

    # --- the DeltaSink protocol ----------------------------------------------------------------

    async def put(self, delta: Delta) -> None:
        """Queue one delta; waits only when the queue is full (never for a commit)."""
        validate(delta)
        await self._enqueue(Put(delta))

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        """Queue deltas in order, as `put` of each; all are validated before any is queued.

        They travel as one queue item (one hand-over, one wake-up of the
        writer) but count as `len(deltas)` rows against `queue_size`.
        """
        for delta in deltas:
            validate(delta)
        if deltas:
            await self._enqueue(PutMany(list(deltas)))

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None:
        """Queue a relist: `rows` become the complete set of `kind`, atomically.

        Objects held but absent from `rows` are deleted with a `deleted`
        transition. The kind is marked synced at `resource_version`.
        """
        kind = Kind(kind)
        for row in rows:
            validate_row(kind, row)
        await self._enqueue(Replace(kind, list(rows), resource_version))

    async def replace_begin(self, kind: Kind) -> None:
        """Start a streamed relist of `kind`: `put` every listed row, then `replace_end`.

        The rows go through the queue in ordinary batches, so neither the
        informer nor the writer ever holds the whole list. Readers meanwhile
        see old and new rows mixed; the set is complete at `replace_end`.
        Calling it again before the end (a restarted list) starts over.
        """
        await self._enqueue(ReplaceBegin(Kind(kind)))

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        """End a streamed relist: delete what was not put since the begin; mark `kind` synced.

        Without a `replace_begin` before it, nothing is deleted (there is no
        record of what the list held); the kind is still marked synced.
        """
        await self._enqueue(ReplaceEnd(Kind(kind), resource_version))

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

        `error` sets the kind's error text (and makes its answers stale at
        once); any proof of life (`resource_version`: a bookmark or a watch
        start; `listed`; `synced=True`) without an error clears it and
        confirms the kind (`SyncState.confirmed_at`), as the events of a
        batch do. `synced=True` means listed by this process.
        """
        await self._enqueue(Sync(Kind(kind), resource_version, synced, listed, error))

    # --- beyond the protocol ---------------------------------------------------------------------

    async def apply(self, deltas: Sequence[Delta]) -> list[Transition]:
        """Write `deltas` and wait for their commit; return the transitions they caused."""
        for d in deltas:
            validate(d)
        op = Apply(list(deltas), anyio.Event())
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
        op = Flush(anyio.Event())
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

    def on_history_changed(self, fn: Callable[[Kind, str], None]) -> Callable[[], None]:
        """Call `fn(kind, error)` when a kind's events show the API server's history changed.

        A MODIFIED or DELETED for a uid the store does not hold, while another
        uid holds that name (see `store.memory`): the kind is already stale in
        the store (`error`); the watcher should relist it and replace it.
        Told once per kind until the kind is listed again, after the batch
        that showed it was published.
        """
        self._history_listeners.append(fn)
        return lambda: self._history_listeners.remove(fn) if fn in self._history_listeners else None

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
        page = int(await pragma(self._conn, "PRAGMA page_size") or 4096)
        pages = 2**31 - 2 if max_bytes is None else max(1, max_bytes // page)
        await pragma(self._conn, f"PRAGMA max_page_count = {pages}")
        self._retry_wake.set()

    def objects(self, kind: Kind) -> int:
        return self._memory.objects(kind)

    @property
    def dropped_rows(self) -> int:
        """Changes lost: rows that could not be encoded, batches given up, input left at close."""
        return self._dropped_rows + self._memory.dropped_rows

    @property
    def backlog(self) -> int:
        """Rows queued and not yet taken into a batch: how far ingest is behind the informers."""
        return self._queued_rows

    async def _enqueue(self, op: Op) -> None:
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
        self._queued_rows += weight_of(op)
        self._stir.set()
        if isinstance(op, Flush | Apply):
            self._wake.set()

    def _taken(self, op: Op) -> int:
        """Account for `op` leaving the queue; returns its weight in rows."""
        weight = weight_of(op)
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
            self._move_aside(e)
            await self._open_and_load()
            self._notify_reset()
        self._set_healthy()

    async def _open_and_load(self) -> None:
        conn = await _connect_tuned(self.path, self.settings)
        self._conn = conn
        try:
            await enforce_object_policy(
                conn, policy=self.settings.stored_object_policy, path=self.path
            )
            await self._load()
            if self._cluster is not None:  # a file started over keeps the cluster's name
                await record_identity(conn, self._cluster)
        except BaseException as e:
            self._conn = None
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await conn.close()
            if isinstance(e, msgspec.DecodeError | msgspec.ValidationError):
                raise CorruptStore(f"database {self.path} holds unreadable rows ({e})") from e
            if isinstance(e, sqlite3.Error | OSError):
                raise translate(e, self.path) from e
            raise

    async def claim(self, cluster: ClusterIdentity) -> ClaimOutcome:
        """Make the file this cluster's (see `store.cluster`): record, continue, or move aside.

        Call it before anything of `cluster` is written (the composition root
        does, before the informers start): it waits for what is queued to be
        committed, and then uses the write connection while the writer has
        nothing to do. A file of another cluster is moved aside next to it,
        history and all, with one warning naming both clusters, and the store
        starts empty (`on_reset` listeners are told).
        """
        retention_due, self._next_retention = self._next_retention, math.inf
        try:
            await self.flush()
            conn = self._conn
            if conn is None:
                raise StoreUnavailable(self.last_error or "store not open")
            try:
                previous = await read_identity(conn)
                if previous is not None and previous.same_cluster(cluster):
                    known = msgspec.structs.replace(cluster, uid=cluster.uid or previous.uid)
                    if known != previous:
                        await record_identity(conn, known)
                    self._cluster = known
                    return ClaimOutcome(verdict=ClaimVerdict.SAME, cluster=known, previous=previous)
                if previous is None and not await holds_data(conn):
                    await record_identity(conn, cluster)
                    self._cluster = cluster
                    return ClaimOutcome(verdict=ClaimVerdict.RECORDED, cluster=cluster)
            except (sqlite3.Error, OSError) as e:
                raise translate(e, self.path) from e
            return await self._start_over_for(cluster, previous)
        finally:
            self._next_retention = retention_due

    async def _start_over_for(
        self, cluster: ClusterIdentity, previous: ClusterIdentity | None
    ) -> ClaimOutcome:
        await self.aclose_connection()
        try:
            moved = move_aside(self.path, why="other-cluster")
        except OSError as e:
            self._set_unhealthy(f"cannot move {self.path} aside: {type(e).__name__}: {e}")
            raise StoreUnavailable(self.last_error or str(e)) from e
        old = previous.describe() if previous else "an unknown cluster (no identity recorded)"
        log.warning(
            "store: %s caches %s, but this agent watches %s; moved it aside to %s "
            "(its history with it) and starting empty",
            self.path,
            old,
            cluster.describe(),
            moved,
        )
        self._cluster = cluster
        await self._open_and_load()  # which records the cluster in the new file
        self._set_healthy()
        self._notify_reset()
        return ClaimOutcome(
            verdict=ClaimVerdict.MOVED_ASIDE, cluster=cluster, previous=previous, moved_to=moved
        )

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
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:
                log.debug("error closing the write connection", exc_info=True)

    async def run(self) -> None:
        """The writer task: collect, prepare, commit, publish, forever — two batches at a time.

        While one batch executes in SQLite's thread, the next is prepared
        here from what is queued and what arrives (see the module
        docstring); it starts executing as soon as the first one committed
        (`_fly`), and the first is published while it executes.
        """
        try:
            async with anyio.create_task_group() as tg:
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
                        flight = await self._launch(tg, await self._memory.prepare(ops))
                        continue
                    await self._prepare_during(flight)
                    if not flight.done.is_set():
                        await flight.done.wait()
                    if flight.successor is None and flight.error is None and self._held_ready():
                        # The flight could not take the next batch itself (it was being
                        # added to): launch it here, before publishing this one.
                        flight.successor = await self._launch(tg, await self._take_held())
                    landed, flight = flight, flight.successor
                    await self._land(landed)
                    await self._maybe_retention()  # queued behind a flight, if any
                    held = self._held
                    if flight is None and held is not None:
                        # The landing failed and recovered, or the connection is gone.
                        if self._conn is None and not await self._reconnect():
                            break
                        if held.generation == self._memory.generation:
                            following = await self._take_held()
                        else:
                            # The landing reloaded memory (a batch given up, a reset): the
                            # next batch was prepared against what is gone; prepare it again.
                            following = await self._memory.prepare(held.ops, started=held.started)
                            self._held, self._held_rows = None, 0
                        flight = await self._launch(tg, following)
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

    async def _launch(self, tg: anyio.abc.TaskGroup, batch: Batch) -> _Flight:
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
        """Execute `flight`, then at once whatever batch is ready after it, and so on.

        The next batch goes to SQLite's thread in the same turn of the event
        loop in which the previous one is seen committed. Waking the writer
        to launch it took several turns, each of which can hold an informer's
        whole hand-over of events (milliseconds); SQLite idled for 20-35 ms
        between batches of a burst.
        """
        # `started` does not yield: this task goes on, without a turn of the loop in
        # between, into `_execute`, which queues the batch to SQLite's thread in
        # its first step. By the time the writer resumes, the thread has it.
        task_status.started()
        current: _Flight | None = flight
        while current is not None:
            try:
                await self._execute(current.batch)
            except Exception as e:
                current.error = e
            else:
                if self._held_ready():
                    following = await self._take_held()
                    current.successor = _Flight(following)
                    self._flying = following
            finally:
                current.done.set()
                self._stir.set()
            current = current.successor

    def _held_ready(self) -> bool:
        """Whether the batch prepared during the flight can go to SQLite now.

        Not while the memory is adding to it, nor without a connection, nor
        if the memory was reloaded since it was begun (it must be prepared
        again: see `run`).
        """
        batch = self._held
        return (
            batch is not None
            and not self._adding
            and self._conn is not None
            and batch.generation == self._memory.generation
        )

    async def _take_held(self) -> Batch:
        """The batch prepared during the flight, finished; it is no longer held."""
        batch = self._held
        assert batch is not None
        self._held, self._held_rows = None, 0
        return await self._memory.finish(batch)

    async def _prepare_during(self, flight: _Flight) -> None:
        """Prepare the next batch (`_held`) while `flight` executes: what is queued, what arrives.

        It keeps adding what arrives until the flight lands or the batch is
        full, so preparing keeps pace with the informers: when SQLite is free
        the next batch is ready, instead of being prepared only then from
        everything that piled up meanwhile (at the end of a burst, the
        biggest batch of all).
        """
        limit = self.settings.batch_rows
        while self._held_rows < limit and not flight.done.is_set():
            ops: list[Op] = []
            while self._held_rows < limit:
                try:
                    op = self._recv.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
                ops.append(op)
                self._held_rows += self._taken(op)
            if ops:
                if self._held is None:
                    self._held = self._memory.begin()
                self._adding = True
                try:
                    await self._memory.add(self._held, ops)
                finally:
                    self._adding = False
                continue
            self._stir = anyio.Event()
            if self._recv.statistics().current_buffer_used or flight.done.is_set():
                continue  # something came before the new event could hear of it
            await self._stir.wait()

    async def _land(self, flight: _Flight) -> None:
        """Finish an executed batch: on success publish it; on failure recover, then publish."""
        batch = flight.batch
        if flight.error is None:
            self._committed()
            ok = True
        else:
            ok = await self._commit(batch, error=flight.error)
        if self._flying is batch:
            self._flying = None
        if ok:
            self._publish(batch)
            self._observe_commit(len(batch.changes), time.perf_counter() - batch.started)
            if len(batch.changes) >= self.settings.checkpoint_after_rows:
                await self._checkpoint()

    def _fail_batch(self, batch: Batch, error: StoreError) -> None:
        self._dropped_rows += len(batch.changes)
        for w in batch.waiters:
            w.error = error
            w.done.set()
        batch.waiters.clear()

    # --- collecting --------------------------------------------------------------------------

    async def _collect(self) -> list[Op] | None:
        """The next batch; [] when idle until retention is due; None once closed and drained."""
        try:
            first = self._recv.receive_nowait()
        except anyio.WouldBlock:
            wait = self._next_retention - time.monotonic() if self._next_retention else math.inf
            if wait <= 0:
                return []
            waited: Op | None = None
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

    async def _collect_more(self, first: Op) -> list[Op]:
        """Add to `first` until `batch_rows`, or `batch_interval_s` after it arrived.

        It sleeps through the interval once rather than waking for every
        delta that arrives in it: a wake-up per delta cost the event loop
        more than preparing the delta. A flush or apply (or the close) cuts
        the sleep short (`_wake`); then it stops as soon as the queue is
        momentarily empty.
        """
        self._wake = anyio.Event()
        ops = [first]
        rows = weight_of(first)
        urgent = isinstance(first, Flush | Apply)
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
            urgent = urgent or isinstance(op, Flush | Apply)
        return ops

    # --- committing --------------------------------------------------------------------------

    async def _execute(self, batch: Batch) -> None:
        """Run the batch's transaction in the connection's thread, as one call.

        One call, not one per statement: each `await conn.execute` is a round
        trip through the event loop, which waits behind whatever the loop is
        busy with (an informer decoding a burst, the next batch being
        prepared), while the thread idles.
        """
        statements = await batch.seal()
        conn = self._conn
        if conn is None:
            raise StoreUnavailable(self.last_error or "no write connection")
        await run_in_thread(conn, write_batch, statements)

    async def _commit(self, batch: Batch, *, error: Exception | None = None) -> bool:
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

    def _sanitize(self, batch: Batch, error: BaseException) -> None:
        log.warning(
            "store: a batch holds values SQLite cannot store (%s); storing them sanitized", error
        )
        for _sql, params in batch.runs:
            params[:] = [tuple(sanitize_value(v) for v in p) for p in params]
        batch.history = [tuple(sanitize_value(v) for v in h) for h in batch.history]
        batch.statements = None

    async def _give_up(self, batch: Batch, error: StoreError) -> None:
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

    async def _reset_after_corruption(self, error: BaseException, batch: Batch) -> None:
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

    def _publish(self, batch: Batch) -> None:
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
        if self._memory.history_changes:
            self._notify_history_changed()

    def _notify_history_changed(self) -> None:
        changes, self._memory.history_changes = self._memory.history_changes, []
        for kind, error in changes:
            for fn in list(self._history_listeners):
                try:
                    fn(kind, error)
                except Exception:
                    log.exception("store: history listener failed")

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
            if isinstance(op, Flush | Apply):
                op.error = error
                op.done.set()
            else:
                self._dropped_rows += weight

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

    async def _checkpoint(self) -> None:
        """Fold a big batch's WAL back into the file now, after subscribers heard of it.

        A relist writes the whole kind in one transaction; left alone, its WAL
        would be copied back at some later small commit, stalling that one.
        PASSIVE never waits for readers.
        """
        if self._conn is None:
            return
        try:
            await pragma(self._conn, "PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as e:
            log.warning("store: checkpoint failed: %s", translate(e, self.path))

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
        return await retention.trim_history(conn, self.settings, now=now)

    # --- loading -----------------------------------------------------------------------------

    async def _load(self) -> None:
        """Rebuild the writer's memory and the view from the tables (at open, after a reset).

        Bumps the memory's generation: a batch prepared before is stale (see `run`).
        """
        conn = self._conn
        assert conn is not None
        await self._memory.load(conn, self.view)
