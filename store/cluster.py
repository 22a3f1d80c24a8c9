"""Which cluster a state file caches: the identity in its `meta` table, and the claim rule.

A state file is a cache of one cluster. Opened by an agent watching another
one (a laptop's kube context switched, `--db` left at its default), its rows
would be served as that cluster's until the first list replaced them, and its
history would stay mixed with the new cluster's for good. So the composition
root reads the cluster's identity from the API server before the informers
write anything, and *claims* the file (`store.writer.Writer.claim`):

- a file with no identity and no data (new, or only sync state) records it;
- a file recorded for the same cluster (`ClusterIdentity.same_cluster`)
  continues, and records what is better known now (a uid readable since);
- a file of another cluster, or with data of an unknown one (written before
  identities were recorded), is moved aside whole, history with it, and the
  store starts empty. History is never mixed across clusters.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

import aiosqlite

from store.columns import TABLES
from store.model import ClusterIdentity

__all__ = ["ClaimOutcome", "ClaimVerdict", "holds_data", "read_identity", "record_identity"]

_UID_KEY = "cluster.kube_system_uid"
_SERVER_KEY = "cluster.server"


class ClaimVerdict(enum.StrEnum):
    RECORDED = "recorded"  # the file was new to any cluster
    SAME = "same"  # the file caches this cluster already
    MOVED_ASIDE = "moved-aside"  # another cluster's (or an unknown one's) file, moved aside


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClaimOutcome:
    verdict: ClaimVerdict
    cluster: ClusterIdentity
    previous: ClusterIdentity | None = None  # what the file said before, if anything
    moved_to: Path | None = None  # where the other cluster's file went


async def read_identity(conn: aiosqlite.Connection) -> ClusterIdentity | None:
    """The identity the file records, or None (a new file, or one from before identities)."""
    async with conn.execute(
        "SELECT key, value FROM meta WHERE key IN (?, ?)", (_UID_KEY, _SERVER_KEY)
    ) as cur:
        values: dict[str, str] = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
    server = values.get(_SERVER_KEY)
    if server is None:
        return None
    return ClusterIdentity(server=server, uid=values.get(_UID_KEY))


async def holds_data(conn: aiosqlite.Connection) -> bool:
    """Whether the file holds any object or any history (sync state alone is no data)."""
    for table in [spec.table for spec in TABLES.values()] + ["transitions"]:
        async with conn.execute(f"SELECT 1 FROM {table} LIMIT 1") as cur:
            if await cur.fetchone() is not None:
                return True
    return False


async def record_identity(conn: aiosqlite.Connection, identity: ClusterIdentity) -> None:
    """Write `identity` into `meta`, in one transaction (the connection is in autocommit)."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (_SERVER_KEY, identity.server),
        )
        if identity.uid:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_UID_KEY, identity.uid),
            )
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
