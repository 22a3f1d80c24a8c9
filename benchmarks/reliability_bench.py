"""Reliability benchmark: the fault matrix at scale, then load and soak, in one table.

Run:  .venv/bin/python benchmarks/reliability_bench.py [--quick]

Part 1, the fault matrix (issue 8): each fault kind on a fresh simulated
cluster with the real informers and SQLite store, from the same scripts as
the fast tests (tests/reliability/faults.py) at a larger size: the API
server unreachable for 60 s, every request held 2 s. After each fault the
store is compared with the simulator object by object on every status
column, and its history with the one a fault-free store records from the
same changes (transitions lost, duplicated).

Part 2, load and soak: `kube-watchcache serve` as its own process watching
a simulated cluster that churns about 1k events/s, with 50 concurrent MCP
clients (each its own connection, 2026-07-28 `tools/call` POSTs, rotating
over the read tools) for 60 s.

The load model. An assistant calls a tool, reads the answer, and spends
seconds generating before its next call; it never has two calls out. So
each soak client has one call due every `--call-interval` (1 s: a generous
upper bound for an assistant; 50 calls/s in all), one out at a time, and a
call's latency counts from when it was due, so an agent that falls behind
is not flattered by clients that slow down with it. A short stress phase
follows: the same 50 clients calling back to back with no think time, which
is a saturation test, not a model of assistants; its rows are figures
(shedding with 503 + Retry-After is allowed there, errors are not).

Figures: errors, shed calls, p50/p99 latency, the agent's RSS after
warm-up, at each quarter and at the end, and the ingest lag: a probe pod is
created in the simulator every second and timed until the agent's store has
committed it (read from its SQLite file, so the figure is ingest alone; what
an MCP answer adds is the latency row). CPU of the agent, of this process
(simulator and probes) and of the client process is printed, with the time
the agent spent waiting for a CPU: on a shared machine the agent can be
starved by its neighbours, and the table says so. The clients stand in for
assistants on other machines and run at `--harness-nice` (+5).

Part 3, the fuzzer (tests/mcpserver/fuzz.py, issue 18): the same seeded
generator as the test suite's, longer (20,000 requests; --quick 3,000)
against `kube-watchcache serve` as its own process on a simulated cluster:
every tool, resource, prompt and raw JSON-RPC in both protocol generations.
Figures: requests, seconds, responses by HTTP status, and the failures,
each bounded at 0: 5xx, tracebacks in responses and in the agent's log,
`query` writes not refused, writes sent to the API server, and the agent
not healthy afterwards. Input families still being fixed elsewhere are
left out (fuzz.KNOWN_OPEN) and printed.

--quick: a smaller cluster, 5 s unreachable, a 10 s soak (still 50 clients).
Bounds are printed beside each figure with PASS/FAIL. The exit status is 1
when any figure misses its bound; with --quick (part of `make bench`) only
the fault matrix decides it, since a 10 s soak on a shared machine measures
the machine's contention as much as the agent (see "agent waiting for a CPU").
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import logging
import math
import multiprocessing
import os
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._agent_process import agent_process  # noqa: E402
from benchmarks._mcp_wire import post_tools_call  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.server import Simulator  # noqa: E402
from tests.mcpserver import fuzz  # noqa: E402
from tests.reliability.faults import FAULTS, Scale, run_fault  # noqa: E402

Row = tuple[str, str, str, bool | None]  # figure, value, bound, pass (None: informative)

_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("cluster_health", {"limit": 20}),
    ("list_pods", {"problems_only": True, "limit": 20}),
    ("list_nodes", {}),
    ("recent_changes", {"since": "5m", "limit": 20}),
    ("metric_summary", {"by": "namespace", "top": 5}),
    ("list_deployments", {"limit": 20}),
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --- part 1: the fault matrix ----------------------------------------------------------


async def fault_matrix(scale: Scale, rows: list[Row], notes: list[str]) -> None:
    tried = objects = mismatches = lost = duplicated = expected = failed = 0
    for name in FAULTS:
        tried += 1
        with tempfile.TemporaryDirectory(prefix="kwc-rel-") as tmp:
            started = time.perf_counter()
            try:
                result = await run_fault(Path(tmp), name, scale)
            except Exception as exc:  # a fault that did not resolve is a failed row, not a crash
                failed += 1
                notes.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
                rows.append((f"fault: {name}", "did not resolve", "converges", False))
                continue
            seconds = time.perf_counter() - started
        objects += result.objects
        mismatches += len(result.mismatches)
        lost += len(result.history.lost)
        duplicated += len(result.history.duplicated)
        expected += result.history.expected
        value = (
            f"{result.objects} obj, {len(result.mismatches)} mism, "
            f"{result.history.expected} trans, {len(result.history.lost)} lost, "
            f"{len(result.history.duplicated)} dup, {seconds:.1f} s"
        )
        rows.append((f"fault: {name}", value, "0 mism/lost/dup", result.ok))
        for line in (result.mismatches + [str(k) for k in result.history.lost])[:3]:
            notes.append(f"{name}: {line}")
    rows.append(("faults tried", str(tried), f"= {len(FAULTS)} kinds", failed == 0))
    rows.append(("objects compared", str(objects), "> 0", objects > 0))
    rows.append(("mismatches", str(mismatches), "0", mismatches == 0))
    rows.append(("transitions expected", str(expected), "> 0", expected > 0))
    rows.append(("transitions lost", str(lost), "0", lost == 0))
    rows.append(("transitions duplicated", str(duplicated), "0", duplicated == 0))


# --- part 2: load and soak --------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far (from /proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_wait_seconds(pid: int) -> float:
    """Time the threads of `pid` spent runnable but waiting for a CPU (/proc schedstat).

    On a shared machine a process can show 50% CPU because it was starved,
    not idle; this tells the two apart.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


