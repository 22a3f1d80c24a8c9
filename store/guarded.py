"""Guarded SQL: a caller's own SELECT, on locked-down connections of a pool of its own.

The caller may be hostile (an assistant steered by text it read), so the
connections trust nothing it sends:

- opened read-only (`mode=ro`, `query_only`), no ATTACH, no extensions;
- an authorizer admits SELECT, reads of the store's tables and of
  `json_each`/`json_tree`, and an allow-list of functions (JSON, string,
  math, date/time, aggregate, window); everything else, `fts3_tokenizer`,
  `load_extension` and the `pragma_*` table functions included, is refused
  by name;
- SQLite itself caps every value it builds (SQLITE_LIMIT_LENGTH), the
  columns of a row and the SQL text; its page cache and sort memory are
  capped per connection; larger sorts go to temporary files, and a query
  whose temporary files use up more than `max_temp_bytes` is stopped;
- rows are read one at a time in the connection's thread and the read stops
  at the row cap or at the answer's byte cap, so an answer is never built
  past its cap;
- the deadline (and the temp cap) is enforced from the event loop with
  `sqlite3_interrupt`, so a running query costs the loop nothing but a
  check every 100 ms. A query whose caller is gone is interrupted at once.

Error messages name the `serve` option behind each cap (--query-...), since
they are meant for the client that hit it and its operator.

Queries run in threads of their own (`connections` of them), never on the
ordinary read pool, so the other reads never wait behind one. Each caller
has at most `per_caller` queries in progress, waiting included; one more is
refused at once. Time is counted from when the call arrived: waiting for a
connection uses up the same budget.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import msgspec

from store.errors import InvalidQuery, QueryBusy, QueryTimeout, QueryTooLarge, StoreError
from store.settings import QuerySettings
from store.storage import classify, translate

__all__ = ["READER_FUNCTIONS", "GuardedPool", "GuardedResult"]

MAX_SQL_CHARS = 100_000
_encode = msgspec.json.encode

READER_FUNCTIONS = frozenset(
    {
        # string and value
        "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "if",
        "ifnull", "iif", "instr", "length", "like", "likelihood", "likely", "lower", "ltrim",
        "max", "min", "nullif", "octet_length", "printf", "quote", "random", "replace",
        "round", "rtrim", "sign", "soundex", "substr", "substring", "trim", "typeof",
        "unhex", "unicode", "unistr", "unlikely", "upper",
        # date and time
        "current_date", "current_time", "current_timestamp", "date", "datetime",
        "julianday", "strftime", "time", "timediff", "unixepoch",
        # math
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "ceiling", "cos",
        "cosh", "degrees", "exp", "floor", "ln", "log", "log10", "log2", "mod", "pi", "pow",
        "power", "radians", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
        # aggregate
        "avg", "count", "group_concat", "string_agg", "sum", "total",
        # window
        "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value",
        "ntile", "percent_rank", "rank", "row_number",
        # JSON (json_each and json_tree are tables, below)
        "->", "->>", "json", "json_array", "json_array_length", "json_error_position",
        "json_extract", "json_group_array", "json_group_object", "json_insert", "json_object",
        "json_patch", "json_pretty", "json_quote", "json_remove", "json_replace", "json_set",
        "json_type", "json_valid", "jsonb", "jsonb_array", "jsonb_extract",
        "jsonb_group_array", "jsonb_group_object", "jsonb_insert", "jsonb_object",
        "jsonb_patch", "jsonb_remove", "jsonb_replace", "jsonb_set",
    }
)  # fmt: skip
"""Every SQL function a `query` may call. Anything else is refused with its name."""

_TABLE_FUNCTIONS = ("json_each", "json_tree")
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema")
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, getattr(sqlite3, "SQLITE_RECURSIVE", 33)})
_CATEGORIES = "JSON, string, math, date/time, aggregate and window functions"


class _Guard:
    """One connection's authorizer; remembers what it refused last, to name it in the error."""

    def __init__(self, tables: frozenset[str]) -> None:
        self.tables = tables
        self.refused: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action in _ALWAYS_ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # An empty column: a FROM item (a CTE, say) none of whose columns is read.
            if arg1 in self.tables or arg2 == "":
                return sqlite3.SQLITE_OK
            refused = f"reading {arg1} is not allowed in a query ({self.readable()})"
        elif action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in READER_FUNCTIONS:
                return sqlite3.SQLITE_OK
            refused = (
                f"the SQL function {arg2}() is not allowed in a query; "
                f"allowed are the {_CATEGORIES}"
            )
        elif action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            # What a table function's constructor does first (json_each and json_tree
            # are connected before the authorizer is set), or a write to the schema.
            refused = (
                "table functions other than json_each and json_tree are not allowed in a "
                "query (no pragma_* functions, dbstat, ...)"
            )
        else:
            refused = (
                "only a single read-only SELECT over the store's tables is allowed "
                "(no writes, PRAGMA, ATTACH or VACUUM)"
            )
        if self.refused is None:  # the first refusal is the one the caller wrote
            self.refused = refused
        return sqlite3.SQLITE_DENY

    def readable(self) -> str:
        tables = ", ".join(sorted(t for t in self.tables if not t.startswith("sqlite_")))
        return f"readable: {tables}"


