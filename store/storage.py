"""Opening the database file, and deciding what a failure means.

Three outcomes matter to an agent that must never crash-loop:

- the file is fine: open it in WAL mode and bring the schema up to date;
- the file is damaged (not a database, corrupt pages, a schema from the
  future): it holds only a cache of the cluster, so move it aside with a
  timestamp, log one line, and start empty — the informers' next list refills
  it;
- the file cannot be written (read-only filesystem, permissions, full disk,
  another process holding the lock): that is the operator's to fix; raise
  `StoreUnavailable` with the cause so the store can report itself unhealthy
  and retry.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiosqlite
import anyio.to_thread

from store.errors import CorruptStore, StoreError, StoreUnavailable
from store.schema import ensure_columns, ensure_tables, migrate
from store.settings import StoreSettings

__all__ = [
    "PAGE_SIZE",
    "classify",
    "connect_reader",
    "connect_writer",
    "move_aside",
    "pragma",
    "run_in_thread",
    "translate",
]

T = TypeVar("T")

# Page size of a new file; one that exists keeps its own (changing it would
# mean rewriting the whole file). A pod row with its trimmed object is about
# 4 KB, so with SQLite's default of 4096 nearly every pod spilled into an
# overflow page, and each update rewrote two pages and churned the freelist.
# With 8192 a row fits in its page. Measured on 150k pods, 20k updates in
# transactions of 3,000: SQLite's CPU per update went 44-56 -> 35-55 us
# updating pods in table order and 79 -> 68 us in random order (16384 was
# faster in table order, 36-40, but slower in random order, 109: each
# update then rewrites 16 KB).
PAGE_SIZE = 8192

log = logging.getLogger("store")

_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_UNAVAILABLE = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_PERM",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_AUTH",
    "SQLITE_NOLFS",
    "SQLITE_PROTOCOL",
)


def classify(exc: BaseException) -> str:
    """`"corrupt"`, `"unavailable"` or `"other"` (a bug or a bad value, not the disk)."""
    if isinstance(exc, CorruptStore):
        return "corrupt"
    if isinstance(exc, StoreUnavailable | OSError):
        return "unavailable"
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(_CORRUPT):
            return "corrupt"
        if name.startswith(_UNAVAILABLE):
            return "unavailable"
        text = str(exc).lower()
        if "malformed" in text or "not a database" in text:
            return "corrupt"
        if "disk" in text or "readonly" in text or "read-only" in text or "unable to open" in text:
            return "unavailable"
    return "other"


def translate(exc: BaseException, path: Path) -> StoreError:
    """A foreign exception as one of ours, with the file and the cause in the message."""
    if isinstance(exc, StoreError):
        return exc
    kind = classify(exc)
    detail = f"{type(exc).__name__}: {exc}"
    if kind == "corrupt":
        return CorruptStore(f"database {path} is damaged ({detail})")
    if kind == "unavailable":
        hint = ""
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith("SQLITE_FULL") or "full" in str(exc):
            hint = " — the disk (or the configured size cap) is full"
        elif name.startswith("SQLITE_READONLY") or "readonly" in str(exc).lower():
            hint = " — the file or its directory is read-only"
        elif isinstance(exc, PermissionError) or name.startswith(
            ("SQLITE_CANTOPEN", "SQLITE_PERM")
        ):
            hint = " — check the path exists and is writable"
        return StoreUnavailable(f"cannot write database {path}{hint} ({detail})")
    return StoreError(f"database {path}: {detail}")


async def run_in_thread(conn: aiosqlite.Connection, fn: Callable[..., T], /, *args: Any) -> T:
    """`fn(db, *args)` on `conn`'s own thread, with its sqlite3 connection, as one call.

    aiosqlite runs every call on the connection's thread and answers through
    the event loop; a transaction of several statements is as many round
    trips, each waiting its turn behind whatever else the loop runs. This
    hands the thread the whole transaction at once. The call is queued to
    the thread before the first suspension (the writer relies on it to know
    the thread has its batch). aiosqlite has no public
    name for it: this is the method its own `execute` uses (`_execute`,
    stable through 0.17-0.22); tests/store/test_pipeline.py pins it.
    """
    db = conn._conn

    def call() -> T:
        return fn(db, *args)

    result: T = await conn._execute(call)  # type: ignore[no-untyped-call]
    return result


def move_aside(path: Path, *, why: str = "corrupt") -> Path:
    """Rename a database (and its -wal/-shm) to `<name>.<why>-<UTC time>`; return the new name.

    `why` is `corrupt` for a damaged file, `other-cluster` for a file of
    another cluster (`store.cluster`).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    for suffix in ("-wal", "-shm", ""):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.rename(f"{target}{suffix}")
    return target