class CallOutcome:
    OK, SHED, ERROR = "ok", "shed", "error"


async def call_tool(http: httpx.AsyncClient, url: str, tool: str, args: dict[str, Any]) -> str:
    """One tools/call POST: ok, shed (503 + Retry-After from admission control) or error."""
    response = await post_tools_call(http, url, tool=tool, args=args, client="reliability-bench")
    if response.status_code == 503 and response.headers.get("retry-after"):
        return CallOutcome.SHED
    if response.status_code != 200:
        return CallOutcome.ERROR
    answer = msgspec.json.decode(response.content)
    ok = "result" in answer and not answer["result"].get("isError")
    return CallOutcome.OK if ok else CallOutcome.ERROR


@dataclasses.dataclass
class ClientFigures:
    latencies: list[float] = dataclasses.field(default_factory=list)
    calls: int = 0
    errors: int = 0
    shed: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def client_process(
    url: str,
    *,
    clients: int,
    interval: float,
    warmup: float,
    seconds: float,
    out: multiprocessing.Queue[Any],
    go: Any,  # a multiprocessing Event
    tools: list[tuple[str, dict[str, Any]]],
    nice: int,
) -> None:
    """`clients` concurrent MCP clients: warm up, say so on `out`, measure for `seconds` from `go`.

    interval > 0: each client's calls are due every `interval` s on a fixed
    schedule. Like an assistant, a client has one call out at a time (it
    reads the answer before asking again), so a late answer delays its next
    call; but each call's latency counts from when it was due, not from when
    it was sent, so a server that falls behind is not flattered by a load
    that slows down with it (no coordinated omission). interval == 0: closed
    loop with no think time, every client calling back to back (a stress test).
    """
    _TOOLS[:] = tools  # a spawned child starts from the module's defaults
    # The clients stand in for assistants on other machines: they yield the CPU to
    # the agent (and to the simulator, whose 1k events/s are the workload), so on a
    # shared 2-core box the agent is not starved by its own load generator.
    os.nice(nice)
    anyio.run(_client_load, url, clients, interval, warmup, seconds, out, go)


