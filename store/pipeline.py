"""The writer task's loop: take a batch, prepare it, commit it, publish it — two at a time.

Transitions are computed while a batch is prepared, from the writer's memory
of every object (`store.memory`), and inserted into history in the same
transaction as the rows. Only after the commit is the view updated and are
the subscribers called, with exactly the transitions just committed: history
and callbacks cannot disagree, and a subscriber never hears of a change a
reader cannot see.

Two batches at a time: while batch N executes in the connection's thread
(one call for the whole transaction, `store.storage.run_in_thread`;
statements of many rows each, `store.statements`), the writer prepares batch
N+1 on the event loop from what is queued and keeps adding what arrives.
sqlite3 lets go of the GIL while SQLite works, so the SQL of N overlaps the
Python of N+1 and of the informers. The moment N commits, N+1 goes to the
thread (in the same turn of the loop), and N is published while N+1
executes. The order still holds: N+1 starts executing only after N
committed, N is published before N+1, and nothing of N+1 is published before
its own commit. If N fails, N+1 waits while `store.recovery` deals with N.
Preparing advances the writer's memory, so if N is given up and memory is
reloaded from the file, N+1 is prepared again from its queued operations
before it runs. Between batches the writer trims history to its limits
(`store.retention`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Iterator

import anyio
import anyio.abc

from store import retention
from store.batch import Batch
from store.connection import WriteConnection
from store.errors import StoreClosed, StoreError
from store.intake import Intake
from store.listeners import Listeners
from store.memory import ObjectMemory
from store.recovery import Recovery, fail_waiters
from store.settings import StoreSettings
from store.storage import translate
from store.view import View

__all__ = ["Pipeline"]

log = logging.getLogger("store")


class _Execution:
    """A batch executing in SQLite's thread; `error` is what it raised, if anything."""

    __slots__ = ("batch", "done", "error", "following")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.done = anyio.Event()
        self.error: Exception | None = None
        # The batch that went to SQLite's thread the moment this one committed.
        self.following: _Execution | None = None


