"""The real kubectl (client-go) against the simulator: discovery, tables, patch, watch.

client-go sends no bearer token over plain http, so these run with TLS and a
token, exactly as a user of `kube-watchcache simulate --tls` would.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from simulator import ObjectStore, Scenario, SimClock, Simulator

from .kit import make_pod, populate

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine"),
]


@asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Simulator, list[str]]]:
    """A populated TLS simulator and the kubectl argv prefix that reaches it."""
    async with Simulator(token="kubectl-test-token", tls=True) as sim:
        populate(sim.store)
        config = sim.write_kubeconfig(tmp_path / "sim.kubeconfig")
        assert KUBECTL is not None
        yield sim, [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]


async def kubectl(argv: list[str], *args: str) -> list[list[str]]:
    """Run kubectl to completion; its stdout as whitespace-split rows."""
    with anyio.fail_after(30):
        result = await anyio.run_process([*argv, *args], check=False)
    assert result.returncode == 0, result.stderr.decode()
    return [line.split() for line in result.stdout.decode().splitlines() if line.strip()]


async def test_get_pods_all_namespaces(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (sim, argv):
        rows = await kubectl(argv, "get", "pods", "-A")
        assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert [r[:4] for r in rows[1:]] == [
            ["default", "web-7d4b9-0", "2/2", "Running"],
            ["default", "web-7d4b9-1", "2/2", "Running"],
            ["default", "web-7d4b9-2", "2/2", "Running"],
            ["shop", "cart-0", "2/2", "Pending"],
        ]
        assert sim.requests.count(verb="list", resource="pods") == 1


async def test_get_nodes(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (_, argv):
        rows = await kubectl(argv, "get", "no")
        assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert [(r[0], r[1], r[4]) for r in rows[1:]] == [
            ("node-1", "Ready", "v1.32.0"),
            ("node-2", "Ready", "v1.32.0"),
        ]


async def test_get_deployments_wide(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (_, argv):
        rows = await kubectl(argv, "get", "deploy", "-A", "-o", "wide")
        assert rows[0] == [
            "NAMESPACE",
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR",
        ]
        assert rows[1][:5] == ["default", "web", "2/2", "2", "2"]
        assert rows[1][6:] == ["app", "nginx:1.27", "app=web"]


async def test_patch_status_subresource(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (sim, argv):
        rows = await kubectl(
            argv,
            "patch",
            "pod",
            "web-7d4b9-0",
            "--subresource=status",
            "-p",
            '{"status":{"conditions":[{"type":"Ready","status":"False"}]}}',
        )
        assert rows == [["pod/web-7d4b9-0", "patched"]]
        pod = sim.store.get("pods", "default", "web-7d4b9-0")
        assert pod is not None
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions == {"PodScheduled": "True", "Ready": "False"}


async def test_watch_pods_sees_an_update(tmp_path: Path) -> None:
    async with cluster(tmp_path) as (sim, argv):
        process = await anyio.open_process([*argv, "get", "pods", "-A", "-w"])
        try:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            with anyio.fail_after(20):
                header = (await lines.receive_until(b"\n", 65536)).split()
                assert header[:2] == [b"NAMESPACE", b"NAME"]
                for _ in range(4):
                    await lines.receive_until(b"\n", 65536)
                await sim.wait_for_watches(1, resource="pods")
                pod = sim.store.get("pods", "shop", "cart-0")
                assert pod is not None
                pod["status"] = make_pod("cart-0", phase="Failed", ready=False)["status"]
                sim.store.update("pods", pod, subresource="status")
                update = (await lines.receive_until(b"\n", 65536)).split()
            assert update[:4] == [b"shop", b"cart-0", b"0/2", b"Failed"]
        finally:
            process.terminate()
            await process.aclose()


async def test_churned_deletions_show_terminating(tmp_path: Path) -> None:
    """A deleted pod is Terminating until its kubelet is done; on a lost node it stays."""
    clock = SimClock(datetime.now(UTC))
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store, seed=3, nodes=3, deployments=2, pods_per_deployment=2, namespaces=1, clock=clock
    )
    scenario.populate()
    async with Simulator(store=store, token="kubectl-test-token", tls=True) as sim:
        config = sim.write_kubeconfig(tmp_path / "sim.kubeconfig")
        assert KUBECTL is not None
        argv = [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]

        async def statuses() -> dict[str, str]:
            rows = await kubectl(argv, "get", "pods", "-A")
            return {row[1]: row[3] for row in rows[1:]}

        scenario.step("delete_pod")
        assert scenario.last_target is not None
        deleted = scenario.last_target[1]
        assert (await statuses())[deleted] == "Terminating"
        scenario.advance(5)
        assert deleted not in await statuses()

        scenario.step("node_lost")
        assert scenario.last_target is not None
        lost = scenario.last_target[1]
        on_lost = {
            p["metadata"]["name"] for p in store.list("pods") if p["spec"].get("nodeName") == lost
        }
        scenario.advance(400)  # past the taint eviction: the pods are deleted, nobody confirms
        stuck = [p for p in store.list("pods") if p["metadata"]["name"] in on_lost]
        assert on_lost
        assert len(stuck) == len(on_lost)
        assert all(p["metadata"].get("deletionTimestamp") for p in stuck)
        shown = await statuses()
        # kubectl prints a terminating pod of an unreachable node as Unknown.
        assert {shown[name] for name in on_lost} == {"Unknown"}


async def test_get_statefulsets_by_short_name_shows_the_seeded_trouble(tmp_path: Path) -> None:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store, seed=3, nodes=3, deployments=1, namespaces=1, clock=clock, statefulsets=True
    )
    scenario.populate()
    scenario.advance(300)
    async with Simulator(store=store, token="kubectl-test-token", tls=True) as sim:
        config = sim.write_kubeconfig(tmp_path / "sim.kubeconfig")
        assert KUBECTL is not None
        argv = [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache")]
        rows = await kubectl(argv, "get", "sts", "-A", "-o", "wide")
        assert rows[0] == ["NAMESPACE", "NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
        assert [(r[1], r[2], r[5]) for r in rows[1:]] == [
            ("kafka", "2/3", "bitnami/kafka:3.9.1"),
            ("postgres", "3/3", "postgres:16.6"),
            ("redis", "2/3", "redis:7.4.1"),
        ]