async def _client_load(
    url: str,
    clients: int,
    interval: float,
    warmup: float,
    seconds: float,
    out: multiprocessing.Queue[Any],
    go: Any,
) -> None:
    figures = ClientFigures()
    measuring = False

    async def one_call(http: httpx.AsyncClient, n: int, due: float) -> None:
        tool, args = _TOOLS[n % len(_TOOLS)]
        try:
            outcome = await call_tool(http, url, tool, args)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            outcome = CallOutcome.ERROR
            if len(figures.notes) < 5:
                figures.notes.append(f"client error: {type(exc).__name__}: {exc}")
        if measuring:
            figures.calls += 1
            figures.latencies.append(time.perf_counter() - due)
            figures.errors += outcome == CallOutcome.ERROR
            figures.shed += outcome == CallOutcome.SHED

    async def client(i: int) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            if interval <= 0:
                for n in itertools.count(i):
                    await one_call(http, n, time.perf_counter())
            # Clients start spread over one interval, as independent assistants would.
            due = time.perf_counter() + interval * i / clients
            for n in itertools.count(i):
                await anyio.sleep(max(0.0, due - time.perf_counter()))
                await one_call(http, n, due)
                due += interval

    async with anyio.create_task_group() as tg:
        for i in range(clients):
            tg.start_soon(client, i)
        await anyio.sleep(warmup)  # connections, caches, the first answers settle
        out.put("warm")
        await anyio.to_thread.run_sync(go.wait)  # the parent: the agent's RSS has levelled off
        measuring = True
        await anyio.sleep(seconds)
        measuring = False
        tg.cancel_scope.cancel()
    out.put(dataclasses.asdict(figures))


def probe_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": {"probe": "lag"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class Phase:
    """One load on the agent: `interval` s between a client's calls (0: closed loop)."""

    name: str  # row prefix: "soak" (gated) or "stress" (figures)
    clients: int
    interval: float
    warmup: float
    seconds: float
    level_cap: float = 0.0  # wait up to this long for the agent's RSS to level off first


async def rss_levelled(pid: int, *, cap: float, window: int = 15) -> float | None:
    """Wait until `pid`'s RSS varied by < 1% over `window` s; the seconds it took, None at `cap`.

    Why: at 1k events/s the agent's working set grows for a minute or so (SQLite
    page caches, the history table's pages, allocator arenas) and then stays
    flat; growth measured from inside that warm-up is not growth over time.
    """
    started = time.perf_counter()
    samples: list[int] = []
    while time.perf_counter() - started < cap:
        samples.append(rss_figures(pid)["VmRSS"])
        recent = samples[-window:]
        if len(recent) == window and max(recent) - min(recent) < 0.01 * recent[-1]:
            return time.perf_counter() - started
        await anyio.sleep(1.0)  # the sampling pace, not a wait
    return None if cap > 0 else 0.0


