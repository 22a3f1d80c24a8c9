"""Which trimming policy a state file's objects were stored under, kept in `meta`.

The watcher decides what of an object is stored (environment values are
redacted unless the operator opts in). A file written by a run that stored
more than this run may show must not serve those rows, not even for the few
seconds until the first list replaces them, and not through `query` either.
So at open, objects stored under another policy (or none recorded: a file
from before policies were, which stored environment values) are deleted with
`secure_delete` on (freed pages are zeroed, so the values do not linger in
the file) and the kind is refilled by its first list. History holds no
object bodies and is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiosqlite

from store.columns import TABLES
from store.storage import pragma

__all__ = ["enforce_object_policy"]

log = logging.getLogger("store")

_KEY = "objects.policy"
# What an object body becomes: the row's columns (status, counts, conditions) stay.
_EMPTY = b"{}"


async def enforce_object_policy(conn: aiosqlite.Connection, *, policy: str, path: Path) -> bool:
    """Record `policy` for the file; empty the bodies stored under another one. True if any."""
    async with conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY,)) as cur:
        row = await cur.fetchone()
    recorded = None if row is None else str(row[0])
    if recorded == policy:
        return False
    tables = [spec.table for spec in TABLES.values()]
    emptied = 0
    await conn.execute("BEGIN IMMEDIATE")
    try:
        for table in tables:
            cur = await conn.execute(f"UPDATE {table} SET obj = ? WHERE obj != ?", (_EMPTY, _EMPTY))
            emptied += max(cur.rowcount, 0)
            await cur.close()
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_KEY, policy),
        )
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    if not emptied:
        return False
    # Old bodies also linger in pages' free space (rows that moved while that run
    # wrote): VACUUM rewrites every page, and the checkpoint puts the rewritten
    # pages over the old ones in the main file. Once per change of policy.
    await conn.execute("VACUUM")
    await pragma(conn, "PRAGMA wal_checkpoint(TRUNCATE)")
    log.warning(
        "store: %s held %d objects stored under %s, not %r; emptied their bodies "
        "until the first list stores them again",
        path,
        emptied,
        repr(recorded) if recorded else "no recorded policy",
        policy,
    )
    return True
