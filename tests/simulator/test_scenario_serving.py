"""The scenario behind the real HTTP server, the `simulate` runner and `python -m simulator`."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from simulator import Simulator
from simulator.cli import add_simulate_arguments, run_simulate
from simulator.scenario import Scenario
from simulator.storage import ObjectStore
from simulator.virtual_clock import SimClock

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_the_cluster_is_served_and_a_scale_over_http_is_reconciled() -> None:
    clock = SimClock(datetime(2025, 3, 1, tzinfo=UTC))
    store = ObjectStore(clock=clock)
    scenario = Scenario(
        store,
        seed=4,
        nodes=4,
        deployments=5,
        pods_per_deployment=2,
        namespaces=2,
        churn=0,
        clock=clock,
    )
    scenario.populate()
    async with Simulator(store=store) as sim, httpx.AsyncClient(base_url=sim.url) as client:
        pods = (await client.get("/api/v1/pods")).json()
        assert pods["kind"] == "PodList"
        assert len(pods["items"]) == 10
        nodes = (await client.get("/api/v1/nodes")).json()["items"]
        assert len(nodes) == 4
        deployment = (await client.get("/apis/apps/v1/deployments")).json()["items"][0]
        namespace, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]

        scaled = anyio.Event()

        def follow(event_type: str, resource: str, obj: dict[str, Any]) -> None:
            meta = obj["metadata"]
            if (
                resource == "deployments"
                and (meta["namespace"], meta["name"]) == (namespace, name)
                and obj["status"].get("replicas") == 5
            ):
                scaled.set()

        store.add_listener(follow)
        async with anyio.create_task_group() as tg:
            tg.start_soon(scenario.run)
            response = await client.patch(
                f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                json={"spec": {"replicas": 5}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            assert response.status_code == 200
            with anyio.fail_after(10):
                await scaled.wait()
            tg.cancel_scope.cancel()
        listed = (
            await client.get(
                f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": f"app={name}"}
            )
        ).json()["items"]
        assert len(listed) == 5


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.anyio
async def test_run_simulate_writes_a_working_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sim.kubeconfig"
    args = _args(
        "--nodes", "3", "--deployments", "4", "--churn", "20", "--token", "t0ken",
        "--kubeconfig-out", str(kubeconfig), "--fault-error", "429", "--fault-error-verb", "get",
    )  # fmt: skip
    out = io.StringIO()
    ready: list[tuple[Simulator, Scenario]] = []
    started = anyio.Event()

    def on_ready(sim: Simulator, scenario: Scenario) -> None:
        ready.append((sim, scenario))
        started.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_simulate(args, on_ready=on_ready, out=out))
            await started.wait()
            config = json.loads(kubeconfig.read_text())  # JSON is valid kubeconfig YAML
            (cluster,) = config["clusters"]
            (user,) = config["users"]
            assert cluster["cluster"]["server"] == ready[0][0].url
            headers = {"Authorization": f"Bearer {user['user']['token']}"}
            async with httpx.AsyncClient(base_url=cluster["cluster"]["server"]) as client:
                assert (await client.get("/api/v1/nodes")).status_code == 401
                nodes = await client.get("/api/v1/nodes", headers=headers)
                assert len(nodes.json()["items"]) == 3
                refused = await client.get("/api/v1/nodes/worker-01", headers=headers)
                assert refused.status_code == 429
            tg.cancel_scope.cancel()
    text = out.getvalue()
    assert f"kubectl --kubeconfig {kubeconfig.resolve()} get pods -A" in text
    assert "fault: next 1 get request(s) answer 429" in text
    assert "stopped after" in text


def test_bad_options_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--nodes", "0")
    assert "must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _args("--fault-error", "418")
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.anyio
@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
async def test_python_m_simulator_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "simulator", "--nodes", "2", "--deployments", "2",
        "--kubeconfig-out", str(tmp_path / "k"),
    ]  # fmt: skip
    with anyio.fail_after(30):
        async with await anyio.open_process(command, env=env, cwd=tmp_path) as process:
            assert process.stderr is not None
            seen = b""
            async for chunk in process.stderr:
                seen += chunk
                if b"Ctrl-C to stop" in seen:
                    break
            process.send_signal(signal.SIGINT)
            rest = b"".join([chunk async for chunk in process.stderr])
            assert await process.wait() == 0
    assert b"stopped after" in seen + rest
    assert b"Traceback" not in seen + rest