def rss_figures(pid: int) -> dict[str, int]:
    """VmRSS and its anonymous part (heap; RssFile is the mapped code and libraries)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            values[key] = int(rest.split()[0]) * 1024
    return values


async def soak(
    *,
    phases: list[Phase],
    events_per_s: float,
    quick: bool,
    lag_bound: float,
    agent_args: list[str],
    harness_nice: int,
) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    async with Simulator(bookmark_interval=5.0, window=500_000) as sim:
        scenario = Scenario(
            sim.store,
            seed=21,
            nodes=20 if quick else 50,
            deployments=60 if quick else 200,
            pods_per_deployment=3,
            namespaces=4,
            churn=1.0,
            events=False,
        )
        scenario.populate()
        # Calibrate: events per churn action, so the rate gives ~events_per_s.
        events = 0

        def count(_t: str, _r: str, _o: object) -> None:
            nonlocal events
            events += 1

        sim.store.add_listener(count)

        async def churn() -> None:
            """Churn actions paced by the events they produce, catching up when behind.

            (Scenario.run paces by actions; a step's events vary, and on a busy
            machine a fixed pace falls behind without making it up.)
            """
            started, produced = time.perf_counter(), events
            while True:
                due = (time.perf_counter() - started) * events_per_s
                burst_end = time.perf_counter() + 0.02
                while events - produced < due and time.perf_counter() < burst_end:
                    scenario.step()
                await anyio.sleep(0.005)  # let the watch streams carry the burst out

        with tempfile.TemporaryDirectory(prefix="kwc-soak-") as tmp:
            kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig")
            async with (
                agent_process(
                    kubeconfig=kubeconfig,
                    workdir=Path(tmp),
                    db_name="soak.db",
                    ready_seconds=300,
                    extra_args=agent_args,
                ) as (url, pid),
                anyio.create_task_group() as tg,
            ):
                ready_rss = rss_figures(pid)["VmRSS"]
                rows.append(
                    ("agent RSS when ready", f"{ready_rss / 2**20:.0f} MiB", "(figure)", None)
                )
                tg.start_soon(churn)
                # Probes created while a phase measures, by phase; pending: not seen yet.
                lags: dict[str, list[float]] = {}
                pending: dict[str, tuple[float, str | None]] = {}
                measuring: str | None = None

                def committed(names: list[str]) -> set[str]:
                    """Which of `names` the agent's store has committed (read-only)."""
                    marks = ",".join("?" * len(names))
                    with contextlib.closing(
                        sqlite3.connect(f"file:{Path(tmp) / 'soak.db'}?mode=ro", uri=True)
                    ) as db:
                        query = (
                            "SELECT name FROM pods WHERE namespace = 'default' "
                            f"AND name IN ({marks})"
                        )
                        return {row[0] for row in db.execute(query, names)}

                async def lag_probe() -> None:
                    """A probe pod a second, each timed until the agent's store has committed it.

                    Read from the database file rather than over MCP, so that the
                    figure is ingest alone; what an MCP answer adds is the latency row.
                    """
                    next_probe = time.perf_counter()
                    for i in itertools.count(1):
                        if time.perf_counter() >= next_probe:
                            name = f"lag-probe-{i}"
                            sim.store.create("pods", probe_pod(name))
                            pending[name] = (time.perf_counter(), measuring)
                            next_probe += 1.0
                        if pending:
                            seen = await anyio.to_thread.run_sync(committed, list(pending))
                            now = time.perf_counter()
                            for name in seen:
                                created, phase = pending.pop(name)
                                if phase is not None:
                                    lags[phase].append(now - created)
                        await anyio.sleep(0.05)  # the poll's pace, not a wait

                async def run_phase(phase: Phase) -> None:
                    nonlocal events, measuring
                    # The clients run in their own process, so that their CPU does
                    # not slow the simulator's churn (this process) or the agent;
                    # it still shares the machine, and its CPU is in the table.
                    context = multiprocessing.get_context("spawn")
                    results: multiprocessing.Queue[Any] = context.Queue()
                    go = context.Event()
                    load = context.Process(
                        target=client_process,
                        args=(url,),
                        kwargs={
                            "clients": phase.clients,
                            "interval": phase.interval,
                            "warmup": phase.warmup,
                            "seconds": phase.seconds,
                            "out": results,
                            "go": go,
                            "nice": harness_nice,
                            "tools": list(_TOOLS),
                        },
                        daemon=True,
                    )
                    load.start()
                    await anyio.to_thread.run_sync(results.get)  # "warm"
                    levelled_in = await rss_levelled(pid, cap=phase.level_cap)
                    go.set()
                    assert load.pid is not None
                    rss = rss_figures(pid)
                    cpu = {
                        "agent": cpu_seconds(pid),
                        "sim": time.process_time(),
                        "load": cpu_seconds(load.pid),
                        "wait": runqueue_wait_seconds(pid),
                    }
                    events = 0
                    lags[phase.name] = []
                    measuring = phase.name
                    started = time.perf_counter()
                    trend: list[int] = []  # VmRSS every second: growth that levels off or not

                    async def sample_rss() -> None:
                        while True:
                            await anyio.sleep(1.0)  # the sampling pace, not a wait
                            trend.append(rss_figures(pid)["VmRSS"])

                    async with anyio.create_task_group() as sampling:
                        sampling.start_soon(sample_rss)
                        figures = ClientFigures(**await anyio.to_thread.run_sync(results.get))
                        sampling.cancel_scope.cancel()
                    measuring = None
                    elapsed = time.perf_counter() - started
                    end_rss = rss_figures(pid)
                    cpu = {
                        "agent": cpu_seconds(pid) - cpu["agent"],
                        "sim": time.process_time() - cpu["sim"],
                        "load": cpu_seconds(load.pid) - cpu["load"],
                        "wait": runqueue_wait_seconds(pid) - cpu["wait"],
                    }
                    # Probes still unseen count with the lag they have so far.
                    ended = time.perf_counter()
                    lags[phase.name] += [
                        ended - created for created, p in pending.values() if p == phase.name
                    ]
                    load.join(timeout=30)
                    rows.extend(
                        phase_rows(
                            phase,
                            figures=figures,
                            elapsed=elapsed,
                            events=events,
                            cpu=cpu,
                            rss=(rss, end_rss),
                            trend=trend,
                            levelled_in=levelled_in,
                            lags=lags[phase.name],
                            lag_bound=lag_bound,
                        )
                    )
                    notes.extend(f"{phase.name}: {note}" for note in figures.notes)

                async with anyio.create_task_group() as probes:
                    probes.start_soon(lag_probe)
                    for phase in phases:
                        await run_phase(phase)
                    probes.cancel_scope.cancel()
                tg.cancel_scope.cancel()
    return rows, notes


