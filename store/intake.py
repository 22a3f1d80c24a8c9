"""The writer's intake: one bounded queue, in the order things were handed over.

Informers hand the writer deltas, relists and progress (`store.operations`);
all of it goes through this one queue so the writer applies it in the order
it happened. The queue is bounded in rows, not items: one `put_many` of a
whole network read is one item (one hand-over, one wake-up of the writer)
that weighs as many rows as it carries. A producer waits only while
`queue_size` rows or more are queued, which slows the informers instead of
losing events. The writer takes from the other end: the operations of its
next batch (`next_batch`), or, while a batch executes, whatever is ready
(`take_ready`).
"""

from __future__ import annotations

import math

import anyio

from store.errors import StoreClosed, StoreError
from store.operations import Apply, Flush, Op, weight_of
from store.settings import StoreSettings

__all__ = ["Intake"]


class Intake:
    """The bounded queue between the informers and the writer task."""

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        # The stream itself is unbounded: the bound is in rows (`_rows`).
        self._send, self._receive = anyio.create_memory_object_stream[Op](math.inf)
        self._rows = 0
        self._has_room = anyio.Event()  # set when the queue drops below `queue_size` rows
        # Set when anything is queued, or `wake_waiter` is called: the writer waits
        # for it while it prepares the next batch during an execution.
        self._activity = anyio.Event()
        # Set when a flush or apply is queued, or the intake closes: the writer
        # stops waiting for a fuller batch.
        self._urgent = anyio.Event()
        self.closed = False
        # Rows still queued when the writer ended.
        self.dropped_rows = 0

    @property
    def backlog(self) -> int:
        """Rows queued and not yet taken into a batch."""
        return self._rows

    @property
    def empty(self) -> bool:
        return self._receive.statistics().current_buffer_used == 0

    @property
    def finished(self) -> bool:
        """Closed, and everything queued was taken: nothing more will come."""
        return self.closed and self.empty

    async def put(self, op: Op) -> None:
        """Queue `op`; wait while the queue holds `queue_size` rows or more."""
        if self.closed:
            raise StoreClosed("the store is closed")
        # No event-loop round trip while the queue has room: an informer pushing
        # a burst stays cheap. An item bigger than the bound still goes in once
        # the queue is below it, so it never waits forever.
        while self._rows >= self._settings.queue_size:
            has_room = self._has_room
            if has_room.is_set():
                has_room = self._has_room = anyio.Event()
            await has_room.wait()
            if self.closed:
                raise StoreClosed("the store is closed")
        try:
            self._send.send_nowait(op)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as e:
            raise StoreClosed("the store is closed") from e
        self._rows += weight_of(op)
        self._activity.set()
        if isinstance(op, Flush | Apply):
            self._urgent.set()

    def close(self) -> None:
        """No more input; the writer takes what is queued, then ends."""
        self.closed = True
        self._send.close()
        self._urgent.set()
        self._has_room.set()

    def refuse_remaining(self, error: StoreError) -> None:
        """The writer has ended: fail what is still queued, and refuse anything more.

        A flush or apply still queued gets `error`; other rows are counted as
        dropped. A put waiting for room learns the store closed.
        """
        self.closed = True
        while True:
            try:
                op = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            weight = self._taken(op)
            if isinstance(op, Flush | Apply):
                op.error = error
                op.done.set()
            else:
                self.dropped_rows += weight
        self._send.close()
        self._receive.close()
        self._has_room.set()

    async def next_batch(self, *, idle_s: float) -> list[Op] | None:
        """The operations of the next batch; [] after `idle_s` with nothing queued.

        None once the intake is closed and everything queued was taken.
        """
        try:
            first = self._receive.receive_nowait()
        except anyio.WouldBlock:
            if idle_s <= 0:
                return []
            waited: Op | None = None
            with anyio.move_on_after(idle_s):
                try:
                    waited = await self._receive.receive()
                except anyio.EndOfStream:
                    return None
            if waited is None:
                return []
            first = waited
        except anyio.EndOfStream:
            return None
        self._taken(first)
        return await self._fill(first)

    async def _fill(self, first: Op) -> list[Op]:
        """Add to `first` until `batch_rows`, or `batch_interval_s` after it arrived.

        It sleeps through the interval once rather than waking for every
        delta that arrives in it: a wake-up per delta costs the event loop
        more than preparing the delta. A flush or apply (or the close) cuts
        the sleep short; then it stops as soon as the queue is momentarily
        empty.
        """
        self._urgent = anyio.Event()
        ops = [first]
        rows = weight_of(first)
        urgent = isinstance(first, Flush | Apply)
        deadline = anyio.current_time() + self._settings.batch_interval_s
        while rows < self._settings.batch_rows:
            try:
                op = self._receive.receive_nowait()
            except anyio.EndOfStream:
                break
            except anyio.WouldBlock:
                remaining = deadline - anyio.current_time()
                if urgent or remaining <= 0:
                    break
                with anyio.move_on_after(remaining):
                    await self._urgent.wait()
                continue
            ops.append(op)
            rows += self._taken(op)
            urgent = urgent or isinstance(op, Flush | Apply)
        return ops

    def take_ready(self, *, rows: int) -> tuple[list[Op], int]:
        """What is queued right now, without waiting, up to about `rows` rows; and its weight.

        It stops once the taken operations weigh `rows` or more (one item may
        go past it: a `put_many` is never split).
        """
        ops: list[Op] = []
        taken = 0
        while taken < rows:
            try:
                op = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            ops.append(op)
            taken += self._taken(op)
        return ops, taken

    def activity(self) -> anyio.Event:
        """A fresh event, set when next something is queued or `wake_waiter` is called.

        Take it before checking the queue, so nothing queued in between is missed.
        """
        self._activity = anyio.Event()
        return self._activity

    def wake_waiter(self) -> None:
        """End the wait on `activity` for another reason (a batch finished executing)."""
        self._activity.set()

    def _taken(self, op: Op) -> int:
        """Account for `op` leaving the queue; returns its weight in rows."""
        weight = weight_of(op)
        self._rows -= weight
        if self._rows < self._settings.queue_size:
            self._has_room.set()
        return weight
