"""`kube-watchcache serve` as its own process, for the benchmarks that load it from outside.

Why a real process: these benchmarks measure the agent as an operator runs it
(its own interpreter, CPU and RSS), so the load they put on it must not share
its event loop. Shared by mcp_bench.py and reliability_bench.py, which start it
against a simulator and wait until /ready answers 200 before timing anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import httpx

REPO = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def agent_process(
    *,
    kubeconfig: Path,
    workdir: Path,
    db_name: str,
    ready_seconds: float,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[tuple[str, int]]:
    """Yields (its /mcp URL, its pid) once /ready is 200; SIGTERM (then kill) on the way out.

    The agent logs to `workdir`/agent.log and keeps its store in `workdir`/`db_name`;
    the log's tail goes into the error when it exits early or is not ready within
    `ready_seconds`. `extra_args` go on the end of the `serve` command line
    (e.g. `--mcp-concurrency 0` to compare a setting within one run).
    """
    log = workdir / "agent.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE_WATCHCACHE_")}
    # The repo first; a PYTHONPATH the caller set (e.g. a diagnostics sitecustomize) after it.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [
        sys.executable,
        "-m",
        "mcpserver.cli",
        "serve",
        "--kubeconfig",
        str(kubeconfig),
        "--port",
        "0",
        "--db",
        str(workdir / db_name),
        "--log-level",
        "warning",
        *extra_args,
    ]
    with log.open("w") as sink:
        proc = subprocess.Popen(  # noqa: ASYNC220 (started once, before any timing)
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        url = None
        ready = False
        async with httpx.AsyncClient() as http:
            with anyio.move_on_after(ready_seconds):
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the agent exited early:\n{log.read_text()[-3000:]}")
                    if url is None:
                        for line in log.read_text().splitlines():
                            if "MCP at " in line:
                                url = line.split("MCP at ", 1)[1].split()[0].rstrip(";")
                    if url is not None:
                        answer = await http.get(url.removesuffix("/mcp") + "/ready")
                        if answer.status_code == 200:
                            ready = True
                            break
                    await anyio.sleep(0.25)
        if not ready or url is None:
            raise RuntimeError(f"the agent was not ready in time:\n{log.read_text()[-3000:]}")
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
