"""The interpreter settings the agent's process runs with, and why.

Ingest keeps two threads busy under one GIL: the event loop (decoding watch
events, preparing batches) and SQLite's thread (executing the batch before).
SQLite's thread lets go of the GIL while SQLite works and needs it back
between statements. CPython hands it over only when the holder blocks or
when the switch interval has passed, 5 ms by default: while the loop decodes
a burst, every statement of SQLite's thread then waits up to 5 ms for a few
microseconds of work. Measured with a busy loop (medium cluster, 20k events),
SQLite's thread took 63-77 µs of wall time per row with the default interval
and 44-50 µs with 0.5 ms; its CPU time per row stayed the same.

After the initial sync, the cache's per-object state (tens of thousands of
objects) lives as long as the process. `freeze_after_sync` moves it out of
the collector's sight (`gc.freeze`), and raises the young-generation
threshold: ingest holds thousands of short-lived objects at once (a queued
batch), so with the default threshold of 700 the collector ran every few
dozen events and walked the whole batch each time, to free nothing. Each
collection costs about what is alive and young when it runs (the queue and
the batches' parameter lists, tens of milliseconds in a burst), not what
was allocated since the last, so fewer collections cost less in all: with
50,000, a burst of 20k pod events ran two or three (5.5-6.9 µs per event
on a medium cluster, 8.4-8.7 on 150k pods), and with 200,000 one every
other burst or so; in alternating runs end-to-end ingest went from
7.5-7.9k to 8.1-10.6k events/s (medium) and from 6.9-8.0k to 8.6-9.8k
(150k pods). Reference cycles are rare here; one collection per 200,000
net allocations still bounds what a cycle can hold on to.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import Iterator
from typing import Final

__all__ = [
    "SWITCH_INTERVAL_S",
    "YOUNG_GENERATION_THRESHOLD",
    "freeze_after_sync",
    "frozen_after_sync",
    "short_gil_turns",
    "thaw",
]

log = logging.getLogger("mcpserver")

SWITCH_INTERVAL_S: Final = 0.0005
YOUNG_GENERATION_THRESHOLD: Final = 200_000

# Agents running in this process that froze (tests run several in one process):
# the collector is thawed when the last of them stops.
_frozen_by = 0
_thresholds_before_freeze: tuple[int, int, int] | None = None


@contextlib.contextmanager
def short_gil_turns() -> Iterator[None]:
    """Run the block with `SWITCH_INTERVAL_S` as the GIL switch interval, then restore it."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def freeze_after_sync() -> None:
    """Freeze what exists now and collect the young generation less often (see module doc).

    Each call is undone by one `thaw`.
    """
    global _frozen_by, _thresholds_before_freeze
    gc.collect()
    gc.freeze()
    if _frozen_by == 0:
        _thresholds_before_freeze = gc.get_threshold()
        _, middle, old = _thresholds_before_freeze
        gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    _frozen_by += 1
    log.debug("gc: %d objects frozen after the initial sync", gc.get_freeze_count())


@contextlib.contextmanager
def frozen_after_sync() -> Iterator[None]:
    """`freeze_after_sync` for the block (the steady state after a sync), then `thaw`."""
    freeze_after_sync()
    try:
        yield
    finally:
        thaw()


def thaw() -> None:
    """Undo one `freeze_after_sync` (call it once per freeze); the last restores the collector."""
    global _frozen_by, _thresholds_before_freeze
    if _frozen_by == 0:
        return
    _frozen_by -= 1
    if _frozen_by == 0:
        gc.unfreeze()
        if _thresholds_before_freeze is not None:
            gc.set_threshold(*_thresholds_before_freeze)
            _thresholds_before_freeze = None
