"""Connection config: in-cluster (TLS, token rotation), kubeconfig, explicit, errors."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from simulator.server import Simulator
from store.model import Kind
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import FAST, MemorySink
from watcher import ApiError, ConfigError, Informers, TransportError, load_connection
from watcher.transport import ApiTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tls_sim() -> AsyncIterator[Simulator]:
    async with Simulator(bookmark_interval=0.3, tls=True, token="token-one") as s:
        s.store.create("pods", make_pod("p0"))
        yield s


def service_account(tmp_path: Path, sim: Simulator, token: str) -> Path:
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(token)
    assert sim.ca_path is not None
    shutil.copy(sim.ca_path, sa / "ca.crt")
    return sa


def rotate(sa: Path, token: str) -> None:
    """Replace the token file atomically, as the kubelet swaps projected volumes."""
    tmp = sa / ".token.new"
    tmp.write_text(token)
    os.replace(tmp, sa / "token")


async def test_in_cluster_with_tls_and_rotated_token(tls_sim: Simulator, tmp_path: Path) -> None:
    sa = service_account(tmp_path, tls_sim, "token-one")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(tls_sim.port)}
    conn = await load_connection(service_account_dir=sa, environ=env)
    assert conn.source == "in-cluster"
    assert conn.host == f"https://127.0.0.1:{tls_sim.port}"
    sink = MemorySink()
    informers = Informers(conn, sink, kinds=("pods",), settings=FAST)
    async with conn, anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        with anyio.fail_after(5):
            await informers.wait_synced()
        assert len(sink.rows[Kind.POD]) == 1

        # The kubelet rotates the token; the server stops accepting the old one.
        rotate(sa, "token-two")
        tls_sim.token = "token-two"
        tls_sim.faults.close_watches_after(1, streams=1, resource="pods")
        set_pod_state(tls_sim, "p0", waiting="CrashLoopBackOff", ready=False)
        tls_sim.store.create("pods", make_pod("p1"))
        await sink.until(lambda: len(sink.rows[Kind.POD]) == 2)
        assert {r.status for r in sink.rows[Kind.POD].values()} == {"CrashLoopBackOff", "Pending"}
        assert not any(result == "401" for (_, _, result) in informers.stats.requests)
        assert informers.stats.restarts[("pods", "closed")] >= 1
        tg.cancel_scope.cancel()


async def test_kubeconfig_with_context(tls_sim: Simulator, tmp_path: Path) -> None:
    path = tls_sim.write_kubeconfig(tmp_path / "kubeconfig")
    conn = await load_connection(kubeconfig=path, context="kube-watchcache-sim")
    async with conn:
        body = await ApiTransport(conn.api).get("/api/v1/pods", [], request_timeout=5)
    assert b'"p0"' in body
    assert "context kube-watchcache-sim" in conn.source


async def test_tls_is_verified_by_default(tls_sim: Simulator) -> None:
    async with await load_connection(server=tls_sim.url, token="token-one") as conn:
        with pytest.raises(TransportError, match=r"(?i)certificate"):
            await ApiTransport(conn.api).get("/api/v1/pods", [], request_timeout=5)


async def test_api_errors_are_translated(tls_sim: Simulator) -> None:
    assert tls_sim.ca_path is not None
    async with await load_connection(
        server=tls_sim.url, token="wrong", ca_cert=tls_sim.ca_path
    ) as conn:
        with pytest.raises(ApiError) as info:
            await ApiTransport(conn.api).get("/api/v1/pods", [], request_timeout=5)
    assert info.value.status == 401
    assert "Unauthorized" in str(info.value)


async def test_connection_refused_is_a_transport_error() -> None:
    async with Simulator() as sim:
        url = sim.url
    async with await load_connection(server=url) as conn:
        with pytest.raises(TransportError) as info:
            await ApiTransport(conn.api).get("/api/v1/pods", [], request_timeout=2)
    assert info.value.__cause__ is not None


async def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="http"):
        await load_connection(server="127.0.0.1:6443")
    with pytest.raises(ConfigError, match="does not exist"):
        await load_connection(kubeconfig=tmp_path / "missing")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(ConfigError, match="in-cluster"):
        await load_connection(service_account_dir=tmp_path, environ=env)
    with pytest.raises(ConfigError, match="in-cluster"):
        await load_connection(in_cluster=True, service_account_dir=tmp_path, environ={})
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\ncontexts: []\nclusters: []\nusers: []\n")
    with pytest.raises(ConfigError, match="unusable"):
        await load_connection(kubeconfig=bad, context="nope")