def phase_rows(
    phase: Phase,
    *,
    figures: ClientFigures,
    elapsed: float,
    events: int,
    cpu: dict[str, float],
    rss: tuple[dict[str, int], dict[str, int]],
    trend: list[int],
    levelled_in: float | None,
    lags: list[float],
    lag_bound: float,
) -> list[Row]:
    """The table rows of one phase; only the paced soak's are bounds, stress rows are figures."""
    gated = phase.name == "soak"

    def bound(ok: bool) -> bool | None:
        return ok if gated else None

    n = phase.name
    rate = events / elapsed
    start, end = rss
    growth = (end["VmRSS"] - start["VmRSS"]) / start["VmRSS"]
    anon = (end["RssAnon"] - start["RssAnon"]) / 2**20
    p50, p99 = percentile(figures.latencies, 50), percentile(figures.latencies, 99)
    lag50, lag99 = percentile(lags, 50), percentile(lags, 99)
    if phase.interval > 0:
        offered = phase.clients / phase.interval
        pacing = (
            f"1 call due every {phase.interval:g} s per client, one out at a time "
            f"({offered:.0f} calls/s offered)"
        )
    else:
        offered = math.nan
        pacing = "closed loop, no think time (stress)"
    done = figures.calls / elapsed
    if not phase.level_cap:
        levelled = "(not waited for)"
    elif levelled_in is None:
        levelled = f"did not level off in {phase.level_cap:.0f} s; measured from there"
    else:
        levelled = f"levelled off after {phase.warmup + levelled_in:.0f} s under load"
    rows: list[Row] = [
        (f"{n}: concurrent MCP clients", str(phase.clients), ">= 50", bound(phase.clients >= 50)),
        (f"{n}: client pacing", pacing, "(load model)", None),
        (f"{n}: duration", f"{elapsed:.0f} s", "60 s (full run)" if gated else "(figure)", None),
        (f"{n}: simulator churn", f"{rate:.0f} events/s", ">= 900 (~1k)", bound(rate >= 900)),
        (
            f"{n}: CPU agent / sim+probes / clients",
            f"{cpu['agent'] / elapsed:.0%} / {cpu['sim'] / elapsed:.0%} / "
            f"{cpu['load'] / elapsed:.0%} of a core (2 cores)",
            "(figure: what shares the machine)",
            None,
        ),
        (
            f"{n}: agent waiting for a CPU",
            f"{cpu['wait'] / elapsed:.0%} of the run (summed over threads)",
            "(figure: machine contention)",
            None,
        ),
        (
            f"{n}: tool calls answered",
            f"{figures.calls} ({done:.0f}/s)",
            ">= 90% of offered" if gated else "> 0",
            bound(done >= 0.9 * offered) if gated else None,
        ),
        (f"{n}: errors", str(figures.errors), "0", figures.errors == 0),
        (
            f"{n}: shed (503 + Retry-After)",
            str(figures.shed),
            "0" if gated else "(figure: admission limit)",
            bound(figures.shed == 0),
        ),
        (f"{n}: latency p50 / p99", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms", "(figure)", None),
        (
            f"{n}: agent RSS start -> end",
            f"{start['VmRSS'] / 2**20:.0f} -> {end['VmRSS'] / 2**20:.0f} MiB ({growth:+.1%}; "
            f"heap {anon:+.0f} MiB)",
            "growth <= 10%" if gated else "(figure)",
            bound(growth <= 0.10),
        ),
        (f"{n}: warm-up before measuring", levelled, "(RSS < 1% change in 15 s)", None),
        (
            f"{n}: agent RSS by quarter of the run",
            " / ".join(
                f"{trend[min(len(trend) - 1, len(trend) * q // 4)] / 2**20:.0f}"
                for q in (1, 2, 3, 4)
            )
            + " MiB"
            if trend
            else "-",
            "(figure: levels off or climbs)",
            None,
        ),
        (
            f"{n}: ingest lag p50 / p99 / max",
            f"{lag50 * 1000:.0f} / {lag99 * 1000:.0f} / {max(lags, default=math.nan) * 1000:.0f} "
            f"ms ({len(lags)} probes)",
            f"p99 <= {lag_bound:g} s",
            bool(lags) and lag99 <= lag_bound if gated else None,
        ),
    ]
    return rows


_READ_VERBS = {"get", "list", "watch"}
_RAISED = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception)\b.*$", re.MULTILINE)  # a traceback's end