def _prepare_path(path: Path) -> bool:
    """Create the directory; True if a non-empty file is already there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.exists() and path.stat().st_size > 0


async def pragma(conn: aiosqlite.Connection, sql: str) -> Any:
    """Run a PRAGMA; the first column of its first row, or None when it has none.

    Every pragma goes through here so that its cursor is closed before this
    returns. aiosqlite's thread keeps the last call's result alive until its
    next call returns, so a pragma whose row is left unread (`wal_checkpoint`,
    `max_page_count`, ...) stays "in progress", and a COMMIT that is that next
    call fails: "cannot commit transaction - SQL statements in progress".
    """
    async with conn.execute(sql) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def connect_writer(path: Path, settings: StoreSettings) -> aiosqlite.Connection:
    """The one write connection: WAL, synchronous=NORMAL, schema migrated, write access proven.

    Raises CorruptStore or StoreUnavailable (never a raw sqlite3 error).
    """
    try:
        existed = await anyio.to_thread.run_sync(_prepare_path, path)
    except OSError as e:
        raise translate(e, path) from e
    connecting = aiosqlite.connect(str(path), isolation_level=None)
    try:
        conn = await connecting
    except (sqlite3.Error, OSError) as e:
        # aiosqlite stops its thread without waiting; a process that exits on this error
        # would see the thread answer a closed event loop (a traceback on stderr).
        thread = connecting._thread  # aiosqlite has no public handle (0.20-0.22)
        await anyio.to_thread.run_sync(thread.join, 5.0)
        raise translate(e, path) from e
    try:
        await pragma(conn, "PRAGMA busy_timeout = 5000")
        if existed:
            # Reading the schema proves the file is a database at all.
            await pragma(conn, "PRAGMA schema_version")
            if settings.check_on_open:
                verdict = await pragma(conn, "PRAGMA quick_check")
                if verdict != "ok":
                    raise CorruptStore(f"database {path} failed quick_check: {verdict}")
        else:
            await pragma(conn, f"PRAGMA page_size = {PAGE_SIZE}")
        mode = await pragma(conn, "PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise StoreUnavailable(f"cannot put database {path} in WAL mode (journal_mode={mode})")
        await pragma(conn, "PRAGMA synchronous = NORMAL")
        await pragma(conn, "PRAGMA journal_size_limit = 67108864")
        if settings.max_db_bytes is not None:
            page = int(await pragma(conn, "PRAGMA page_size") or 4096)
            await pragma(conn, f"PRAGMA max_page_count = {max(1, settings.max_db_bytes // page)}")
        await migrate(conn)
        await ensure_tables(conn)
        await ensure_columns(conn)
        # Prove write access now rather than at the first batch: a read-only
        # file opens and reads fine, and only fails on write.
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute(
            "INSERT INTO sync_state(kind) VALUES ('_probe') ON CONFLICT(kind) DO NOTHING"
        )
        await conn.execute("DELETE FROM sync_state WHERE kind = '_probe'")
        await conn.execute("COMMIT")
    except BaseException as e:
        await _close_quietly(conn)
        if isinstance(e, sqlite3.Error | OSError):
            raise translate(e, path) from e
        raise
    return conn


async def connect_reader(path: Path) -> aiosqlite.Connection:
    """A read-only connection: it cannot write even by mistake (mode=ro, query_only)."""
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except (sqlite3.Error, OSError) as e:
        raise translate(e, path) from e
    try:
        await pragma(conn, "PRAGMA query_only = 1")
        await pragma(conn, "PRAGMA busy_timeout = 5000")
    except BaseException as e:
        await _close_quietly(conn)
        if isinstance(e, sqlite3.Error | OSError):
            raise translate(e, path) from e
        raise
    return conn


async def _close_quietly(conn: aiosqlite.Connection) -> None:
    try:
        await conn.close()
    except Exception:
        log.debug("error closing connection", exc_info=True)
