"""The single writer: the only task that writes the database, and the store's DeltaSink.

Informers hand it deltas (`put`), relists (`replace`) and progress (`sync`)
through one bounded queue, so everything is applied in the order it
happened. This module wires the parts and keeps the public surface:

- `store.intake`: the queue, bounded in rows; `put` waits when it is full;
- `store.pipeline`: the writer task — batches of at most `batch_rows`
  deltas (no delta waits more than `batch_interval_s`), each prepared,
  committed in one transaction and then published, two batches at a time;
- `store.recovery`: opening the file, and what a failed commit leads to
  (retry, sanitize, give up and reload, start over after corruption);
- `store.connection`: the write connection and the store's health;
- `store.listeners`: subscribers of transitions, resets, history changes,
  health and commits.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import anyio
import msgspec

from store.cluster import (
    ClaimOutcome,
    ClaimVerdict,
    holds_data,
    read_identity,
    record_identity,
)
from store.connection import WriteConnection
from store.errors import StoreError, StoreUnavailable
from store.intake import Intake
from store.listeners import Listeners, Subscriber
from store.memory import ObjectMemory
from store.model import ClusterIdentity, Delta, Kind, Row, Transition
from store.operations import (
    Apply,
    Flush,
    Put,
    PutMany,
    Replace,
    ReplaceBegin,
    ReplaceEnd,
    Sync,
    validate,
    validate_row,
)
from store.pipeline import Pipeline
from store.recovery import Recovery
from store.settings import StoreSettings
from store.storage import move_aside, translate
from store.view import View

__all__ = ["Subscriber", "Writer", "WriterStats"]

log = logging.getLogger("store")


class WriterStats(NamedTuple):
    """The writer's counters since it started, for metrics and tests."""

    committed_batches: int
    committed_transitions: int
    # Changes lost: rows that could not be encoded, batches given up, input left at close.
    dropped_rows: int
    # Rows queued and not yet taken into a batch: how far ingest is behind the informers.
    backlog: int
    # Listener calls that raised (each logged with its traceback).
    listener_errors: int
    # Batches given up because of a bug in the store rather than the disk or a value.
    unexpected_errors: int


