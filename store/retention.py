"""History retention: how the writer keeps the transitions table to its limits.

The writer calls `trim_history` between batches (at most every
`retention_interval_s`) on its own connection. It deletes in transactions of
at most 5000 rows, yielding in between, so a large trim never holds the write
lock or the event loop for long while informers are waiting.
"""

from __future__ import annotations

import time

import aiosqlite
import anyio.lowlevel

from store.settings import StoreSettings

__all__ = ["trim_history"]


_CHUNK_ROWS = 5000


async def trim_history(
    conn: aiosqlite.Connection, settings: StoreSettings, *, now: float | None = None
) -> int:
    """Apply retention (age, then row count) in small transactions; returns rows deleted."""
    cutoff = (time.time() if now is None else now) - settings.history_max_age_s
    deleted = await _delete_in_chunks(conn, "at < ?", cutoff)
    async with conn.execute(
        "SELECT id FROM transitions ORDER BY id DESC LIMIT 1 OFFSET ?",
        (settings.history_max_rows,),
    ) as c:
        row = await c.fetchone()
    if row is not None:
        deleted += await _delete_in_chunks(conn, "id <= ?", row[0])
    return deleted


async def _delete_in_chunks(conn: aiosqlite.Connection, condition: str, value: float) -> int:
    """Delete the oldest transitions matching `condition`, `_CHUNK_ROWS` per transaction."""
    deleted = 0
    while True:
        cur = await conn.execute(
            "DELETE FROM transitions WHERE id IN "
            f"(SELECT id FROM transitions WHERE {condition} ORDER BY id LIMIT {_CHUNK_ROWS})",
            (value,),
        )
        deleted += cur.rowcount
        if cur.rowcount < _CHUNK_ROWS:
            return deleted
        await anyio.lowlevel.checkpoint()
