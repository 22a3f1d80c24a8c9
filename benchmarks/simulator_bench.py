"""Simulator throughput: LIST of many pods and WATCH fan-out, against baselines.

Why encode once: a LIST of 100k pods that re-encodes every object per
request costs seconds of CPU per request, which is exactly the load an
informer relist storm puts on the simulator. The simulator keeps each object
version as JSON bytes and joins them; the baselines, measured in the same
run over the same HTTP stack, keep dicts and encode per request (json.dumps,
as a naive server would, and msgspec, the fastest per-request encoder).

Watch fan-out: events/s delivered to 1 and 10 concurrent watchers, against
the rate at which the store alone commits the same updates (no watcher):
delivery shares one encoded line per event between watchers.

Run: python benchmarks/simulator_bench.py [--quick]   (--quick: 10k pods)
The client runs in the same process and event loop as the server and reads
bytes without decoding them, so figures are the server's cost plus a thin
client; compare ratios, not absolute numbers (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator import ObjectStore, Simulator

NAMESPACES = 50


def make_pod(i: int) -> dict[str, Any]:
    """A Running pod shaped like `kubectl get pod -o json` output (~3.5 KB)."""
    rs = "web-7d9f8c6b5"
    ip = f"10.244.{i % 250}.{i % 200}"
    return {
        "metadata": {
            "name": f"{rs}-{i:06d}",
            "generateName": f"{rs}-",
            "namespace": f"ns-{i % NAMESPACES:02d}",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5", "tier": "frontend"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs,
                    "uid": "5b0c1a2e-0000-4000-8000-000000000001",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-20T10:00:05Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": {},
                            "f:containerStatuses": {},
                            "f:phase": {},
                            "f:podIP": {},
                        }
                    },
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{i % 500:03d}",
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-11-20T10:00:05Z",
                }
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": "10.0.0.5",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": "2026-11-20T10:00:00Z",
            "containerStatuses": [
                {
                    "name": "web",
                    "state": {"running": {"startedAt": "2026-11-20T10:00:04Z"}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": i % 7,
                    "image": "docker.io/library/nginx:1.27",
                    "imageID": "docker.io/library/nginx@sha256:" + "a" * 64,
                    "containerID": "containerd://" + "b" * 64,
                    "started": True,
                }
            ],
            "qosClass": "Burstable",
        },
    }


def baseline_app(objects: list[dict[str, Any]], encode: Callable[[Any], bytes]) -> web.Application:
    """A naive list endpoint: objects held as dicts, the response encoded per request."""

    async def list_pods(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "0") or 0)
        start = int(request.query.get("continue", "0") or 0)
        items = objects[start : start + limit] if limit else objects[start:]
        meta: dict[str, Any] = {"resourceVersion": "1"}
        if limit and start + limit < len(objects):
            meta["continue"] = str(start + limit)
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
        return web.Response(body=encode(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/pods", list_pods)
    return app


async def serve_baseline(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def timed_lists(
    session: aiohttp.ClientSession, url: str, *, limit: int | None, repeat: int, expect: int
) -> float:
    """Objects per second over `repeat` complete (possibly paginated) lists."""
    start = time.perf_counter()
    for _ in range(repeat):
        got = 0
        token: str | None = None
        while True:
            params = {"limit": str(limit)} if limit else {}
            if token:
                params["continue"] = token
            async with session.get(f"{url}/api/v1/pods", params=params) as response:
                body = await response.read()
            # Count items without decoding them: one generateName per pod; the
            # list metadata comes before the items.
            got += body.count(b'"generateName"')
            head = body[: body.find(b'"items"')].rstrip(b", ")
            meta = json.loads(head + b"}")["metadata"]
            token = meta.get("continue")
            if not token:
                break
        if got != expect:
            raise RuntimeError(f"listed {got} objects, expected {expect}")
    return expect * repeat / (time.perf_counter() - start)


async def consume(url: str, path: str, *, expect: int, ready: asyncio.Event) -> None:
    """One watcher: read lines until `expect` events have arrived."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}{path}") as response:
        ready.set()
        seen = 0
        async for chunk in response.content.iter_any():
            seen += chunk.count(b"\n")
            if seen >= expect:
                return


