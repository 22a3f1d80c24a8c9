"""Every tunable of the store in two documented settings objects.

`StoreSettings` is the writer, readers and history retention; `HealthSettings`
holds the health analyzers' thresholds. Both are frozen structs so one object
can be shared by the writer (which detects problems) and the report (which
applies the age thresholds) without either drifting.
"""

from __future__ import annotations

import msgspec

from kinds.common import HealthSettings

__all__ = ["HealthSettings", "QuerySettings", "StoreSettings"]


class QuerySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds of the guarded SQL entry point (`Reader.query`), which runs a caller's SQL.

    The caller may be hostile, so every dimension is capped: `connections`
    guarded connections run queries (each in its own thread, away from the
    ordinary read pool, so other reads never wait behind one); one `caller`
    has at most `per_caller` queries in progress (waiting or running) and
    more are refused at once. Every value SQLite builds (a cell, or an
    intermediate such as a `group_concat`) is capped at `max_value_bytes`
    (SQLITE_LIMIT_LENGTH), a row at `max_columns` columns, and the answer at
    `max_answer_bytes` (its JSON size): rows are read one at a time and the
    read stops at the cap, so one query holds at most about
    4 x `max_columns` x `max_value_bytes` (SQLite's row and its copies, then
    Python's; 64 MiB at the defaults, measured) plus `cache_bytes` of SQLite's
    page cache and sort memory. Larger sorts go to temporary files; a query whose
    temporary files take more than `max_temp_bytes` (measured as the free
    space it used up where SQLite writes them, so other writers to that
    filesystem count too) is stopped.
    """

    connections: int = 3
    per_caller: int = 2
    max_answer_bytes: int = 1 << 20
    max_value_bytes: int = 256 << 10
    max_columns: int = 64
    cache_bytes: int = 8 << 20
    max_temp_bytes: int = 128 << 20


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the store batches, retains and reads.

    `batch_rows`/`batch_interval_s`: the writer commits when a batch holds this
    many deltas or when its first delta has waited this long, whichever comes
    first, so a lone event reaches subscribers within `batch_interval_s` plus
    one commit. `queue_size` bounds memory in rows (a `put_many` or relist counts
    each of its rows): `put` waits while that many rows are queued.
    """

    batch_rows: int = 5000
    batch_interval_s: float = 0.010
    queue_size: int = 10_000
    # History retention: whichever limit is hit first.
    history_max_age_s: float = 7 * 86400.0
    history_max_rows: int = 1_000_000
    retention_interval_s: float = 60.0
    read_connections: int = 3
    # After committing a batch this large (a relist), checkpoint the WAL right away.
    checkpoint_after_rows: int = 20_000
    # Retry cadence while the file cannot be written (disk full, read-only).
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    # Optional cap on the database size, in bytes (PRAGMA max_page_count);
    # a store at the cap behaves as on a full disk.
    max_db_bytes: int | None = None
    # Run PRAGMA quick_check when opening an existing file.
    check_on_open: bool = True
    # How the watcher trimmed the objects this run stores (a label, e.g.
    # "env-values-redacted"). A file whose objects were stored under another
    # label may hold what this run must not show (environment values stored by
    # a run with --reveal-env-values): they are dropped at open, before any
    # reader sees them, and the first list stores them again. History stays.
    stored_object_policy: str = "env-values-redacted"
    health: HealthSettings = HealthSettings()
    query: QuerySettings = QuerySettings()
