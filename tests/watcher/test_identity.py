"""The cluster's identity, read from the API server: the kube-system uid, else the URL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from simulator import ObjectStore, Scenario, SimClock, Simulator
from watcher import WatchSettings, load_connection, read_cluster_identity
from watcher.identity import wait_for_cluster_identity
from watcher.transport import ApiTransport

from .rbac_proxy import RbacProxy

pytestmark = pytest.mark.anyio


def _seeded(seed: int) -> ObjectStore:
    objects = ObjectStore(clock=SimClock(datetime.now(UTC)))
    Scenario(objects, seed=seed, nodes=2, deployments=1, churn=0.0).populate()
    return objects


async def test_the_kube_system_uid_names_a_seeded_cluster_across_restarts() -> None:
    seen = []
    for seed in (3, 3, 4):
        async with Simulator(store=_seeded(seed)) as sim:
            async with await load_connection(server=sim.url) as conn:
                identity = await read_cluster_identity(ApiTransport(conn.api), server=sim.url)
                await sim.restart()
                again = await read_cluster_identity(ApiTransport(conn.api), server=sim.url)
            assert again == identity
            assert identity.source == "kube-system namespace uid"
            assert (
                identity.uid == sim.store.get("namespaces", None, "kube-system")["metadata"]["uid"]
            )
            seen.append(identity.uid)
    assert seen[0] == seen[1]  # the same seed is the same cluster
    assert seen[0] != seen[2]  # two seeds are two clusters


async def test_a_role_limited_install_falls_back_to_the_api_server_url(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        RbacProxy(sim.url, forbidden={"kube-system"}) as proxy,
        await load_connection(server=proxy.url) as conn,
    ):
        identity = await read_cluster_identity(ApiTransport(conn.api), server=proxy.url + "/")
    assert proxy.refused == 1
    assert identity.uid is None
    assert identity.server == proxy.url
    assert identity.source == "API server URL"
    assert any("using the API server URL" in r.getMessage() for r in caplog.records)


async def test_an_unreachable_api_server_is_retried_until_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = WatchSettings(backoff_initial=0.05, backoff_max=0.1, connect_timeout=1.0)
    async with Simulator() as sim:
        url = sim.url
        await sim.stop()
        failures: list[str] = []

        async def failed(message: str) -> None:
            failures.append(message)
            if len(failures) == 2:
                await sim.start()  # back on the same address

        with caplog.at_level(logging.WARNING, logger="watcher.identity"):
            async with await load_connection(server=url) as conn:
                identity = await wait_for_cluster_identity(
                    conn, settings=settings, on_failure=failed
                )
    assert len(failures) == 2
    assert all("cannot read the cluster's identity" in f for f in failures)
    assert identity.uid is not None