async def fuzz_run(*, requests: int, seed: int) -> tuple[list[Row], list[str]]:
    """Part 3: the seeded fuzzer against the agent as a process (see the module doc)."""
    rows: list[Row] = []
    notes = [
        f"fuzz: left out (KNOWN_OPEN) {family}: {why}" for family, why in fuzz.KNOWN_OPEN.items()
    ]
    async with Simulator() as sim:
        Scenario(
            sim.store,
            seed=7,
            nodes=10,
            deployments=30,
            pods_per_deployment=3,
            namespaces=4,
            churn=0.0,
            events=False,
        ).populate()

        def writes() -> dict[tuple[str, str], int]:
            return {k: n for k, n in sim.requests.snapshot().items() if k[0] not in _READ_VERBS}

        with tempfile.TemporaryDirectory(prefix="kwc-fuzz-") as tmp:
            kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig")
            writes_before = writes()
            async with (
                agent_process(
                    kubeconfig=kubeconfig, workdir=Path(tmp), db_name="fuzz.db", ready_seconds=120
                ) as (url, _pid),
                httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=8)) as http,
            ):
                catalog = await fuzz.fetch_catalog(http, url)
                session = await fuzz.open_legacy_session(http, url)
                report = await fuzz.run(
                    url,
                    fuzz.generate(seed, requests, catalog=catalog, session_id=session),
                    http=http,
                )
                health = await http.get(url.removesuffix("/mcp") + "/health")
                normal = await post_tools_call(
                    http, url, tool="cluster_health", args={}, client="fuzz-check"
                )
                healthy = health.status_code == 200 and normal.status_code == 200
                healthy = healthy and '"isError":true' not in normal.text.replace(" ", "")
                log_text = (Path(tmp) / "agent.log").read_text()
            sent_writes = sum(writes().values()) - sum(writes_before.values())
    logged = log_text.count("Traceback")
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(report.statuses.items()))
    rows += [
        ("fuzz: requests (seed)", f"{report.requests} ({seed})", "(figure)", None),
        ("fuzz: duration", f"{report.seconds:.1f} s", "(figure)", None),
        ("fuzz: responses by status", statuses, "(figure)", None),
        ("fuzz: HTTP 5xx", str(len(report.server_errors)), "0", not report.server_errors),
        ("fuzz: tracebacks in responses", str(len(report.tracebacks)), "0", not report.tracebacks),
        ("fuzz: tracebacks in the agent's log", str(logged), "0", logged == 0),
        (
            "fuzz: query writes not refused",
            str(len(report.writes_allowed)),
            "0",
            not report.writes_allowed,
        ),
        ("fuzz: writes sent to the API server", str(sent_writes), "0", sent_writes == 0),
        (
            "fuzz: no answer / dropped",
            f"{len(report.hung)} / {len(report.dropped)}",
            "0 / 0",
            not (report.hung or report.dropped),
        ),
        ("fuzz: healthy afterwards", "yes" if healthy else "no", "yes", healthy),
        (
            "fuzz: internal errors (-32603, crashed tool)",
            str(sum(report.internal_errors.values())),
            "(figure)",
            None,
        ),
    ]
    if report.internal_errors:
        notes.append(f"fuzz: internal errors by family: {dict(report.internal_errors)}")
    notes += [f"fuzz: {failure}" for failure in report.failures[:20]]
    raised = collections.Counter(_RAISED.findall(log_text))
    notes += [f"fuzz: logged {n}x: {line}" for line, n in raised.most_common(10)]
    return rows, notes


