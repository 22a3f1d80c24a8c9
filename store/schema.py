"""The database schema and its migrations, versioned by `PRAGMA user_version`.

`MIGRATIONS[i]` upgrades a database from version `i` to `i + 1`, each inside
its own transaction together with the version bump, so a crash mid-upgrade
leaves the previous version intact. A file newer than this code knows is
refused (`CorruptStore`): the store moves it aside rather than guess.

After the migrations, `ensure_tables` creates the table of a kind registered
since the file was made, and `ensure_columns` adds a column for any row field
a kind gained since its table was created (see `store.columns`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from kinds.registry import STORED
from store.columns import TABLES, Column, TableSpec
from store.errors import CorruptStore
from store.model import Kind

__all__ = ["LATEST_VERSION", "MIGRATIONS", "ensure_columns", "ensure_tables", "migrate"]

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]


def _column_sql(column: Column) -> str:
    return f"{column.name} {column.sql_type}"


def _table_sql(spec: TableSpec) -> str:
    cols = [
        "uid TEXT PRIMARY KEY NOT NULL" if c.name == "uid" else _column_sql(c)
        for c in spec.model_columns
    ]
    return f"CREATE TABLE {spec.table} ({', '.join(cols)})"


async def _v1_tables(conn: aiosqlite.Connection) -> None:
    """Kind tables, history and sync state: what the first release shipped."""
    for spec in TABLES.values():
        await conn.execute(_table_sql(spec))
        await conn.execute(
            f"CREATE UNIQUE INDEX {spec.table}_name ON {spec.table}(namespace, name)"
        )
        await conn.execute(
            f"CREATE INDEX {spec.table}_status ON {spec.table}(status, namespace, name)"
        )
    pods = TABLES[Kind.POD].table
    await conn.execute(f"CREATE INDEX {pods}_node ON {pods}(node, namespace, name)")
    await conn.execute(f"CREATE INDEX {pods}_deployment ON {pods}(namespace, deployment, name)")
    await conn.execute(f"CREATE INDEX {pods}_phase ON {pods}(phase, namespace, name)")
    await conn.execute(
        """CREATE TABLE transitions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            uid TEXT NOT NULL,
            field TEXT NOT NULL,
            old TEXT,
            new TEXT,
            severity TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT ''
        )"""
    )
    await conn.execute("CREATE INDEX transitions_at ON transitions(at)")
    await conn.execute("CREATE INDEX transitions_object ON transitions(kind, namespace, name, at)")
    await conn.execute(
        """CREATE TABLE sync_state (
            kind TEXT PRIMARY KEY NOT NULL,
            resource_version TEXT,
            synced INTEGER NOT NULL DEFAULT 0,
            last_list_at REAL,
            last_event_at REAL,
            objects INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )"""
    )


async def _v2_problems(conn: aiosqlite.Connection) -> None:
    """Health findings flag with partial indexes; pod context and lookups on history.

    `problem` lets the health report and "problems only" lists read the few
    flagged rows instead of the whole table; `node`/`deployment` on history
    make "restarts in the last hour" by node or deployment one indexed scan.
    """
    for spec in TABLES.values():
        await conn.execute(
            f"ALTER TABLE {spec.table} ADD COLUMN problem INTEGER NOT NULL DEFAULT 0"
        )
        await conn.execute(
            f"CREATE INDEX {spec.table}_problem ON {spec.table}(problem) WHERE problem > 0"
        )
    await conn.execute("ALTER TABLE transitions ADD COLUMN node TEXT")
    await conn.execute("ALTER TABLE transitions ADD COLUMN deployment TEXT")
    await conn.execute("CREATE INDEX transitions_field ON transitions(field, at)")
    await conn.execute("CREATE INDEX transitions_uid ON transitions(uid, field, at)")


async def _v3_no_uid_index_on_history(conn: aiosqlite.Connection) -> None:
    """Drop `transitions_uid`: it cost more than any other part of recording a change.

    Uids are random, so each recorded transition landed on a random leaf of
    that index, and with a history of 200k rows a batch of a few thousand
    changes rewrote most of its leaves: inserting into history took 15-22 us
    per row with it and 4.6-6.1 without (150k pods, batches of 3,000). No
    query needs it: per-object history goes by kind, namespace and name
    (`transitions_object`), which also dates reloaded findings
    (`store.memory`); a filter on uid alone scans.
    """
    await conn.execute("DROP INDEX IF EXISTS transitions_uid")


async def _v4_cluster_and_confirmation(conn: aiosqlite.Connection) -> None:
    """Which cluster the file caches (`meta`), and when each kind was last confirmed.

    `meta` holds small facts about the file as key/value text; the cluster
    identity (`store.cluster`) is the first. `confirmed_at` is the last proof
    that a kind's watch was alive: after a restart it is the age the
    restored rows are served with, until the first list of the new process.
    A file from before this version takes its last list or event time.
    """
    await conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
    await conn.execute("ALTER TABLE sync_state ADD COLUMN confirmed_at REAL")
    await conn.execute(
        "UPDATE sync_state SET confirmed_at = CASE "
        "WHEN last_list_at IS NULL THEN last_event_at "
        "WHEN last_event_at IS NULL THEN last_list_at "
        "ELSE max(last_list_at, last_event_at) END"
    )


MIGRATIONS: list[Migration] = [
    _v1_tables,
    _v2_problems,
    _v3_no_uid_index_on_history,
    _v4_cluster_and_confirmation,
]
LATEST_VERSION = len(MIGRATIONS)


async def user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, *, target: int = LATEST_VERSION) -> int:
    """Upgrade to `target`; returns the version found before upgrading.

    The connection must be in autocommit mode (isolation_level None): each
    step opens its own IMMEDIATE transaction so no reader sees half a schema.
    """
    found = await user_version(conn)
    if found > LATEST_VERSION:
        raise CorruptStore(
            f"database schema version {found} is newer than this agent knows ({LATEST_VERSION})"
        )
    for version in range(found, target):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await MIGRATIONS[version](conn)
            await conn.execute(f"PRAGMA user_version = {version + 1}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    return found


async def ensure_tables(conn: aiosqlite.Connection) -> list[str]:
    """Create the table of any kind registered since the file was made; returns their names.

    A kind's table carries the indexes every kind has (name, status,
    problems) and one per extra indexed column of the kind
    (`KindSpec.indexed`), as `(column, namespace, name)`.
    """
    async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
        present = {r[0] for r in await cur.fetchall()}
    created: list[str] = []
    for spec in TABLES.values():
        if spec.table in present:
            continue
        t = spec.table
        cols = [
            "uid TEXT PRIMARY KEY NOT NULL" if c.name == "uid" else _column_sql(c)
            for c in spec.model_columns
        ]
        cols.append("problem INTEGER NOT NULL DEFAULT 0")
        await conn.execute(f"CREATE TABLE {t} ({', '.join(cols)})")
        await conn.execute(f"CREATE UNIQUE INDEX {t}_name ON {t}(namespace, name)")
        await conn.execute(f"CREATE INDEX {t}_status ON {t}(status, namespace, name)")
        await conn.execute(f"CREATE INDEX {t}_problem ON {t}(problem) WHERE problem > 0")
        for column in sorted(STORED[spec.kind].indexed - _COMMON_INDEXED):
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {t}_{column} ON {t}({column}, namespace, name)"
            )
        created.append(t)
    return created


_COMMON_INDEXED = frozenset({"uid", "namespace", "name", "status", "problem"})


async def ensure_columns(conn: aiosqlite.Connection) -> list[str]:
    """Add columns for row fields the model gained; returns what was added."""
    added: list[str] = []
    for spec in TABLES.values():
        async with conn.execute(f"PRAGMA table_info({spec.table})") as cur:
            present = {r[1] for r in await cur.fetchall()}
        for column in spec.columns:
            if column.name not in present:
                await conn.execute(f"ALTER TABLE {spec.table} ADD COLUMN {_column_sql(column)}")
                added.append(f"{spec.table}.{column.name}")
    return added
