"""`open_store`: the store's lifespan — open, run the writer task, close cleanly.

The store is one resource with one owner: the composition root opens it
once, hands `store.writer` to the informers and `store.reader` to the MCP
server and the metrics, and closes it on shutdown (queued deltas are
committed first, within `close_timeout_s`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from store.cluster import ClaimOutcome
from store.errors import StoreError
from store.model import ClusterIdentity, Kind
from store.reader import Reader
from store.settings import StoreSettings
from store.summaries import (
    ClusterSummary,
    DeploymentSummary,
    NamespaceSummary,
    NodeSummary,
    cluster_summary,
    deployment_summaries,
    namespace_summaries,
    node_summaries,
)
from store.view import View
from store.writer import Writer

__all__ = ["Store", "open_store"]

log = logging.getLogger("store")

HOUR = 3600.0


class Store:
    """An open store: `writer` (the DeltaSink), `reader`, `view`, and its health.

    `healthy` is False while the file cannot be written (full disk,
    read-only filesystem...) and `last_error` says why; `/ready` reads both.
    """

    def __init__(self, path: Path, settings: StoreSettings) -> None:
        self.path = path
        self.settings = settings
        self.view = View()
        self.writer = Writer(path=path, settings=settings, view=self.view)
        self.reader = Reader(
            path=path,
            settings=settings,
            view=self.view,
            health=lambda: (self.writer.healthy, self.writer.last_error),
        )
        self.writer.on_reset(self.reader.invalidate)
        self.cluster: ClusterIdentity | None = None  # once claimed

    @property
    def healthy(self) -> bool:
        return self.writer.healthy

    async def claim(self, cluster: ClusterIdentity) -> ClaimOutcome:
        """Make the file `cluster`'s before anything of it is written (`store.cluster`).

        Until then the rows restored from the file are served, every kind
        unsynced (stale); a file of another cluster is moved aside here.
        """
        outcome = await self.writer.claim(cluster)
        self.cluster = outcome.cluster
        return outcome

    @property
    def last_error(self) -> str | None:
        return self.writer.last_error

    # Summaries need the view and one history query; they live here so both are at hand.

    async def cluster_summary(self, *, top: int = 5, now: float | None = None) -> ClusterSummary:
        """Cluster totals and short top-N lists; cost independent of the pod count."""
        now = time.time() if now is None else now
        by_dep = await self.reader.restarts_since(now - HOUR, by="namespace_deployment")
        by_ns: dict[str, int] = {}
        for (namespace, _deployment), n in by_dep.items():
            by_ns[namespace] = by_ns.get(namespace, 0) + n
        by_dep = {k: n for k, n in by_dep.items() if k[1] is not None}
        return cluster_summary(
            self.view, restarts_by_namespace=by_ns, restarts_by_deployment=by_dep, now=now, top=top
        )

    async def namespace_summaries(
        self,
        *,
        namespace: str | None = None,
        sort_by: str = "pods",
        limit: int = 50,
        now: float | None = None,
    ) -> list[NamespaceSummary]:
        now = time.time() if now is None else now
        restarts = await self.reader.restarts_since(now - HOUR, by="namespace")
        return namespace_summaries(
            self.view, restarts, namespace=namespace, sort_by=sort_by, limit=limit
        )

    async def node_summaries(
        self,
        *,
        node: str | None = None,
        sort_by: str = "cpu_requested_pct",
        limit: int = 50,
        now: float | None = None,
    ) -> list[NodeSummary]:
        now = time.time() if now is None else now
        restarts = await self.reader.restarts_since(now - HOUR, by="node")
        return node_summaries(self.view, restarts, node=node, sort_by=sort_by, limit=limit)

    async def deployment_summaries(
        self,
        *,
        namespace: str | None = None,
        name: str | None = None,
        sort_by: str = "unavailable",
        limit: int = 50,
        now: float | None = None,
    ) -> list[DeploymentSummary]:
        now = time.time() if now is None else now
        restarts = await self.reader.restarts_since(now - HOUR, by="deployment")
        return deployment_summaries(
            self.view, restarts, namespace=namespace, name=name, sort_by=sort_by, limit=limit
        )

    def counts(self) -> dict[str, Any]:
        """Cluster-wide gauges from memory, for Prometheus collectors (no I/O, no await)."""
        return {
            "pods_by_phase": dict(self.view.cluster.phases),
            "pods_by_status": dict(self.view.cluster.statuses),
            "pods_by_namespace": {ns: t.pods for ns, t in self.view.by_namespace.items()},
            "nodes_by_status": dict(self.view.node_statuses),
            "deployments_by_status": dict(self.view.deployment_statuses),
            "objects": {k.value: self.view.objects(k) for k in Kind},
            "healthy": self.healthy,
        }


@asynccontextmanager
async def open_store(
    path: str | Path,
    *,
    settings: StoreSettings | None = None,
    close_timeout_s: float = 10.0,
    fail_if_unwritable: bool = False,
) -> AsyncIterator[Store]:
    """Open (or create) the store at `path` and run its writer until the block exits.

    A damaged file is moved aside and replaced by an empty store (one log
    line). A file that cannot be written does not raise: the store comes up
    unhealthy (`store.healthy`, `store.last_error`), readers raise
    StoreUnavailable, and the writer keeps retrying in the background.
    With `fail_if_unwritable` it raises that StoreUnavailable instead (a
    program starting up would rather say so and stop), and logs nothing.
    """
    store = Store(Path(path), settings or StoreSettings())
    if fail_if_unwritable:
        try:
            await store.writer._connect()  # what `open` does, without turning errors into state
        except StoreError:
            await store.writer.aclose_connection()
            raise
    else:
        await store.writer.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.writer.run)
        try:
            yield store
        finally:
            store.writer.close_queue()
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(close_timeout_s) as scope:
                    await store.writer.wait_closed()
                if scope.cancelled_caught:
                    log.error(
                        "store: writer did not finish within %.0f s; closing anyway",
                        close_timeout_s,
                    )
                    tg.cancel_scope.cancel()
                    await store.writer.wait_closed()
                await store.reader.aclose()
                await store.writer.aclose_connection()
