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
dozen events and walked the whole batch each time, to free nothing.
Reference cycles are rare here; one collection per 50,000 net allocations
still bounds what a cycle can hold on to.
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
YOUNG_GENERATION_THRESHOLD: Final = 50_000

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
