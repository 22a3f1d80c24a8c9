"""The writer's connection to the file, and whether writing works.

`healthy` is False while the file cannot be written (full disk, read-only
filesystem, a file that cannot be opened) and `last_error` says why; a
change either way is told to the health listeners.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import aiosqlite
import anyio

from store.batch import Batch, write_batch
from store.errors import StoreUnavailable
from store.listeners import Listeners
from store.settings import StoreSettings
from store.storage import connect_writer, pragma, run_in_thread, translate

__all__ = ["WriteConnection"]

log = logging.getLogger("store")

# The write connection's page cache, in KiB (SQLite's default is 2 MiB). Watch
# events update pods all over a table of ~4 KiB rows; with the default cache
# nearly every update re-reads its leaf and index pages from the OS.
_CACHE_KIB = 32 * 1024
# WAL pages after which a commit folds the WAL back into the file (SQLite's
# default is 1000). Watch events rewrite the same hot pages over and over; a
# checkpoint copies each page once however often it was written, so fewer,
# larger checkpoints copy less and sync less, and a burst of events commits
# without a checkpoint (and its fsyncs) in the middle of it. 4000 pages bound
# the WAL to ~16 MiB between checkpoints.
_WAL_AUTOCHECKPOINT_PAGES = 4000


class WriteConnection:
    """The one connection that writes the file (`conn`, None while closed) and its health."""

    def __init__(self, *, path: Path, settings: StoreSettings, listeners: Listeners) -> None:
        self.path = path
        self.settings = settings
        self.conn: aiosqlite.Connection | None = None
        self.healthy = False
        self.last_error: str | None = "store not opened yet"
        self._listeners = listeners

    async def open(self) -> aiosqlite.Connection:
        """Open the file (closing any connection before) with the writer's tuning."""
        await self.close()
        conn = await connect_writer(self.path, self.settings)
        try:
            await pragma(conn, f"PRAGMA cache_size = -{_CACHE_KIB}")
            await pragma(conn, "PRAGMA temp_store = MEMORY")
            await pragma(conn, f"PRAGMA wal_autocheckpoint = {_WAL_AUTOCHECKPOINT_PAGES}")
        except BaseException as e:
            await _close_quietly(conn)
            if isinstance(e, sqlite3.Error | OSError):
                raise translate(e, self.path) from e
            raise
        self.conn = conn
        return conn

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.close()
            except (sqlite3.Error, OSError, ValueError):
                # Nothing is lost: every batch was committed or failed before
                # this. ValueError: aiosqlite's "Connection closed".
                log.debug("store: error closing the write connection", exc_info=True)

    async def discard(self) -> None:
        """Close after a failure, without letting the close hide that failure."""
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await _close_quietly(conn)

    def require(self) -> aiosqlite.Connection:
        if self.conn is None:
            raise StoreUnavailable(self.last_error or "store not open")
        return self.conn

    async def execute(self, batch: Batch) -> None:
        """Run the batch's transaction in the connection's thread, as one call.

        One call, not one per statement: each `await conn.execute` is a round
        trip through the event loop, which waits behind whatever the loop is
        busy with (an informer decoding a burst, the next batch being
        prepared), while the thread idles.
        """
        statements = await batch.seal()
        conn = self.conn
        if conn is None:
            raise StoreUnavailable(self.last_error or "no write connection")
        await run_in_thread(conn, write_batch, statements)

    async def set_size_limit(self, max_bytes: int | None) -> None:
        conn = self.require()
        page = int(await pragma(conn, "PRAGMA page_size") or 4096)
        pages = 2**31 - 2 if max_bytes is None else max(1, max_bytes // page)
        await pragma(conn, f"PRAGMA max_page_count = {pages}")

    async def checkpoint(self) -> None:
        """Fold the WAL back into the file now. PASSIVE never waits for readers.

        It only saves a later commit the work; if it fails (the disk), that
        commit meets the failure and recovers from it, so a warning is enough.
        """
        if self.conn is None:
            return
        try:
            await pragma(self.conn, "PRAGMA wal_checkpoint(PASSIVE)")
        except (sqlite3.Error, OSError) as e:
            log.warning("store: checkpoint failed: %s", translate(e, self.path))

    def wrote(self) -> None:
        """A batch committed: the store is healthy, and says so if it was not."""
        if not self.healthy:
            log.warning("store: writes succeed again; store healthy")
        self.set_healthy()

    def set_healthy(self) -> None:
        changed = not self.healthy
        self.healthy = True
        self.last_error = None
        if changed:
            self._listeners.health(self.healthy, self.last_error)

    def set_unhealthy(self, message: str) -> None:
        changed = self.healthy or self.last_error != message
        if changed:
            log.error("store: unhealthy: %s", message)
        self.healthy = False
        self.last_error = message
        if changed:
            self._listeners.health(self.healthy, self.last_error)


async def _close_quietly(conn: aiosqlite.Connection) -> None:
    # Called while another error is being raised: that one says what went wrong,
    # and a failure to close after it (of any kind) must not replace it.
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        await conn.close()
