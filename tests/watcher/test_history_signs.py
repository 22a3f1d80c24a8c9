"""What one history sends is never taken for another history's sign.

The store takes a MODIFIED or DELETED for a uid it does not hold, while
another uid holds that name, as the API server's history changed under the
watch (`store.memory`). A namespace's relist (namespace-list scope) that
finds a name created again while the agent was away must hand the old uid's
DELETED before the new uid's row, as one history would: the other way round,
the new row takes the name first and the DELETED looks like that sign.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from simulator.server import Simulator
from store.model import Kind
from store.service import open_store
from store.settings import StoreSettings
from tests.watcher.cluster import ensure_namespace, make_pod
from tests.watcher.conftest import FAST
from watcher import Informers, load_connection

pytestmark = pytest.mark.anyio


async def test_a_name_created_again_while_away_is_no_sign_in_namespace_mode(
    tmp_path: Path,
) -> None:
    told: list[tuple[Kind, str]] = []
    async with (
        Simulator(bookmark_interval=0.3, window=2000) as sim,
        open_store(tmp_path / "s.db", settings=StoreSettings(batch_interval_s=0.005)) as store,
    ):
        ensure_namespace(sim, "shop")
        first = sim.store.create("pods", make_pod("web", namespace="shop"))["metadata"]["uid"]
        conn = await load_connection(server=sim.url)
        informers = Informers(
            conn, store.writer, kinds=("pods",), namespaces=["shop"], settings=FAST
        )
        store.writer.on_history_changed(lambda kind, error: told.append((kind, error)))
        store.writer.on_history_changed(informers.history_changed)

        async def held_uid() -> str | None:
            await store.writer.flush()
            pod = await store.reader.get_pod("shop", "web")
            return None if pod is None else pod.uid

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(informers.run)
                with anyio.fail_after(10):
                    await informers.wait_synced()
                assert await held_uid() == first

                # Away: the streams carry nothing while the name is deleted and created
                # again (a new uid), and the history they followed is compacted (410: relist).
                sim.faults.stall_watches()
                sim.store.delete("pods", "shop", "web", grace_period_seconds=0)
                again = sim.store.create("pods", make_pod("web", namespace="shop"))
                await sim.restart(compact=True)
                sim.faults.release_stalls()
                with anyio.fail_after(10):
                    while await held_uid() != again["metadata"]["uid"]:
                        committed = anyio.Event()
                        undo = store.writer.on_commit(lambda _n, _s, e=committed: e.set())
                        try:
                            await committed.wait()
                        finally:
                            undo()
                await store.writer.flush()
                assert told == []
                assert store.reader.sync_states()[Kind.POD].error is None
                assert informers.stats.relist_reasons[("pods", "gone")] >= 1
                assert not informers.stats.relist_reasons[("pods", "history-reset")]
                tg.cancel_scope.cancel()
        finally:
            await conn.close()
