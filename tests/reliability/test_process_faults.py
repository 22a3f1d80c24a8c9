"""Process faults: SIGTERM and SIGKILL under heavy ingest, a lost or damaged DB, a full disk.

The agent runs as a real `kube-watchcache serve` subprocess against a
simulator in this process (so the test keeps the cluster's truth and its
churn); SQLite files are checked with sqlite3 directly, as an operator would.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from simulator.scenario import Scenario
from simulator.server import Simulator
from store.service import open_store
from store.settings import StoreSettings
from tests.mcpserver.conftest import start_agent
from tests.reliability.compare import compare, converge
from tests.reliability.harness import FAST
from watcher import Informers, load_connection

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("KUBE_WATCHCACHE_TOKENS", None)
    return env


@asynccontextmanager
async def churning_cluster(rate: float) -> AsyncIterator[tuple[Simulator, Scenario]]:
    """A simulator with heavy churn running until the block ends."""
    async with Simulator(bookmark_interval=1.0, window=200_000) as sim:
        scenario = Scenario(
            sim.store,
            seed=9,
            nodes=8,
            deployments=30,
            pods_per_deployment=3,
            namespaces=3,
            churn=rate,
            events=False,
        )
        scenario.populate()
        async with anyio.create_task_group() as tg:
            tg.start_soon(scenario.run)
            yield sim, scenario
            tg.cancel_scope.cancel()


@contextmanager
def agent_process(kubeconfig: Path, db: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mcpserver.cli",
                "serve",
                "--kubeconfig",
                str(kubeconfig),
                "--port",
                "0",
                "--db",
                str(db),
                "--log-level",
                "info",
            ],
            cwd=REPO,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def wait_ready(proc: subprocess.Popen[bytes], log: Path, *, within: float = 40.0) -> str:
    """The agent's base URL once /ready says 200 (polled: another process has no event for us)."""
    logged = anyio.Path(log)
    with anyio.fail_after(within):
        url = None
        while True:
            text = await logged.read_text()
            assert proc.poll() is None, text
            for line in text.splitlines():
                if "MCP at " in line:
                    url = line.split("MCP at ", 1)[1].split()[0].rstrip(";").removesuffix("/mcp")
            if url is not None:
                break
            await anyio.sleep(0.1)
        async with httpx.AsyncClient() as http:
            while True:
                if (await http.get(url + "/ready")).status_code == 200:
                    return url
                await anyio.sleep(0.1)


async def churned(sim: Simulator, events: int, *, within: float = 20.0) -> None:
    """Wait until the simulator has committed `events` more changes (ingest under way)."""
    seen = 0
    done = anyio.Event()

    def count(_type: str, _resource: str, _obj: object) -> None:
        nonlocal seen
        seen += 1
        if seen >= events:
            done.set()

    sim.store.add_listener(count)
    try:
        with anyio.fail_after(within):
            await done.wait()
    finally:
        sim.store.remove_listener(count)


async def wait_exit(proc: subprocess.Popen[bytes], *, within: float) -> int:
    return await anyio.to_thread.run_sync(lambda: proc.wait(timeout=within))


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_sigterm_during_heavy_ingest_exits_0_with_everything_committed(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "state.db", tmp_path / "agent.log"
    async with churning_cluster(rate=150.0) as (sim, _scenario):
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        with agent_process(kubeconfig, db, log) as proc:
            await wait_ready(proc, log)
            await churned(sim, 1000)
            proc.send_signal(signal.SIGTERM)
            code = await wait_exit(proc, within=10)  # hang guard
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert "Traceback" not in text
    assert "stopped" in text
    # Closed cleanly: the WAL was checkpointed into the file and removed.
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM pods").fetchone()[0] > 0


async def test_sigkill_then_restart_converges_and_rebuilds_a_lost_or_damaged_db(
    tmp_path: Path,
) -> None:
    db, log = tmp_path / "state.db", tmp_path / "agent.log"
    async with churning_cluster(rate=150.0) as (sim, _scenario):
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        with agent_process(kubeconfig, db, log) as proc:
            await wait_ready(proc, log)
            await churned(sim, 1000)
            proc.kill()
            assert await wait_exit(proc, within=10) == -signal.SIGKILL
    # Killed mid-batch: SQLite's journal keeps the file whole.
    assert integrity(db) == "ok"
    copies = {}
    for variant in ("as-left", "deleted", "corrupted"):
        target = tmp_path / variant / "state.db"
        target.parent.mkdir()
        for suffix in ("", "-wal", "-shm"):
            source = db.with_name(db.name + suffix)
            if source.exists():
                target.with_name(target.name + suffix).write_bytes(source.read_bytes())
        copies[variant] = target
    copies["deleted"].unlink()
    with copies["corrupted"].open("r+b") as f:
        f.write(b"this is not a database" * 200)
    async with Simulator(bookmark_interval=1.0, store=sim.store) as restarted:
        for variant, path in copies.items():
            async with open_store(path, settings=StoreSettings(batch_interval_s=0.005)) as store:
                conn = await load_connection(server=restarted.url)
                informers = Informers(conn, store.writer, settings=FAST)
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(informers.run)
                        with anyio.fail_after(20):
                            await informers.wait_synced()
                        result = await converge(store, restarted, within=10)
                        assert result.objects > 0, variant
                        assert not result.mismatches, (variant, result.mismatches[:5])
                        tg.cancel_scope.cancel()
                finally:
                    await conn.close()
            assert integrity(path) == "ok", variant
        # The damaged file was moved aside for a human, not silently deleted.
        assert len(list(copies["corrupted"].parent.iterdir())) > 1


async def test_disk_full_turns_readiness_false_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="store")
    async with start_agent(tmp_path) as agent:
        assert agent.scenario is not None
        assert agent.url is not None
        ready, _ = await agent.readiness()
        assert ready
        unhealthy = anyio.Event()
        agent.store.writer.on_health(lambda healthy, _e: None if healthy else unhealthy.set())
        await agent.store.writer.set_size_limit(db_size(tmp_path / "state.db"))
        with anyio.fail_after(20):
            while not unhealthy.is_set():
                agent.scenario.step()  # writes that no longer fit
                with anyio.move_on_after(0.05):
                    await unhealthy.wait()
        ready, body = await agent.readiness()
        assert not ready
        assert "store unavailable" in body["reason"]
        assert "full" in body["reason"]
        async with httpx.AsyncClient() as http:
            probe = await http.get(agent.url.removesuffix("/mcp") + "/ready")
        assert probe.status_code == 503
        assert "full" in probe.json()["reason"]
        # And one clear log line says so (an operator reads logs, not /ready bodies).
        said = [r.getMessage() for r in caplog.records if r.name.startswith("store")]
        assert any("full" in m for m in said), said
        # Space comes back: the queued batches commit, readiness returns, nothing lost.
        await agent.store.writer.set_size_limit(None)
        with anyio.fail_after(20):
            while not agent.store.healthy:
                await agent.store.writer.flush()
        result = await converge(agent.store, agent.simulator, within=10)
        assert not result.mismatches, result.mismatches[:5]
        assert (await agent.readiness())[0]
        assert not (await compare(agent.store, agent.simulator)).mismatches


def db_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(pages) * int(size)
