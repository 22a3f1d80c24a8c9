"""One transaction's worth of the writer's work, and the call that commits it.

A batch is prepared once on the event loop (`store.memory.ObjectMemory.prepare`)
and replayed until it commits: the statements it `emit`s are grouped by
statement text and `seal`ed into multi-row statements before it is handed to
SQLite's thread, where `write_batch` runs them in one transaction. It has a
module of its own because two modules use it: the memory that fills it
(`store.memory`) and the writer that commits it (`store.writer`).
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import anyio.lowlevel

from store.health import Candidate
from store.model import Kind, SyncState, Transition
from store.operations import Apply, Flush, Op
from store.statements import INSERT_TRANSITION, many_rows
from store.view import Change as ViewChange

__all__ = ["Batch", "sanitize_value", "write_batch"]

_INT64 = (-(2**63), 2**63 - 1)
# Parameters flattened between two turns of the event loop (about 10 ms of work).
_PARAMETERS_PER_TURN = 200_000


class Batch:
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
        "touched",
        "transitions",
        "waiters",
    )

    def __init__(self, ops: list[Op], *, generation: int, started: float) -> None:
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
        # Kinds the batch holds operations for; True if any was an event (not only a sync).
        self.touched: dict[Kind, bool] = {}
        self.waiters: list[Flush | Apply] = []
        self.statements: list[tuple[str, list[Any]]] | None = None

    def emit(self, sql: str, params: Sequence[Any]) -> None:
        if self.runs and self.runs[-1][0] is sql:
            self.runs[-1][1].append(params)
        else:
            self.runs.append((sql, [params]))

    async def seal(self) -> list[tuple[str, list[Any]]]:
        """The transaction's statements with their flat parameters, built once.

        Built here, on the event loop's thread, not in SQLite's: Python code
        in SQLite's thread holds the GIL, and while the loop is busy each
        hand-over of the GIL waits up to the interpreter's switch interval,
        so there a few microseconds of list building per row cost tens. A
        whole relist (150k rows, millions of parameters) is built in steps,
        with a turn of the loop between them.
        """
        if self.statements is None:
            statements: list[tuple[str, list[Any]]] = []
            built = 0
            runs: list[tuple[str, Sequence[Sequence[Any]]]] = [*self.runs]
            runs.append((INSERT_TRANSITION, self.history))
            for sql, params in runs:
                for statement in many_rows(sql, params):
                    statements.append(statement)
                    built += len(statement[1])
                    if built >= _PARAMETERS_PER_TURN:
                        built = 0
                        await anyio.lowlevel.checkpoint()
            self.statements = statements
        return self.statements


def write_batch(db: sqlite3.Connection, statements: list[tuple[str, list[Any]]]) -> None:
    """One batch's transaction (`Batch.seal`); runs in the connection's thread.

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


def sanitize_value(v: Any) -> Any:
    """`v` as SQLite can store it: ints clamped to 64 bits, NaN/inf as NULL, no lone surrogates."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return min(max(v, _INT64[0]), _INT64[1])
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str):
        return v.encode("utf-8", "replace").decode("utf-8")
    return v