@dataclass(eq=False)
class _Connection:
    db: sqlite3.Connection
    guard: _Guard
    generation: int


@dataclass(frozen=True, kw_only=True)
class GuardedResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class _AnswerTooLarge(Exception):
    def __init__(self, rows: int) -> None:
        super().__init__(rows)
        self.rows = rows


_TEMP_CHECK_S = 0.1


def _sqlite_temp_dir() -> str | None:
    """Where SQLite's unix VFS puts temporary files (sorts, big GROUP BY, DISTINCT)."""
    for candidate in (
        os.environ.get("SQLITE_TMPDIR"),
        os.environ.get("TMPDIR"),
        "/var/tmp",
        "/usr/tmp",
        "/tmp",
        ".",
    ):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _temp_free() -> int | None:
    """Free bytes where SQLite writes temporary files; None if that cannot be read.

    SQLite unlinks a temporary file as it opens it, so no file shows its size:
    the filesystem's free space is what a spilling query uses up.
    """
    directory = _sqlite_temp_dir()
    if directory is None:
        return None
    try:
        stat = os.statvfs(directory)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _open(path: Path, settings: QuerySettings, generation: int) -> _Connection:
    """A locked-down connection (runs in a worker thread: opening reads the file)."""
    db = sqlite3.connect(
        f"file:{quote(str(path))}?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,  # used by one thread at a time, handed over by the pool
    )
    try:
        for pragma in (
            "PRAGMA query_only = 1",
            "PRAGMA busy_timeout = 1000",
            f"PRAGMA cache_size = -{max(64, settings.cache_bytes // 1024)}",
            "PRAGMA temp_store = FILE",
        ):
            db.execute(pragma).close()
        tables = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' "
                "AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        }
        # Connect the JSON table functions now: their constructor runs statements
        # (on sqlite_schema) that the authorizer below would refuse.
        db.execute("SELECT 1 FROM json_each('[]'), json_tree('[]')").close()
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, settings.max_value_bytes)
        db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS)
        db.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, settings.max_columns)
        db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        db.setlimit(sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0)
        guard = _Guard(frozenset({*tables, *_TABLE_FUNCTIONS, *_SCHEMA_TABLES}))
        db.set_authorizer(guard)
    except BaseException:
        db.close()
        raise
    return _Connection(db=db, guard=guard, generation=generation)


def _run(
    conn: _Connection,
    sql: str,
    params: Sequence[Any] | dict[str, Any],
    *,
    max_rows: int,
    max_bytes: int,
) -> GuardedResult:
    """Execute and read row by row, stopping at the row or byte cap (in the worker thread)."""
    conn.guard.refused = None
    cursor = conn.db.execute(sql, params)
    try:
        columns = [d[0] for d in cursor.description or ()]
        size = len(_encode(columns))
        rows: list[list[Any]] = []
        for row in cursor:
            if len(rows) == max_rows:
                return GuardedResult(columns=columns, rows=rows, truncated=True)
            out = list(map(_text, row)) if bytes in map(type, row) else list(row)
            size += len(_encode(out)) + 1  # the row as the answer's JSON has it
            if size > max_bytes:
                raise _AnswerTooLarge(len(rows))
            rows.append(out)
        return GuardedResult(columns=columns, rows=rows, truncated=False)
    finally:
        cursor.close()