async def fan_out(
    sim: Simulator, *, watchers: int, events: int, targets: list[tuple[str, str]]
) -> float:
    """Events/s delivered in total to `watchers` concurrent watch streams."""
    rv = sim.store.resource_version
    path = f"/api/v1/pods?watch=1&resourceVersion={rv}"
    readies = [asyncio.Event() for _ in range(watchers)]
    tasks = [asyncio.create_task(consume(sim.url, path, expect=events, ready=r)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    await asyncio.wait_for(sim.wait_for_watches(watchers, resource="pods"), 30)
    start = time.perf_counter()
    await churn(sim.store, events=events, targets=targets)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    return watchers * events / (time.perf_counter() - start)


async def churn(store: ObjectStore, *, events: int, targets: list[tuple[str, str]]) -> None:
    """`events` status updates (restart counts rising), yielding to the loop every 50."""
    for n in range(events):
        namespace, name = targets[n % len(targets)]
        pod = store.get("pods", namespace, name)
        assert pod is not None
        pod["status"]["containerStatuses"][0]["restartCount"] += 1
        store.update("pods", pod, subresource="status")
        if n % 50 == 49:
            await asyncio.sleep(0)


def assembly_rates(store: ObjectStore, objects: list[dict[str, Any]]) -> dict[str, float]:
    """Objects/s spent building one full LIST body in-process, without HTTP."""
    rates: dict[str, float] = {}

    def sim_body() -> list[bytes]:
        # What the server writes: slices of 1000 stored objects, never one big buffer.
        entries = store.page("pods", namespace=None).entries
        return [
            b",".join(e.raw for e in entries[i : i + 1000]) for i in range(0, len(entries), 1000)
        ]

    for name, build in (
        ("json", lambda: json.dumps({"items": objects}).encode()),
        ("msgspec", lambda: msgspec.json.encode({"items": objects})),
        ("sim", sim_body),
    ):
        best = float("inf")
        gc.disable()  # as timeit does: time the work, not a collection it happens to trigger
        try:
            for _ in range(3):
                start = time.perf_counter()
                build()
                best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
        rates[name] = len(objects) / best
    return rates


def row(name: str, value: float, base: float, unit: str) -> str:
    return f"| {name:<40} | {value:>12,.0f} {unit:<5} | {value / base:>7.2f}x |"


def header(first: str, unit: str) -> None:
    print(f"| {first:<40} | {unit:>18} | {'ratio':>8} |")
    print(f"|{'-' * 42}|{'-' * 20}|{'-' * 10}|")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k pods instead of 100k")
    args = parser.parse_args()
    pods = 10_000 if args.quick else 100_000
    events = 5_000 if args.quick else 20_000
    repeat = 3

    store = ObjectStore(window=max(events * 2, 10_000))
    for ns in range(NAMESPACES):
        store.create("namespaces", {"metadata": {"name": f"ns-{ns:02d}"}})
    start = time.perf_counter()
    for i in range(pods):
        store.create("pods", make_pod(i))
    build = time.perf_counter() - start
    objects = store.list("pods")
    size = sum(len(e.raw) for e in store.entries("pods")) / pods
    print(f"{pods:,} pods, mean {size:,.0f} bytes; store.create: {pods / build:,.0f} objects/s")
    assembly = assembly_rates(store, objects)

    async with Simulator(store=store) as sim, aiohttp.ClientSession() as session:
        results: dict[str, float] = {}
        base_runner, base_url = await serve_baseline(
            baseline_app(objects, lambda b: json.dumps(b).encode())
        )
        fast_runner, fast_url = await serve_baseline(baseline_app(objects, msgspec.json.encode))
        try:
            for label, limit in (("full", None), ("limit=500", 500)):
                results[f"json-{label}"] = await timed_lists(
                    session, base_url, limit=limit, repeat=repeat, expect=pods
                )
                results[f"msgspec-{label}"] = await timed_lists(
                    session, fast_url, limit=limit, repeat=repeat, expect=pods
                )
                results[f"sim-{label}"] = await timed_lists(
                    session, sim.url, limit=limit, repeat=repeat, expect=pods
                )
        finally:
            await base_runner.cleanup()
            await fast_runner.cleanup()

        targets = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects[:1000]]
        del objects
        gc.collect()
        gc.freeze()  # the built cluster is long-lived: keep it out of the timed collections
        commit_rate = 0.0
        for _ in range(2):  # best of two: the first run also warms caches
            start = time.perf_counter()
            await churn(store, events=events, targets=targets)
            commit_rate = max(commit_rate, events / (time.perf_counter() - start))
        one = await fan_out(sim, watchers=1, events=events, targets=targets)
        ten = await fan_out(sim, watchers=10, events=events, targets=targets)

    print()
    print(f"LIST body assembly in-process, no HTTP ({pods:,} pods, best of 3)")
    header("path", "objects/s")
    print(row("json.dumps of dicts per request", assembly["json"], assembly["json"], "obj/s"))
    print(
        row("msgspec encode of dicts per request", assembly["msgspec"], assembly["json"], "obj/s")
    )
    print(row("simulator: join stored bytes in slices", assembly["sim"], assembly["json"], "obj/s"))
    print()
    print(f"LIST throughput over HTTP ({pods:,} pods, {repeat} lists each)")
    print("ratio: against a server holding dicts and calling json.dumps per request")
    header("path", "objects/s")
    for label in ("full", "limit=500"):
        base = results[f"json-{label}"]
        print(row(f"{label}: json.dumps per request", base, base, "obj/s"))
        print(row(f"{label}: msgspec per request", results[f"msgspec-{label}"], base, "obj/s"))
        print(row(f"{label}: simulator, encode once", results[f"sim-{label}"], base, "obj/s"))
    print()
    print(
        f"WATCH fan-out ({events:,} pod status updates; ratio vs committing them with no watcher)"
    )
    header("case", "events/s")
    print(row("store commits only (no watcher)", commit_rate, commit_rate, "ev/s"))
    print(row("delivered to 1 watcher", one, commit_rate, "ev/s"))
    print(row("delivered to 10 watchers (sum)", ten, commit_rate, "ev/s"))


if __name__ == "__main__":
    asyncio.run(main())
