"""The simulated API server in a process of its own, driven by commands over a pipe.

Why a process: ingest_bench.py and metrics_bench.py time the informers and the
store; a simulator sharing their interpreter would put its own CPU (building
and serving watch events) into their figures. The child populates a cluster,
sends {"url", "counts", "seconds"} once, then answers one reply per
(command, argument) it receives until "stop". "stall" and "release" (hold the
pod watch streams, then let the backlog out) are common; each benchmark adds
its own commands.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import anyio


@dataclass
class Served:
    """What the commands work on: the running simulator and the pods a bump may touch."""

    sim: Any
    names: list[tuple[str, str]]
    cursor: int = 0  # where the next bump starts, so successive bumps touch other pods

    def bump(self, count: int) -> list[tuple[str, int]]:
        """`count` status updates, each raising one pod's restart count; (pod, new restarts)."""
        out = []
        for i in range(count):
            ns, name = self.names[(self.cursor + i) % len(self.names)]
            pod = self.sim.store.get("pods", ns, name)
            statuses = pod["status"].get("containerStatuses") or []
            if not statuses:
                continue
            statuses[0]["restartCount"] = int(statuses[0].get("restartCount", 0)) + 1
            self.sim.store.update("pods", pod, subresource="status")
            out.append((name, sum(int(c.get("restartCount", 0)) for c in statuses)))
        self.cursor += count
        return out


Command = Callable[[Served, Any], Awaitable[Any]]


async def _stall(served: Served, _arg: Any) -> None:
    served.sim.faults.stall_watches(resource="pods")


async def _release(served: Served, _arg: Any) -> None:
    served.sim.faults.release_stalls()


_COMMON: dict[str, Command] = {"stall": _stall, "release": _release}


async def serve_simulator(
    conn: Connection, *, size: Mapping[str, Any], window: int, commands: Mapping[str, Command]
) -> None:
    """Populate a cluster of `size` and answer `commands` (plus the common ones) until "stop"."""
    from simulator.scenario import Scenario
    from simulator.server import Simulator

    known = {**_COMMON, **commands}
    async with Simulator(bookmark_interval=30.0, window=window) as sim:
        scenario = Scenario(
            sim.store,
            seed=1,
            nodes=size["nodes"],
            deployments=size["deployments"],
            pods_per_deployment=size["pods_per_deployment"],
            namespaces=size["namespaces"],
            churn=0.0,
            events=False,
        )
        started = time.perf_counter()
        counts = scenario.populate()
        names = [
            (e.key[0], e.key[1])
            for e in sim.store.entries("pods")
            if b'"containerStatuses"' in e.raw
        ]
        conn.send(
            {"url": sim.url, "counts": dict(counts), "seconds": time.perf_counter() - started}
        )
        served = Served(sim=sim, names=names)
        while True:
            cmd, arg = await anyio.to_thread.run_sync(conn.recv)
            if cmd == "stop":
                conn.send(None)
                return
            if cmd not in known:
                raise ValueError(f"unknown simulator command {cmd!r}; known: {sorted(known)}")
            conn.send(await known[cmd](served, arg))
