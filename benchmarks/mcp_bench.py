"""MCP benchmark: answers from the watch cache vs. a LIST from the API server per question.

Run:  .venv/bin/python benchmarks/mcp_bench.py [--quick]

One table. For each cluster size (10k and 150k pods; --quick: 2k and 10k),
two questions, asked with 1 and 16 concurrent clients:

- "what is broken?"       -> ours: the `cluster_health` tool
- "which pods are broken?" -> ours: `list_pods(problems_only=true)`

Ours: the agent runs as its own process (`kube-watchcache serve`), watching a
simulated cluster served by this process; each client POSTs 2026-07-28
`tools/call` requests over streamable HTTP on its own connection and the
latency is the round trip. The "SDK client" column is the same call through
`mcp.Client` (one client), which adds its own work: it validates every
answer against the tool's output schema with jsonschema. The per-call way is what today's
Kubernetes MCP servers do: LIST the objects from the API server for every
question (pods; plus nodes and deployments for the health question), then
filter. It is measured generously: the LIST bodies are decoded with msgspec
into structs holding only the fields the filter reads (a typical server
decodes every field, with the client library's models) and no MCP hop is
added. Ratio = per-call p50 / ours p50. Answer sizes: ours is the tool result
(structured content + text, as JSON); per-call is the LIST bodies a peer
hands to the model (kubernetes-mcp-server's `pods_list` returns every pod).

Targets (issue 5): >= 20x faster than per-call at 10k pods; `cluster_health`
p99 <= 50 ms at 150k pods. Also printed: the size of `tools/list`, which every
client hands the model on every turn (issue 21: under 25,000 bytes, of which
descriptions and input schemas under 8,000, output schemas kept);
`--tools-list-only` prints just that. Per-call with 16 clients at 150k is not run: 16
concurrent LISTs of ~0.8 GB each do not fit the machine (that is the point).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402

from benchmarks._agent_process import agent_process  # noqa: E402
from benchmarks._mcp_wire import post_tools_call  # noqa: E402
from benchmarks._table import print_table  # noqa: E402
from benchmarks._tools_list import fetch_tools_list, measure, report  # noqa: E402
from simulator import ObjectStore, Simulator  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.virtual_clock import SimClock  # noqa: E402

QUESTIONS = {
    "cluster_health": ("cluster_health", {}),
    "problem pods": ("list_pods", {"problems_only": True}),
}
_DEGRADE = (
    "crash_loop",
    "oom_kill",
    "image_pull_error",
    "config_error",
    "unschedulable",
    "node_not_ready",
    "node_pressure",
    "crash_rollout",
    "cordon",
)
_BAD_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
    }
)


# --- the per-call way: LIST, decode only what the filter reads, filter ---------------------


class _State(msgspec.Struct):
    waiting: dict[str, Any] | None = None
    terminated: dict[str, Any] | None = None


class _ContainerStatus(msgspec.Struct):
    name: str = ""
    ready: bool = False
    restartCount: int = 0
    state: _State = msgspec.field(default_factory=_State)
    lastState: _State = msgspec.field(default_factory=_State)


class _Condition(msgspec.Struct):
    type: str = ""
    status: str = ""
    reason: str | None = None


class _PodStatus(msgspec.Struct):
    phase: str = "Pending"
    reason: str | None = None
    conditions: list[_Condition] = []
    containerStatuses: list[_ContainerStatus] = []


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    deletionTimestamp: str | None = None


class _PodSpec(msgspec.Struct):
    nodeName: str | None = None


class _Pod(msgspec.Struct):
    metadata: _Meta
    spec: _PodSpec = msgspec.field(default_factory=_PodSpec)
    status: _PodStatus = msgspec.field(default_factory=_PodStatus)


class _NodeSpec(msgspec.Struct):
    unschedulable: bool = False


class _NodeStatus(msgspec.Struct):
    conditions: list[_Condition] = []


class _Node(msgspec.Struct):
    metadata: _Meta
    spec: _NodeSpec = msgspec.field(default_factory=_NodeSpec)
    status: _NodeStatus = msgspec.field(default_factory=_NodeStatus)


class _DeploymentSpec(msgspec.Struct):
    replicas: int = 1


class _DeploymentStatus(msgspec.Struct):
    availableReplicas: int = 0


class _Deployment(msgspec.Struct):
    metadata: _Meta
    spec: _DeploymentSpec = msgspec.field(default_factory=_DeploymentSpec)
    status: _DeploymentStatus = msgspec.field(default_factory=_DeploymentStatus)


_POD_LIST = msgspec.json.Decoder(msgspec.defstruct("PodList", [("items", list[_Pod])]))
_NODE_LIST = msgspec.json.Decoder(msgspec.defstruct("NodeList", [("items", list[_Node])]))
_DEPLOYMENT_LIST = msgspec.json.Decoder(
    msgspec.defstruct("DeploymentList", [("items", list[_Deployment])])
)


def _pod_problem(pod: _Pod) -> str | None:
    s = pod.status
    if pod.metadata.deletionTimestamp:
        return "Terminating"
    if s.phase in ("Failed", "Unknown"):
        return s.reason or s.phase
    for c in s.containerStatuses:
        if c.state.waiting and c.state.waiting.get("reason") in _BAD_WAITING:
            return str(c.state.waiting["reason"])
        if c.lastState.terminated and c.lastState.terminated.get("reason") == "OOMKilled":
            return "OOMKilled"
    for cond in s.conditions:
        if cond.type == "PodScheduled" and cond.status == "False":
            return cond.reason or "Unschedulable"
    if s.phase == "Running" and not all(c.ready for c in s.containerStatuses):
        return "NotReady"
    return None


async def _list(http: httpx.AsyncClient, url: str) -> bytes:
    response = await http.get(url)
    response.raise_for_status()
    return response.content


async def percall_problem_pods(http: httpx.AsyncClient, base: str) -> tuple[int, int]:
    """(answer items, bytes listed): LIST every pod, keep the broken ones."""
    body = await _list(http, base + "/api/v1/pods")
    pods = _POD_LIST.decode(body).items  # type: ignore[attr-defined]
    broken = [p for p in pods if _pod_problem(p) is not None]
    return len(broken), len(body)


async def percall_cluster_health(http: httpx.AsyncClient, base: str) -> tuple[int, int]:
    """(findings, bytes listed): LIST pods, nodes and deployments, report what is wrong."""
    pods_body = await _list(http, base + "/api/v1/pods")
    nodes_body = await _list(http, base + "/api/v1/nodes")
    deps_body = await _list(http, base + "/apis/apps/v1/deployments")
    findings = sum(1 for p in _POD_LIST.decode(pods_body).items if _pod_problem(p))  # type: ignore[attr-defined]
    for node in _NODE_LIST.decode(nodes_body).items:  # type: ignore[attr-defined]
        conditions = {c.type: c.status for c in node.status.conditions}
        if conditions.get("Ready") != "True" or node.spec.unschedulable:
            findings += 1
        findings += sum(1 for k, v in conditions.items() if k != "Ready" and v == "True")
    for dep in _DEPLOYMENT_LIST.decode(deps_body).items:  # type: ignore[attr-defined]
        if dep.status.availableReplicas < dep.spec.replicas:
            findings += 1
    return findings, len(pods_body) + len(nodes_body) + len(deps_body)


PERCALL: dict[str, Callable[[httpx.AsyncClient, str], Awaitable[tuple[int, int]]]] = {
    "cluster_health": percall_cluster_health,
    "problem pods": percall_problem_pods,
}


# --- measuring ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


async def _concurrently(clients: int, work: Callable[[int], Awaitable[list[float]]]) -> list[float]:
    results: list[list[float]] = [[] for _ in range(clients)]

    async def run(i: int) -> None:
        results[i] = await work(i)

    async with anyio.create_task_group() as tg:
        for i in range(clients):
            tg.start_soon(run, i)
    return [x for r in results for x in r]


async def call_tool_http(
    http: httpx.AsyncClient, url: str, tool: str, args: dict[str, Any]
) -> bytes:
    """One 2026-07-28 `tools/call` as a single POST: what any MCP client puts on the wire."""
    response = await post_tools_call(http, url, tool=tool, args=args, client="mcp-bench")
    response.raise_for_status()
    result = msgspec.json.decode(response.content)["result"]
    if result.get("isError"):
        raise RuntimeError(f"{tool} failed: {result['content']}")
    return response.content


async def measure_ours(
    url: str, question: str, *, clients: int, calls: int
) -> tuple[list[float], int]:
    """Latency per tool call over streamable HTTP, each client on its own connection."""
    tool, args = QUESTIONS[question]
    size = 0
    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(httpx.AsyncClient()) for _ in range(clients)]
        for http in https:  # warm-up: connections, the SQL statement cache
            for _ in range(3):
                body = await call_tool_http(http, url, tool, args)
        size = len(body)

        async def work(i: int) -> list[float]:
            out = []
            for _ in range(calls):
                started = time.perf_counter()
                await call_tool_http(https[i], url, tool, args)
                out.append(time.perf_counter() - started)
            return out

        latencies = await _concurrently(clients, work)
    return latencies, size


async def measure_sdk_client(url: str, question: str, *, calls: int) -> list[float]:
    """The same call through `mcp.Client`, which also validates the answer against its schema."""
    tool, args = QUESTIONS[question]
    async with Client(url) as client:
        for _ in range(3):
            await client.call_tool(tool, args)
        out = []
        for _ in range(calls):
            started = time.perf_counter()
            result = await client.call_tool(tool, args)
            out.append(time.perf_counter() - started)
            assert not result.is_error
    return out


async def measure_percall(
    base: str, question: str, *, clients: int, calls: int
) -> tuple[list[float], int]:
    fn = PERCALL[question]
    size = 0
    async with contextlib.AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(httpx.AsyncClient(timeout=httpx.Timeout(300.0)))
            for _ in range(clients)
        ]
        _, size = await fn(https[0], base)  # warm-up

        async def work(i: int) -> list[float]:
            out = []
            for _ in range(calls):
                started = time.perf_counter()
                await fn(https[i], base)
                out.append(time.perf_counter() - started)
            return out

        latencies = await _concurrently(clients, work)
    return latencies, size


# --- the cluster the agent watches ------------------------------------------------------


def build_cluster(pods: int, seed: int = 11) -> tuple[ObjectStore, Scenario, float]:
    """A settled cluster of about `pods` pods (15 per deployment, 30 per node), then some damage."""
    clock = SimClock(datetime.now(UTC))
    objects = ObjectStore(clock=clock)
    scenario = Scenario(
        objects,
        seed=seed,
        nodes=max(3, pods // 30),
        deployments=max(1, pods // 15),
        pods_per_deployment=15,
        churn=0.0,
        clock=clock,
        events=False,
    )
    started = time.perf_counter()
    scenario.populate()
    for i in range(60):
        scenario.step(_DEGRADE[i % len(_DEGRADE)])
    return objects, scenario, time.perf_counter() - started


# --- the run ----------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


async def run_size(pods: int, *, quick: bool, rows: list[list[str]], notes: list[str]) -> None:
    objects, scenario, built = build_cluster(pods)
    actual = objects.count("pods")
    print(
        f"-- {actual:,} pods, {objects.count('nodes'):,} nodes, {objects.count('deployments'):,} "
        f"deployments built in {built:.1f}s; {len(scenario.problems)} problems open",
        file=sys.stderr,
    )
    big = pods >= 100_000
    ours_calls = {1: 100 if quick else 200, 16: 10 if quick else 25}
    percall_calls = {1: 2 if big else (5 if quick else 15), 16: 2}
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        workdir = Path(tmp)
        async with Simulator(store=objects, bookmark_interval=30.0) as sim:
            kubeconfig = sim.write_kubeconfig(workdir / "sim.kubeconfig")
            started = time.perf_counter()
            async with agent_process(
                kubeconfig=kubeconfig, workdir=workdir, db_name="bench.db", ready_seconds=600
            ) as (url, _pid):
                print(
                    f"   agent ready (synced) in {time.perf_counter() - started:.1f}s",
                    file=sys.stderr,
                )
                if not any(note.startswith("tools/list") for note in notes):
                    notes.extend(await tools_list_size(url))
                for question in QUESTIONS:
                    for clients in (1, 16):
                        ours, our_size = await measure_ours(
                            url, question, clients=clients, calls=ours_calls[clients]
                        )
                        if big and clients == 16:
                            percall: list[float] = []
                            their_size = 0
                        else:
                            percall, their_size = await measure_percall(
                                sim.url, question, clients=clients, calls=percall_calls[clients]
                            )
                        p50, p99 = percentile(ours, 50), percentile(ours, 99)
                        sdk = "-"
                        if clients == 1:
                            sdk = _ms(
                                percentile(await measure_sdk_client(url, question, calls=30), 50)
                            )
                        row = [f"{actual:,}", question, str(clients), _ms(p50), _ms(p99), sdk]
                        if percall:
                            q50, q99 = percentile(percall, 50), percentile(percall, 99)
                            row += [_ms(q50), _ms(q99), f"{q50 / p50:,.0f}x"]
                        else:
                            row += ["skipped", "skipped", "-"]
                        row += [f"{our_size:,}", f"{their_size:,}" if their_size else "-"]
                        rows.append(row)
                        print("   " + " | ".join(row), file=sys.stderr)
                        if question == "cluster_health" and clients == 1 and big:
                            verdict = "PASS" if p99 <= 0.050 else "FAIL"
                            notes.append(
                                f"cluster_health p99 at {actual:,} pods: {_ms(p99)} ms "
                                f"(target <= 50 ms): {verdict}"
                            )
                        if clients == 1 and 9_000 <= pods <= 11_000 and percall:
                            ratio = percentile(percall, 50) / p50
                            verdict = "PASS" if ratio >= 20 else "FAIL"
                            notes.append(
                                f"{question} at {actual:,} pods: {ratio:,.0f}x faster than "
                                f"per-call (target >= 20x): {verdict}"
                            )


async def tools_list_size(url: str) -> list[str]:
    """The `tools/list` size against its budget (it does not depend on the cluster)."""
    async with httpx.AsyncClient() as http:
        return report(measure(await fetch_tools_list(http, url)))


async def tools_list_only() -> None:
    objects, _, _ = build_cluster(300)
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        workdir = Path(tmp)
        async with Simulator(store=objects, bookmark_interval=30.0) as sim:
            kubeconfig = sim.write_kubeconfig(workdir / "sim.kubeconfig")
            async with agent_process(
                kubeconfig=kubeconfig, workdir=workdir, db_name="bench.db", ready_seconds=120
            ) as (url, _pid):
                for line in await tools_list_size(url):
                    print(line)


HEADER = [
    "pods",
    "question",
    "clients",
    "ours p50 ms",
    "ours p99 ms",
    "SDK client p50",
    "per-call p50 ms",
    "per-call p99 ms",
    "ratio p50",
    "ours bytes",
    "per-call bytes",
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k and 10k pods, fewer calls")
    parser.add_argument("--sizes", type=int, nargs="*", help="pod counts (default 10k and 150k)")
    parser.add_argument(
        "--tools-list-only", action="store_true", help="print only the tools/list size"
    )
    args = parser.parse_args()
    if args.tools_list_only:
        await tools_list_only()
        return
    sizes = args.sizes or ([2_000, 10_000] if args.quick else [10_000, 150_000])
    rows: list[list[str]] = []
    notes: list[str] = []
    for pods in sizes:
        await run_size(pods, quick=args.quick, rows=rows, notes=notes)
    print()
    print("MCP answers from the watch cache vs. one LIST per question (streamable HTTP)")
    print_table(HEADER, rows, numbers=True)
    print()
    for note in notes:
        print(note)
    peer = shutil.which("kubernetes-mcp-server") or shutil.which(
        "kubernetes-mcp-server-linux-amd64"
    )
    if peer is None:
        print(
            "kubernetes-mcp-server: not installed (npm kubernetes-mcp-server-linux-amd64); "
            "its pods_list was not measured. The per-call rows stand in for it."
        )
    else:
        print(
            f"kubernetes-mcp-server found at {peer}: measuring it is not automated here; "
            "the per-call rows stand in for its pods_list."
        )


if __name__ == "__main__":
    anyio.run(main)
