"""`kube-watchcache serve` as a real process: MCP over stdio, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.mcpserver.conftest import text_of

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE_WATCHCACHE_")}
    env["PYTHONPATH"] = str(REPO)
    return env


async def test_stdio_transport_serves_tools_resources_prompts_and_listen(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mcpserver.cli",
            "serve",
            "--demo",
            "--transport",
            "stdio",
            "--db",
            str(tmp_path / "s.db"),
        ],
        env=_env(),
        cwd=str(REPO),
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "cluster_health" in tools
            assert "query" in tools
            with anyio.fail_after(30):
                while True:  # the demo cluster syncs in the child process
                    health = await client.call_tool("cluster_health", {})
                    assert health.structured_content is not None
                    if not health.structured_content["freshness"]["stale"]:
                        break
                    await anyio.sleep(0.1)
            pods = (await client.call_tool("list_pods", {"limit": 1})).structured_content
            assert pods is not None
            assert pods["items"]
            pod = pods["items"][0]
            node = pod["node"]
            for name, args in {
                "get_pod": {"namespace": pod["namespace"], "name": pod["name"]},
                "list_deployments": {"limit": 2},
                "get_deployment": {"namespace": pod["namespace"], "name": pod["deployment"]},
                "list_nodes": {},
                "get_node": {"name": node},
                "recent_changes": {"since": "10m"},
                "metric_summary": {"by": "deployment"},
                "query": {"sql": "SELECT count(*) FROM nodes"},
            }.items():
                result = await client.call_tool(name, args)
                assert not result.is_error, (name, text_of(result))
            bad = await client.call_tool("list_pods", {"limit": -3})
            assert bad.is_error
            assert "limit" in text_of(bad)
            document = await client.read_resource(f"k8s://pods/{pod['namespace']}/{pod['name']}")
            assert document.contents
            prompt = await client.get_prompt("cluster_status_analysis", {})
            assert prompt.messages
            # Churn runs at 2 actions/s in the demo: a warning or critical change comes soon.
            async with client.listen(resource_subscriptions=["k8s://health"]) as subscription:
                with anyio.fail_after(30):
                    async for event in subscription:
                        assert str(getattr(event, "uri", "")) == "k8s://health"
                        break
    logged = (tmp_path / "stderr.log").read_text()
    assert "demo cluster" in logged  # logs went to stderr, and stdout stayed clean protocol


def test_sigterm_stops_serve_cleanly_and_quickly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcpserver.cli",
            "serve",
            "--demo",
            "--port",
            "0",
            "--db",
            str(tmp_path / "t.db"),
        ],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 30
        lines = []
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "MCP at " in line:
                url = line.split("MCP at ", 1)[1].split()[0].rstrip(";")
        assert url, "".join(lines)
        ready = None
        with httpx.Client() as http:
            while time.monotonic() < deadline:
                ready = http.get(url.removesuffix("/mcp") + "/ready")
                if ready.status_code == 200:
                    break
                time.sleep(0.1)
        assert ready is not None
        assert ready.status_code == 200, ready.text
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)  # hang guard
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert code == 0, rest
    assert "Traceback" not in rest
    assert "claude mcp add --transport http kube-watchcache" in "".join(lines) + rest
