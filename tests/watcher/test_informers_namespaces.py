"""Namespace-list scope: one namespace that cannot be listed, and a store reset.

A Role-limited install watches a list of namespaces with one list/watch
each. These tests hold the informers to two promises of that mode: a
namespace the API server refuses (403, through `RbacProxy`) holds back no
other namespace's rows, is named in the kind's sync state and retried until
it lists, and keeps the kind not ready meanwhile; and after the store starts
over, the kind becomes synced again once every namespace has relisted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

from simulator.server import Simulator
from store.model import Delta, Kind, PodRow, SyncState
from store.service import open_store
from store.settings import StoreSettings
from tests.watcher.cluster import ensure_namespace, make_pod
from tests.watcher.conftest import FAST, MemorySink, NotifyingSink, informing
from tests.watcher.rbac_proxy import RbacProxy
from watcher import Informers, load_connection

pytestmark = pytest.mark.anyio


async def _pod_state(store: Any) -> SyncState:
    await store.writer.flush()
    return store.reader.sync_states()[Kind.POD]


async def test_an_unlistable_namespace_holds_back_no_other(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        Simulator(bookmark_interval=0.3) as sim,
        RbacProxy(sim.url, forbidden={"locked"}) as proxy,
        open_store(tmp_path / "s.db", settings=StoreSettings(batch_interval_s=0.01)) as store,
    ):
        for ns in ("shop", "locked"):
            ensure_namespace(sim, ns)
        sim.store.create("pods", make_pod("web", namespace="shop"))
        sim.store.create("pods", make_pod("db", namespace="locked"))
        # What an earlier run left in the store: a pod of the refused namespace.
        earlier = PodRow(
            uid="earlier-uid", namespace="locked", name="earlier", resource_version="1"
        )
        await store.writer.apply([Delta(Kind.POD, "ADDED", earlier)])

        sink = NotifyingSink(store.writer)
        conn = await load_connection(server=proxy.url)
        informers = Informers(
            conn, sink, kinds=("pods",), namespaces=["shop", "locked"], settings=FAST
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(informers.run)
                # The listable namespace is stored and served, and the refusal is on record.
                with anyio.fail_after(10):
                    while True:
                        changed = sink.marker()
                        state = await _pod_state(store)
                        web = await store.reader.get_pod("shop", "web")
                        if web is not None and state.error and proxy.refused >= 2:
                            break
                        await changed.wait()
                assert not state.synced  # not ready: a configured namespace is unlistable
                assert "namespace locked not listed" in state.error
                assert "403" in state.error
                assert "shop" not in state.error
                assert not informers.synced
                status = informers.namespace_status()["pods"]
                assert status["shop"] == "listed"
                assert "403" in status["locked"]
                # Retried with backoff, and said once in the log.
                assert proxy.refused >= 2
                warnings = [
                    r.getMessage()
                    for r in caplog.records
                    if r.levelno == logging.WARNING and "cannot be listed" in r.getMessage()
                ]
                assert len(warnings) == 1
                assert "namespace locked" in warnings[0]
                # Nothing of the refused namespace was deleted on a guess.
                assert await store.reader.get_pod("locked", "earlier") is not None

                # Access granted: the namespace lists, the kind is synced, the error clears.
                proxy.forbidden.clear()
                with anyio.fail_after(10):
                    await informers.wait_synced()
                state = await _pod_state(store)
                assert state.synced
                assert state.error is None
                assert await store.reader.get_pod("locked", "db") is not None
                # Only now, with every namespace listed, is what none of them has deleted.
                assert await store.reader.get_pod("locked", "earlier") is None
                assert informers.namespace_status() == {
                    "pods": {"shop": "listed", "locked": "listed"}
                }
                tg.cancel_scope.cancel()
        finally:
            await conn.close()


class ResettableSink(MemorySink):
    """A MemorySink that also keeps each kind's synced flag as the store does."""

    def __init__(self) -> None:
        super().__init__()
        self.synced: dict[Kind, bool] = dict.fromkeys(Kind, False)

    async def replace(self, kind: Kind, rows: Any, resource_version: str) -> None:
        await super().replace(kind, rows, resource_version)
        self.synced[kind] = True

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        self.synced[kind] = True
        await super().replace_end(kind, resource_version)

    async def sync(self, kind: Kind, **fields: Any) -> None:
        if fields.get("synced") is not None:
            self.synced[kind] = fields["synced"]
        await super().sync(kind, **fields)

    def reset(self) -> None:
        """What a corrupt store file moved aside leaves: nothing, and nothing synced."""
        for kind in Kind:
            self.rows[kind].clear()
            self.synced[kind] = False
        self._relisting.clear()


async def test_a_store_reset_syncs_the_kind_again_in_namespace_mode(sim: Simulator) -> None:
    for ns in ("a", "b"):
        ensure_namespace(sim, ns)
        for i in range(3):
            sim.store.create("pods", make_pod(f"{ns}{i}", namespace=ns))
    sink = ResettableSink()
    async with informing(sim, sink, kinds=("pods",), namespaces=["a", "b"]) as inf:
        assert sink.synced[Kind.POD]
        sink.reset()
        inf.relist()  # the store's on_reset hook
        await sink.until(lambda: sink.synced[Kind.POD] and len(sink.rows[Kind.POD]) == 6)
        assert inf.stats.relists["pods"] >= 4  # a and b, twice