def print_table(rows: list[Row]) -> None:
    header = ("figure", "value", "bound", "")
    cells = [header] + [
        (f, v, b, "" if ok is None else ("PASS" if ok else "FAIL")) for f, v, b, ok in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    for n, c in enumerate(cells):
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cluster, 5 s down, 10 s soak")
    parser.add_argument("--clients", type=int, default=50, help="concurrent MCP clients [50]")
    parser.add_argument("--soak-seconds", type=float, help="soak length [60; --quick 10]")
    parser.add_argument(
        "--call-interval",
        type=float,
        default=1.0,
        help="seconds between one client's calls in the soak, open loop [1.0]",
    )
    parser.add_argument(
        "--stress-seconds",
        type=float,
        help="then closed-loop stress, same clients, no think time [20; --quick 5; 0: none]",
    )
    parser.add_argument(
        "--agent-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra `serve` argument for the soaked agent, repeatable "
        "(e.g. --agent-arg=--mcp-concurrency --agent-arg=0 to compare without admission)",
    )
    parser.add_argument(
        "--level-cap",
        type=float,
        help="wait up to this long for the agent's RSS to level off before the soak "
        "measures [150; --quick 45; 0 = no wait]",
    )
    parser.add_argument(
        "--harness-nice",
        type=int,
        default=5,
        help="niceness added to the MCP client process [5; 0 = none]",
    )
    parser.add_argument(
        "--lag-bound", type=float, default=5.0, help="ingest lag p99 bound in seconds [5]"
    )
    parser.add_argument(
        "--tools", nargs="*", help="rotate over only these tools (to find which load hurts)"
    )
    parser.add_argument(
        "--fuzz-requests", type=int, help="requests of the fuzz run [20000; --quick 3000]"
    )
    parser.add_argument("--fuzz-seed", type=int, default=18, help="the fuzz run's seed [18]")
    parser.add_argument("--skip-faults", action="store_true", help="no fault matrix")
    parser.add_argument("--skip-soak", action="store_true", help="no load and soak")
    parser.add_argument("--skip-fuzz", action="store_true", help="no fuzz run")
    args = parser.parse_args()
    if args.tools:
        unknown = set(args.tools) - {name for name, _ in _TOOLS}
        if unknown:
            parser.error(f"unknown tools {sorted(unknown)}; known: {[n for n, _ in _TOOLS]}")
        _TOOLS[:] = [(name, a) for name, a in _TOOLS if name in args.tools]
    scale = (
        Scale(steps=3, unreachable_s=5.0, slow_s=2.0, nodes=6, deployments=15, settle_s=30.0)
        if args.quick
        else Scale(
            steps=5,
            unreachable_s=60.0,
            slow_s=2.0,
            nodes=10,
            deployments=40,
            pods_per_deployment=3,
            settle_s=60.0,
        )
    )
    rows: list[Row] = []
    notes: list[str] = []
    # Faults make the informers log every retry; the table is the output here.
    logging.getLogger("watcher").setLevel(logging.ERROR)
    if not args.skip_faults:
        await fault_matrix(scale, rows, notes)
        rows.append(
            ("API unreachable for", f"{scale.unreachable_s:.0f} s", "60 s (full run)", None)
        )
        rows.append(("slow responses", f"{scale.slow_s:.0f} s per request", "2 s", None))
    if not args.skip_soak:
        warmup = 8.0 if args.quick else 15.0
        phases = [
            Phase(
                name="soak",
                clients=args.clients,
                interval=args.call_interval,
                warmup=warmup,
                seconds=args.soak_seconds or (10.0 if args.quick else 60.0),
                level_cap=args.level_cap
                if args.level_cap is not None
                else (45.0 if args.quick else 150.0),
            )
        ]
        stress = (
            args.stress_seconds
            if args.stress_seconds is not None
            else (5.0 if args.quick else 20.0)
        )
        if stress > 0:
            phases.append(
                Phase(name="stress", clients=args.clients, interval=0.0, warmup=3.0, seconds=stress)
            )
        soak_rows, soak_notes = await soak(
            phases=phases,
            events_per_s=1000.0,
            quick=args.quick,
            lag_bound=args.lag_bound,
            agent_args=args.agent_arg,
            harness_nice=args.harness_nice,
        )
        rows.append(
            (
                "MCP client process niceness",
                f"+{args.harness_nice}",
                "(agent and simulator +0)",
                None,
            )
        )
        rows += soak_rows
        notes += soak_notes
    if not args.skip_fuzz:
        fuzz_rows, fuzz_notes = await fuzz_run(
            requests=args.fuzz_requests or (3000 if args.quick else 20_000), seed=args.fuzz_seed
        )
        rows += fuzz_rows
        notes += fuzz_notes
    print_table(rows)
    for note in notes:
        print("note:", note)
    gating = [r for r in rows if not (args.quick and r[0].startswith(("soak:", "stress:")))]
    return 0 if all(ok is not False for *_, ok in gating) else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