def _size_text(n: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << (shift - 4)) == 0:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} bytes"


class GuardedPool:
    """The guarded connections and the per-caller accounting; `Reader.query` runs through it."""

    def __init__(self, *, path: Path, settings: QuerySettings) -> None:
        self.path = path
        self.settings = settings
        self.generation = 0
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._slots = anyio.Semaphore(max(1, settings.connections))
        self._threads = anyio.CapacityLimiter(max(1, settings.connections))
        self._per_caller: dict[str, int] = {}
        self._in_progress = 0
        self._closed = False

    @property
    def in_progress(self) -> int:
        """Queries waiting for a connection or running."""
        return self._in_progress

    def close(self) -> None:
        """Close the idle connections; interrupt the busy ones (closed when they come back)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.db.close()
        for conn in self._busy:
            conn.db.interrupt()

    async def run(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any],
        *,
        max_rows: int,
        timeout_s: float,
        arrived: float,
        caller: str | None,
    ) -> GuardedResult:
        """Run `sql` within `timeout_s` of `arrived` (`anyio.current_time()` when the call came).

        `caller` names who asks (None: the agent itself, not counted per caller).
        """
        held = self._per_caller.get(caller, 0) if caller is not None else 0
        if caller is not None and held >= self.settings.per_caller:
            raise QueryBusy(
                f"{caller} already has {held} queries in progress, the most one client may "
                "have (--query-per-client): wait for one to finish"
            )
        if caller is not None:
            self._per_caller[caller] = held + 1
        self._in_progress += 1
        try:
            return await self._run_within(
                sql, params, max_rows=max_rows, deadline=arrived + timeout_s, timeout_s=timeout_s
            )
        finally:
            self._in_progress -= 1
            if caller is not None:
                left = self._per_caller[caller] - 1
                if left:
                    self._per_caller[caller] = left
                else:
                    del self._per_caller[caller]

    async def _run_within(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any],
        *,
        max_rows: int,
        deadline: float,
        timeout_s: float,
    ) -> GuardedResult:
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as waiting:
            await self._slots.acquire()
        if waiting.cancelled_caught:
            raise QueryTimeout(
                f"query not started within its {timeout_s:g} s time cap: all "
                f"{self.settings.connections} query connections were busy with other queries "
                "(the cap counts from the call's arrival, waiting included); try again"
            )
        try:
            conn = await self._take()
            try:
                return await self._execute(
                    conn, sql, params, max_rows=max_rows, deadline=deadline, timeout_s=timeout_s
                )
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    async def _take(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.generation == self.generation:
                break
            conn.db.close()
        else:
            try:
                conn = await anyio.to_thread.run_sync(
                    _open, self.path, self.settings, self.generation, limiter=self._threads
                )
            except (sqlite3.Error, OSError) as e:
                raise translate(e, self.path) from e
        self._busy.add(conn)
        return conn

    def _give_back(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if self._closed or conn.generation != self.generation:
            conn.db.close()
        else:
            self._idle.append(conn)

    async def _execute(
        self,
        conn: _Connection,
        sql: str,
        params: Sequence[Any] | dict[str, Any],
        *,
        max_rows: int,
        deadline: float,
        timeout_s: float,
    ) -> GuardedResult:
        over_temp = False

        async def watch() -> None:
            """Interrupt at the deadline, or once the query has taken too much temp space."""
            nonlocal over_temp
            baseline = _temp_free()
            try:
                while (left := deadline - anyio.current_time()) > 0:
                    await anyio.sleep(min(left, _TEMP_CHECK_S))
                    free = _temp_free()
                    used = baseline - free if baseline is not None and free is not None else 0
                    if used > self.settings.max_temp_bytes:
                        over_temp = True
                        return
            finally:
                # The deadline passed, the temp cap was hit, or the call ended (done, or
                # cancelled: the client is gone). A no-op once the statement is done:
                # SQLite ignores an interrupt while no statement runs.
                conn.db.interrupt()

        def work() -> GuardedResult | Exception:
            # Handed back rather than raised: the task group would wrap it in a group.
            try:
                return _run(
                    conn, sql, params, max_rows=max_rows, max_bytes=self.settings.max_answer_bytes
                )
            except Exception as e:  # re-raised below, as is
                return e

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            outcome = await anyio.to_thread.run_sync(work, limiter=self._threads)
            tg.cancel_scope.cancel()
        if isinstance(outcome, GuardedResult):
            return outcome
        try:
            raise outcome
        except _AnswerTooLarge as e:
            raise QueryTooLarge(
                f"the answer exceeded {_size_text(self.settings.max_answer_bytes)} after "
                f"{e.rows} rows (--query-max-bytes): select fewer columns, use substr() or "
                "json_extract() for parts of big values, or LIMIT"
            ) from None
        except sqlite3.Error as e:
            if over_temp and "interrupted" in str(e):
                raise QueryTooLarge(
                    f"the query needed more than {_size_text(self.settings.max_temp_bytes)} "
                    "of temporary storage (--query-max-temp-bytes), sorting or grouping "
                    "many rows (a join without conditions?): add WHERE conditions, or "
                    "ORDER BY/GROUP BY fewer rows"
                ) from None
            raise self._error(e, conn, timeout_s) from e
        except UnicodeError as e:
            raise InvalidQuery(f"SQL and its parameters must be valid UTF-8 text: {e}") from None
        except (ValueError, TypeError, OverflowError) as e:
            raise InvalidQuery(f"bad parameters for SQL: {e}") from e

    def _error(self, e: sqlite3.Error, conn: _Connection, timeout_s: float) -> StoreError:
        """The caller's mistake or a cap (InvalidQuery), the time cap, or the disk's."""
        text = str(e)
        name = getattr(e, "sqlite_errorname", "") or ""
        if name == "SQLITE_INTERRUPT" or "interrupted" in text:
            return QueryTimeout(
                f"query interrupted at its {timeout_s:g} s time cap (counted from the call's "
                "arrival): narrow it with WHERE on indexed columns (namespace, name, status, "
                "node) or LIMIT"
            )
        if name == "SQLITE_TOOBIG" or "too big" in text:
            return QueryTooLarge(
                f"a value exceeded {_size_text(self.settings.max_value_bytes)}, the cap per "
                "value (--query-max-value-bytes): select a part of it, e.g. "
                "json_extract(obj, '$.status') or substr(obj, 1, 2000)"
            )
        if "too many columns" in text:
            return QueryTooLarge(
                f"SQL error: {text}; at most {self.settings.max_columns} columns "
                "(--query-max-columns): "
                "select the columns you need"
            )
        if conn.guard.refused is not None and ("authoriz" in text or "prohibited" in text):
            return InvalidQuery(conn.guard.refused)
        if text.startswith("vtable constructor failed"):
            # A table function other than json_each/json_tree (dbstat, ...): its
            # constructor runs statements the authorizer refuses.
            module = text.rpartition(":")[2].strip()
            return InvalidQuery(
                f"reading {module} is not allowed in a query ({conn.guard.readable()})"
            )
        if classify(e) != "other":
            return translate(e, self.path)
        if "authoriz" in text or "prohibited" in text or "readonly" in text:
            return InvalidQuery(
                "only a single read-only SELECT over the store's tables is allowed "
                f"(no writes, PRAGMA, ATTACH or VACUUM): {text}"
            )
        return InvalidQuery(f"SQL error: {text}")


def check_sql(sql: object) -> str:
    """The SQL text, or InvalidQuery when it is not one."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidQuery("empty SQL")
    if len(sql) > MAX_SQL_CHARS:
        raise InvalidQuery(f"SQL longer than {MAX_SQL_CHARS} characters")
    return sql