class Pipeline:
    """The writer task (`run`) and the batches it has in hand."""

    def __init__(
        self,
        *,
        settings: StoreSettings,
        intake: Intake,
        memory: ObjectMemory,
        view: View,
        connection: WriteConnection,
        recovery: Recovery,
        listeners: Listeners,
    ) -> None:
        self._settings = settings
        self._intake = intake
        self._memory = memory
        self._view = view
        self._connection = connection
        self._recovery = recovery
        self._listeners = listeners
        self.committed_batches = 0
        self.committed_transitions = 0
        self.dropped_rows = 0  # of batches in hand when the writer ended
        self._executing: Batch | None = None
        # The next batch, prepared while the one before it executes, and the rows
        # taken into it. It cannot be sealed while the memory is adding to it.
        self._next: Batch | None = None
        self._adding_to_next = False
        self._next_rows = 0
        # time.monotonic() of the next retention sweep; 0: after the first batch.
        self._retention_due = 0.0
        self._ended = anyio.Event()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def run(self) -> None:
        """Collect, prepare, commit, publish, until the intake is closed and drained.

        It starts a batch executing as soon as the one before committed
        (`_execute_in_turn`), and publishes the one before while it executes.
        """
        try:
            async with anyio.create_task_group() as tg:
                execution: _Execution | None = None
                while True:
                    if execution is None:
                        if self._connection.conn is None and not await self._recovery.reconnect():
                            break
                        ops = await self._intake.next_batch(idle_s=self._idle_s())
                        if ops is None:
                            break
                        if not ops:
                            await self._retention_if_due()
                            continue
                        execution = await self._start(tg, await self._memory.prepare(ops))
                        continue
                    await self._prepare_next_while(execution)
                    if not execution.done.is_set():
                        await execution.done.wait()
                    if (
                        execution.following is None
                        and execution.error is None
                        and self._next_ready()
                    ):
                        # The execution could not take the next batch itself (it was
                        # being added to): start it here, before publishing this one.
                        execution.following = await self._start(tg, await self._take_next())
                    finished, execution = execution, execution.following
                    await self._finish(finished)
                    await self._retention_if_due()  # queued behind an execution, if any
                    waiting = self._next
                    if execution is None and waiting is not None:
                        # The batch failed and recovered, or the connection is gone.
                        if self._connection.conn is None and not await self._recovery.reconnect():
                            break
                        if waiting.generation == self._memory.generation:
                            following = await self._take_next()
                        else:
                            # Recovery reloaded memory (a batch given up, a reset): the
                            # next batch was prepared against what is gone; prepare it again.
                            following = await self._memory.prepare(
                                waiting.ops, started=waiting.started
                            )
                            self._next, self._next_rows = None, 0
                        execution = await self._start(tg, following)
        finally:
            error = StoreClosed("the store closed before this was committed")
            for batch in (self._executing, self._next):
                if batch is not None:
                    self.dropped_rows += len(batch.changes)
                    fail_waiters(batch, error)
            self._executing = self._next = None
            self._intake.refuse_remaining(error)
            self._ended.set()

    # --- executing -----------------------------------------------------------------------------

    async def _start(self, tg: anyio.abc.TaskGroup, batch: Batch) -> _Execution:
        """Hand `batch` to SQLite's thread; the caller finishes it once `done` is set.

        Returns once the batch is in the thread's hands, not when the task
        that waits for it gets its first turn: that turn would come only
        after the next batch is prepared, and the thread would idle meanwhile.
        """
        execution = _Execution(batch)
        self._executing = batch
        await tg.start(self._execute_in_turn, execution)
        return execution

    async def _execute_in_turn(
        self,
        execution: _Execution,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Execute `execution`, then at once whatever batch is ready after it, and so on.

        The next batch goes to SQLite's thread in the same turn of the event
        loop in which the previous one is seen committed: waking the writer
        task to start it takes several turns, each of which can hold an
        informer's whole hand-over of events, while SQLite idles.
        """
        # `started` does not yield: this task goes on, without a turn of the loop in
        # between, into `execute`, which queues the batch to SQLite's thread in
        # its first step. By the time the writer resumes, the thread has it.
        task_status.started()
        current: _Execution | None = execution
        while current is not None:
            try:
                await self._connection.execute(current.batch)
            except Exception as e:  # handed to the writer task: `Recovery.commit_failed` judges it
                current.error = e
            else:
                if self._next_ready():
                    following = await self._take_next()
                    current.following = _Execution(following)
                    self._executing = following
            finally:
                current.done.set()
                self._intake.wake_waiter()
            current = current.following

    async def _finish(self, execution: _Execution) -> None:
        """After an execution: on success publish it; on failure recover, then publish."""
        batch = execution.batch
        if execution.error is None:
            self._connection.wrote()
            committed = True
        else:
            committed = await self._recovery.commit_failed(batch, execution.error)
        if self._executing is batch:
            self._executing = None
        if committed:
            self._publish(batch)
            self._listeners.commit(len(batch.changes), time.perf_counter() - batch.started)
            if len(batch.changes) >= self._settings.checkpoint_after_rows:
                # A relist writes the whole kind in one transaction; left alone,
                # its WAL would be copied back at some later small commit,
                # stalling that one. Now, after its subscribers heard of it.
                await self._connection.checkpoint()

    def _publish(self, batch: Batch) -> None:
        self._view.apply(batch.changes, batch.candidates, batch.sync, now=batch.now)
        self.committed_batches += 1
        self.committed_transitions += len(batch.transitions)
        if batch.transitions:
            self._listeners.transitions(batch.transitions)
        for waiter in batch.waiters:
            waiter.done.set()
        if self._memory.history_changes:
            changes, self._memory.history_changes = self._memory.history_changes, []
            for kind, error in changes:
                self._listeners.history_changed(kind, error)

    # --- the next batch ------------------------------------------------------------------------

    async def _prepare_next_while(self, execution: _Execution) -> None:
        """Prepare the next batch while `execution` runs: from what is queued and what arrives.

        It keeps adding what arrives until the execution is done or the batch
        is full, so preparing keeps pace with the informers: when SQLite is
        free the next batch is ready, instead of being prepared only then
        from everything that piled up meanwhile (at the end of a burst, the
        biggest batch of all).
        """
        limit = self._settings.batch_rows
        while self._next_rows < limit and not execution.done.is_set():
            ops, rows = self._intake.take_ready(rows=limit - self._next_rows)
            if ops:
                self._next_rows += rows
                if self._next is None:
                    self._next = self._memory.begin()
                self._adding_to_next = True
                try:
                    await self._memory.add(self._next, ops)
                finally:
                    self._adding_to_next = False
                continue
            activity = self._intake.activity()
            if not self._intake.empty or execution.done.is_set():
                continue  # something came before the new event could hear of it
            await activity.wait()

    def _next_ready(self) -> bool:
        """Whether the next batch can go to SQLite now.

        Not while the memory is adding to it, nor without a connection, nor
        if the memory was reloaded since it was begun (it must be prepared
        again: see `run`).
        """
        batch = self._next
        return (
            batch is not None
            and not self._adding_to_next
            and self._connection.conn is not None
            and batch.generation == self._memory.generation
        )

    async def _take_next(self) -> Batch:
        """The next batch, finished; the pipeline no longer holds it as the next."""
        batch = self._next
        assert batch is not None
        self._next, self._next_rows = None, 0
        return await self._memory.finish(batch)

    # --- retention -----------------------------------------------------------------------------

    def _idle_s(self) -> float:
        """How long to wait for input before the next retention sweep is due."""
        if not self._retention_due:
            return math.inf
        return self._retention_due - time.monotonic()

    async def _retention_if_due(self) -> None:
        now = time.monotonic()
        if self._connection.conn is None or now < self._retention_due:
            return
        self._retention_due = now + self._settings.retention_interval_s
        try:
            await self.trim_history()
        except (sqlite3.Error, OSError, StoreError) as e:
            # The disk: the next commit meets it too, and recovers; the sweep runs again later.
            log.warning("store: history retention failed: %s", translate(e, self._connection.path))

    async def trim_history(self, *, now: float | None = None) -> int:
        conn = self._connection.conn
        if conn is None:
            return 0
        return await retention.trim_history(conn, self._settings, now=now)

    @contextlib.contextmanager
    def retention_paused(self) -> Iterator[None]:
        """No retention sweep until the block ends, so the connection is free for the caller."""
        due, self._retention_due = self._retention_due, math.inf
        try:
            yield
        finally:
            self._retention_due = due