class Writer:
    """The DeltaSink the informers write into, and the owner of the write connection.

    Use through `store.open_store`; the methods below are the public surface:
    `put`, `put_many`, `replace`, `sync` (the DeltaSink protocol), `apply`,
    `flush`, `subscribe`, `on_reset`, `stats`, and `healthy` / `last_error`.
    """

    def __init__(self, *, path: Path, settings: StoreSettings, view: View) -> None:
        self.path = path
        self.settings = settings
        self.view = view
        self._listeners = Listeners()
        self._intake = Intake(settings)
        self._memory = ObjectMemory(settings)
        self._connection = WriteConnection(path=path, settings=settings, listeners=self._listeners)
        self._recovery = Recovery(
            settings=settings,
            connection=self._connection,
            memory=self._memory,
            view=view,
            intake=self._intake,
            listeners=self._listeners,
        )
        self._pipeline = Pipeline(
            settings=settings,
            intake=self._intake,
            memory=self._memory,
            view=view,
            connection=self._connection,
            recovery=self._recovery,
            listeners=self._listeners,
        )

    @property
    def healthy(self) -> bool:
        """False while the file cannot be written; `last_error` says why."""
        return self._connection.healthy

    @property
    def last_error(self) -> str | None:
        return self._connection.last_error

    # --- the DeltaSink protocol ----------------------------------------------------------------

    async def put(self, delta: Delta) -> None:
        """Queue one delta; waits only when the queue is full (never for a commit)."""
        validate(delta)
        await self._intake.put(Put(delta))

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        """Queue deltas in order, as `put` of each; all are validated before any is queued.

        They travel as one queue item (one hand-over, one wake-up of the
        writer) but count as `len(deltas)` rows against `queue_size`.
        """
        for delta in deltas:
            validate(delta)
        if deltas:
            await self._intake.put(PutMany(list(deltas)))

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None:
        """Queue a relist: `rows` become the complete set of `kind`, atomically.

        Objects held but absent from `rows` are deleted with a `deleted`
        transition. The kind is marked synced at `resource_version`.
        """
        kind = Kind(kind)
        for row in rows:
            validate_row(kind, row)
        await self._intake.put(Replace(kind, list(rows), resource_version))

    async def replace_begin(self, kind: Kind) -> None:
        """Start a streamed relist of `kind`: `put` every listed row, then `replace_end`.

        The rows go through the queue in ordinary batches, so neither the
        informer nor the writer ever holds the whole list. Readers meanwhile
        see old and new rows mixed; the set is complete at `replace_end`.
        Calling it again before the end (a restarted list) starts over.
        """
        await self._intake.put(ReplaceBegin(Kind(kind)))

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        """End a streamed relist: delete what was not put since the begin; mark `kind` synced.

        Without a `replace_begin` before it, nothing is deleted (there is no
        record of what the list held); the kind is still marked synced.
        """
        await self._intake.put(ReplaceEnd(Kind(kind), resource_version))

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
        await self._intake.put(Sync(Kind(kind), resource_version, synced, listed, error))

    # --- beyond the protocol ---------------------------------------------------------------------

    async def apply(self, deltas: Sequence[Delta]) -> list[Transition]:
        """Write `deltas` and wait for their commit; return the transitions they caused."""
        for d in deltas:
            validate(d)
        op = Apply(list(deltas), anyio.Event())
        await self._intake.put(op)
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
        await self._intake.put(op)
        await op.done.wait()
        if op.error is not None:
            raise op.error

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(transitions)` in the writer task right after each commit that has any.

        `fn` must not block or await (hand the list to a queue); an exception
        it raises is logged with its traceback, counted
        (`stats.listener_errors`), and does not stop the writer. Returns a
        function that unsubscribes.
        """
        return self._listeners.on_transitions(fn)

    def on_reset(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn()` when the store had to start over or lost changes.

        A corrupt file was moved aside (the store is then empty), or a batch
        that could not be written was dropped: the watcher should relist
        every kind.
        """
        return self._listeners.on_reset(fn)

    def on_history_changed(self, fn: Callable[[Kind, str], None]) -> Callable[[], None]:
        """Call `fn(kind, error)` when a kind's events show the API server's history changed.

        A MODIFIED or DELETED for a uid the store does not hold, while another
        uid holds that name (see `store.memory`): the kind is already stale in
        the store (`error`); the watcher should relist it and replace it.
        Told once per kind until the kind is listed again, after the batch
        that showed it was published.
        """
        return self._listeners.on_history_changed(fn)

    def on_commit(self, fn: Callable[[int, float], None]) -> Callable[[], None]:
        """Call `fn(rows, seconds)` after each committed batch (metrics); it must not block.

        `rows` counts the objects the batch wrote or deleted, `seconds` the
        time from preparing the batch to its commit, retries included.
        """
        return self._listeners.on_commit(fn)

    def on_health(self, fn: Callable[[bool, str | None], None]) -> Callable[[], None]:
        """Call `fn(healthy, last_error)` whenever the store turns unhealthy or recovers."""
        return self._listeners.on_health(fn)

    async def set_size_limit(self, max_bytes: int | None) -> None:
        """Change the database size cap at runtime (None: no cap), e.g. after freeing space."""
        await self._connection.set_size_limit(max_bytes)
        self._recovery.retry_now()

    def objects(self, kind: Kind) -> int:
        return self._memory.objects(kind)

    @property
    def dropped_rows(self) -> int:
        """Changes lost: rows that could not be encoded, batches given up, input left at close."""
        return (
            self._memory.dropped_rows
            + self._recovery.dropped_rows
            + self._pipeline.dropped_rows
            + self._intake.dropped_rows
        )

    @property
    def backlog(self) -> int:
        """Rows queued and not yet taken into a batch: how far ingest is behind the informers."""
        return self._intake.backlog

    @property
    def committed_batches(self) -> int:
        return self._pipeline.committed_batches

    @property
    def committed_transitions(self) -> int:
        return self._pipeline.committed_transitions

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            committed_batches=self._pipeline.committed_batches,
            committed_transitions=self._pipeline.committed_transitions,
            dropped_rows=self.dropped_rows,
            backlog=self._intake.backlog,
            listener_errors=self._listeners.errors,
            unexpected_errors=self._recovery.unexpected_errors,
        )

    async def trim_history(self, *, now: float | None = None) -> int:
        """Apply retention (age, then row count) in small transactions; returns rows deleted."""
        return await self._pipeline.trim_history(now=now)

    # --- lifecycle (called by store.service) --------------------------------------------------

    async def open(self) -> None:
        """Connect, moving a damaged file aside; on a storage failure stay unhealthy.

        Never raises for storage problems: the run loop keeps retrying them.
        """
        try:
            await self._recovery.connect()
        except StoreError as e:
            self._connection.set_unhealthy(str(e))

    async def _connect(self) -> None:
        """What `open` does, raising a storage problem instead of turning it into state."""
        await self._recovery.connect()

    async def run(self) -> None:
        """The writer task (`store.pipeline`): until `close_queue` and the queue is drained."""
        await self._pipeline.run()

    async def wait_closed(self) -> None:
        """Until the run loop has ended (after `close_queue`, once the queue is drained)."""
        await self._pipeline.wait_ended()

    def close_queue(self) -> None:
        """No more input; the run loop drains what is queued, then ends."""
        self._intake.close()

    async def aclose_connection(self) -> None:
        await self._connection.close()

    async def claim(self, cluster: ClusterIdentity) -> ClaimOutcome:
        """Make the file this cluster's (see `store.cluster`): record, continue, or move aside.

        Call it before anything of `cluster` is written (the composition root
        does, before the informers start): it waits for what is queued to be
        committed, and then uses the write connection while the writer has
        nothing to do. A file of another cluster is moved aside next to it,
        history and all, with one warning naming both clusters, and the store
        starts empty (`on_reset` listeners are told).
        """
        with self._pipeline.retention_paused():
            await self.flush()
            conn = self._connection.require()
            try:
                previous = await read_identity(conn)
                if previous is not None and previous.same_cluster(cluster):
                    known = msgspec.structs.replace(cluster, uid=cluster.uid or previous.uid)
                    if known != previous:
                        await record_identity(conn, known)
                    self._recovery.cluster = known
                    return ClaimOutcome(verdict=ClaimVerdict.SAME, cluster=known, previous=previous)
                if previous is None and not await holds_data(conn):
                    await record_identity(conn, cluster)
                    self._recovery.cluster = cluster
                    return ClaimOutcome(verdict=ClaimVerdict.RECORDED, cluster=cluster)
            except (sqlite3.Error, OSError) as e:
                raise translate(e, self.path) from e
            return await self._start_over_for(cluster, previous)

    async def _start_over_for(
        self, cluster: ClusterIdentity, previous: ClusterIdentity | None
    ) -> ClaimOutcome:
        await self._connection.close()
        try:
            moved = move_aside(self.path, why="other-cluster")
        except OSError as e:
            message = f"cannot move {self.path} aside: {type(e).__name__}: {e}"
            self._connection.set_unhealthy(message)
            raise StoreUnavailable(message) from e
        old = previous.describe() if previous else "an unknown cluster (no identity recorded)"
        log.warning(
            "store: %s caches %s, but this agent watches %s; moved it aside to %s "
            "(its history with it) and starting empty",
            self.path,
            old,
            cluster.describe(),
            moved,
        )
        self._recovery.cluster = cluster
        await self._recovery.open_and_load()  # which records the cluster in the new file
        self._connection.set_healthy()
        self._listeners.reset()
        return ClaimOutcome(
            verdict=ClaimVerdict.MOVED_ASIDE, cluster=cluster, previous=previous, moved_to=moved
        )
