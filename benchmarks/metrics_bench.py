"""/metrics benchmark: scrape time and size per mode, and what scraping costs ingestion.

The real agent (`running_agent`: informers, store, HTTP app) runs in this
process against the simulator in a child process (its own core's worth of
work); the scraper is a third process, so neither the simulator's nor the
client's work is measured as the agent's. Per cluster size (default 10k, 20k
and 150k pods; --quick: 2k and 6k):

1. Scrape, per mode (objects: kube-state-metrics families, one series per
   object, rendered by the renderer process; objects-in-process: the same,
   rendered in a thread of the agent as before the renderer process, kept as
   the baseline; summary: bounded aggregates; alerts: auto mode above its
   object limit, i.e. the aggregates plus the families kubernetes-mixin's
   alerts need, forced here with a limit of 0; default: auto mode with the
   default limit, what a user gets at that size): seconds from request to last byte
   with Prometheus' own headers (OpenMetrics, gzip), the snapshot build time,
   payload size on the wire and uncompressed, series count, and the worst
   event-loop stall of the agent during the scrape (a 5 ms ticker's
   lateness). Baseline, at the smaller size only (it is slow): rendering the
   very same samples with prometheus_client's `generate_latest`, against our
   renderer (read, render and gzip, nothing cached).
2. Ingest: pod status updates streamed by the simulator (held by its stall
   fault and released at once, so the agent's pace is measured), committed
   to the store, events/s — without scrapes and with a scrape every second
   per mode, alternated; the ratio is the cost of scraping. Also per run:
   the agent process's CPU per event (every thread: the GIL time scraping
   takes from ingestion shows here) and the renderer process's (from /proc),
   and each round's rate ratio, since on a shared machine one round's noise
   can exceed the 10% being measured (the summary-mode rows, whose scrape
   costs next to nothing, show how much).
3. Ingest under the default mode scraped every 15 s (Prometheus' usual
   interval is 15-60 s), the first scrape at the start of each run: the
   measured ratio, and the steady-state one, 15 / (15 + d), where d is the
   ingest time one scrape costs (the scraped run's extra time over the quiet
   rate, per scrape). A run shorter than 15 s holds one whole scrape, so the
   measured ratio overstates the cost; the estimate does not.

Targets: summary-mode scrape <= 200 ms at 150k pods; ingest slowed <= 10%.

Run: .venv/bin/python benchmarks/metrics_bench.py [--quick] [--only 150k]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from benchmarks._simulator_process import Served, serve_simulator  # noqa: E402

PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}

SIZES: dict[str, list[dict[str, Any]]] = {
    "full": [
        {
            "name": "10k",
            "nodes": 400,
            "deployments": 1_000,
            "pods_per_deployment": 10,
            "namespaces": 20,
            "events": 30_000,
            "scrapes": 5,
            "baseline": True,
        },
        {
            "name": "20k",
            "nodes": 800,
            "deployments": 2_000,
            "pods_per_deployment": 10,
            "namespaces": 30,
            "events": 30_000,
            "scrapes": 5,
            "baseline": False,
        },
        {
            "name": "150k",
            "nodes": 5_000,
            "deployments": 10_000,
            "pods_per_deployment": 15,
            "namespaces": 50,
            "events": 50_000,
            "scrapes": 3,
            "baseline": False,
        },
    ],
    "quick": [
        {
            "name": "2k",
            "nodes": 80,
            "deployments": 200,
            "pods_per_deployment": 10,
            "namespaces": 5,
            "events": 10_000,
            "scrapes": 3,
            "baseline": True,
        },
        {
            "name": "6k",
            "nodes": 200,
            "deployments": 400,
            "pods_per_deployment": 15,
            "namespaces": 10,
            "events": 15_000,
            "scrapes": 3,
            "baseline": False,
        },
    ],
}
INGEST_ROUNDS = 4  # each: one unscraped and one scraped run, back to back; medians reported
SLOW_INTERVAL = 15.0  # seconds between scrapes for the default mode's ingest runs


# --- the simulator process -------------------------------------------------------------------


async def _bump(served: Served, count: int) -> int:
    """`count` pod status updates (one container's restart count +1 each); how many were made."""
    return len(served.bump(count))


def _server_main(conn: Connection, size: dict[str, Any]) -> None:
    window = size["events"] + 10_000
    asyncio.run(serve_simulator(conn, size=size, window=window, commands={"bump": _bump}))


# --- the scraper process ---------------------------------------------------------------------


def _get(url: str) -> tuple[float, int, int, int]:
    """One Prometheus-like scrape: (seconds to last byte, wire bytes, bytes, series)."""
    request = urllib.request.Request(url, headers=PROMETHEUS_HEADERS)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        raw = response.read()
        zipped = response.headers.get("Content-Encoding") == "gzip"
    seconds = time.perf_counter() - started
    text = gzip.decompress(raw) if zipped else raw
    series = sum(1 for line in text.split(b"\n") if line and not line.startswith(b"#"))
    return seconds, len(raw), len(text), series


def _fetch(url: str) -> float:
    """A scrape as Prometheus' own scraper does it, minus the parsing: seconds to last byte."""
    request = urllib.request.Request(url, headers=PROMETHEUS_HEADERS)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()
    return time.perf_counter() - started


def _scraper_main(conn: Connection, url: str) -> None:
    stop = threading.Event()
    periodic: list[float] = []
    worker: threading.Thread | None = None

    def periodically(interval: float) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            periodic.append(_fetch(url))
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    while True:
        cmd = conn.recv()
        if cmd == "once":
            conn.send(_get(url))
        elif isinstance(cmd, tuple) and cmd[0] == "start":
            stop.clear()
            periodic.clear()
            worker = threading.Thread(target=periodically, args=(cmd[1],), daemon=True)
            worker.start()
            conn.send(None)
        elif cmd == "finish":
            stop.set()
            if worker is not None:
                worker.join()
            conn.send(list(periodic))
        elif cmd == "stop":
            conn.send(None)
            return


class Child:
    """A helper process driven by commands over a pipe."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child, *args), daemon=True)
        self._proc.start()

    def recv(self) -> Any:
        return self._conn.recv()

    async def call(self, cmd: Any, arg: Any = None) -> Any:
        self._conn.send(cmd if arg is None and not isinstance(cmd, str) else (cmd, arg))
        return await anyio.to_thread.run_sync(self._conn.recv)

    async def ask(self, cmd: str) -> Any:
        self._conn.send(cmd)
        return await anyio.to_thread.run_sync(self._conn.recv)

    def stop(self, message: Any) -> None:
        self._conn.send(message)
        self._conn.recv()
        self._proc.join(30)


# --- measurements in the agent process -----------------------------------------------------------


class LagProbe:
    """The event loop's worst lateness on a 5 ms ticker, reset per measurement."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await anyio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - started - 0.005)


class Commits:
    """Rows committed by the store, to know when a burst of events is in."""

    def __init__(self) -> None:
        self.rows = 0
        self.goal = 0
        self.reached = anyio.Event()

    def __call__(self, rows: int, seconds: float) -> None:
        self.rows += rows
        if self.goal and self.rows >= self.goal:
            self.reached.set()


@dataclass
class Result:
    size: str
    pods: int
    events: int = 0  # per ingest run
    scrape: dict[str, dict[str, float]] = field(default_factory=dict)
    baseline: dict[str, float] | None = None
    default_mode: str = ""
    ingest: dict[str, list[tuple[IngestRun, IngestRun]]] = field(default_factory=dict)
    slow: list[tuple[IngestRun, IngestRun]] = field(default_factory=list)  # default, 15 s
    rss_mb: float = 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _render_in_process(agent: Any) -> tuple[float, bytes]:
    """Our path without HTTP, nothing cached: the renderer's read, render and gzip."""
    cluster = agent.metrics.cluster
    await cluster.renderer.aclose()  # a cold renderer: every pod read and rendered
    started = time.perf_counter()
    snapshot = await cluster.snapshot()
    body = await cluster.render(snapshot, head=b"", tail=b"", openmetrics=False)
    seconds = time.perf_counter() - started
    return seconds, gzip.decompress(b"".join(body))


# How objects mode is rendered: in the renderer process (the default), or in a thread of
# the agent (what it did before, kept for comparison and as the no-subprocess fallback).
# `alerts`: auto mode above its limit (forced with a limit of 0); `default`: auto mode as
# shipped, whichever mode that picks at this size.
VARIANTS = ("summary", "objects", "objects-in-process", "alerts", "default")
VARIANT_MODE = {
    "summary": "summary",
    "objects": "objects",
    "objects-in-process": "objects",
    "alerts": "auto",
    "default": "auto",
}
INGEST_EVERY_SECOND = ("summary", "objects", "objects-in-process")


async def _use(cluster: Any, variant: str) -> str:
    """Set the collector up for `variant`; the mode its snapshots will have."""
    from mcpserver.ksm import LocalRenderer, RenderWorker
    from mcpserver.ksm.collector import DEFAULT_OBJECTS_LIMIT

    cluster.mode = "objects"
    cluster.effective_mode()  # out of auto mode: its next choice starts afresh
    cluster.mode = VARIANT_MODE[variant]
    cluster.objects_limit = 0 if variant == "alerts" else DEFAULT_OBJECTS_LIMIT
    mode: str = cluster.effective_mode()
    wanted = LocalRenderer if variant == "objects-in-process" else RenderWorker
    if not isinstance(cluster.renderer, wanted):
        await cluster.renderer.aclose()
        cluster.renderer = wanted(cluster.store.path)
    return mode


def _build_sum(agent: Any, mode: str) -> tuple[float, float]:
    """(sum, count) of the snapshot build histogram of `mode` so far."""
    found = {
        s.name.rsplit("_", 1)[-1]: s.value
        for family in agent.metrics.snapshot_seconds.collect()
        for s in family.samples
        if s.name.endswith(("_sum", "_count")) and s.labels.get("mode") == mode
    }
    return found.get("sum", 0.0), found.get("count", 0.0)


def _prometheus_client_baseline(text: bytes) -> float:
    """Seconds for prometheus_client to render the same samples from a custom collector."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families = list(text_string_to_metric_families(text.decode()))

    class Replay:
        def collect(self) -> list[Metric]:
            out = []
            for f in families:
                m = Metric(f.name, f.documentation, f.type)
                for s in f.samples:
                    m.add_sample(s.name, s.labels, s.value)
                out.append(m)
            return out

    registry = CollectorRegistry()
    registry.register(Replay())
    started = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - started


async def _scrape(scraper: Child, probe: LagProbe) -> tuple[float, int, int, int, float]:
    probe.worst = 0.0
    seconds, wire, size, series = await scraper.ask("once")
    return seconds, wire, size, series, probe.worst


@dataclass
class IngestRun:
    rate: float  # events/s, from release to the last commit
    cpu_per_event: float  # the agent process's CPU seconds (every thread) per event
    scrapes: list[float]  # durations of the scrapes made during the run
    renderer_cpu_per_event: float = 0.0  # the renderer process's CPU seconds per event


def _renderer_cpu(agent: Any) -> float:
    """CPU seconds the agent's renderer process has used so far (0 without one)."""
    pid = getattr(agent.metrics.cluster.renderer, "pid", None)
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _ingest(
    server: Child,
    agent: Any,
    commits: Commits,
    events: int,
    *,
    scraper: Child | None,
    interval: float = 1.0,
) -> IngestRun:
    """One burst of pod updates, scraped every `interval` s from release to commit if `scraper`."""
    await agent.store.writer.flush()
    await server.call("stall")
    done = await server.call("bump", events)
    commits.rows = 0
    commits.goal = done
    commits.reached = anyio.Event()
    if scraper is not None:
        await scraper.call("start", interval)
    started, cpu, child = time.perf_counter(), time.process_time(), _renderer_cpu(agent)
    await server.call("release")
    with anyio.fail_after(600):
        await commits.reached.wait()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    child = max(0.0, _renderer_cpu(agent) - child)  # 0 if the renderer restarted meanwhile
    scrapes = await scraper.ask("finish") if scraper is not None else []
    commits.goal = 0
    return IngestRun(
        rate=done / seconds,
        cpu_per_event=cpu / done,
        scrapes=scrapes,
        renderer_cpu_per_event=child / done,
    )


async def measure(size: dict[str, Any]) -> Result:
    from mcpserver.agent import running_agent
    from mcpserver.config import Settings
    from simulator.kubeconfig import kubeconfig, write_kubeconfig

    server = Child(_server_main, size)
    info = server.recv()
    result = Result(size=size["name"], pods=info["counts"].get("pods", 0), events=size["events"])
    workdir = Path(tempfile.mkdtemp(prefix="metrics-bench-"))
    config = write_kubeconfig(workdir / "kubeconfig", kubeconfig(server=info["url"]))
    settings = Settings(
        port=0, db=workdir / "state.db", kubeconfig=config, log_level="error", metrics_mode="auto"
    )
    try:
        started = time.perf_counter()
        async with running_agent(settings) as agent, anyio.create_task_group() as tg:
            with anyio.fail_after(1800):
                await agent.informers.wait_synced()
                await agent.store.writer.flush()
            synced_in = time.perf_counter() - started
            print(f"  {size['name']}: {result.pods} pods synced in {synced_in:.0f} s", flush=True)
            probe = LagProbe()
            tg.start_soon(probe.run)
            commits = Commits()
            agent.store.writer.on_commit(commits)
            assert agent.url is not None
            scraper = Child(_scraper_main, agent.url.removesuffix("/mcp") + "/metrics")
            cluster = agent.metrics.cluster
            assert cluster is not None
            try:
                for variant in VARIANTS:
                    mode = await _use(cluster, variant)
                    if variant == "default":
                        # The variant that holds the same exposition.
                        result.default_mode = "objects" if mode == "objects" else "alerts"
                    before = _build_sum(agent, mode)
                    cold = await _scrape(scraper, probe)  # objects mode: reads and renders all
                    runs = [await _scrape(scraper, probe) for _ in range(size["scrapes"])]
                    after = _build_sum(agent, mode)
                    result.scrape[variant] = {
                        "cold": cold[0],
                        "seconds": statistics.median(r[0] for r in runs),
                        "wire": runs[-1][1],
                        "bytes": runs[-1][2],
                        "series": runs[-1][3],
                        "lag": max(r[4] for r in [cold, *runs]),
                        "build": (after[0] - before[0]) / max(1, after[1] - before[1]),
                    }
                    print(f"  {size['name']} {variant}: {result.scrape[variant]}", flush=True)
                if size["baseline"]:
                    await _use(cluster, "objects")
                    ours, text = await _render_in_process(agent)
                    theirs = await anyio.to_thread.run_sync(_prometheus_client_baseline, text)
                    result.baseline = {"ours": ours, "prometheus_client": theirs}
                for variant in INGEST_EVERY_SECOND:
                    if result.scrape[variant]["seconds"] > 1.0:
                        continue  # a scrape outlasts the interval: Prometheus would time out
                    await _use(cluster, variant)
                    pairs = result.ingest.setdefault(variant, [])
                    for i in range(INGEST_ROUNDS):
                        # Alternate which run goes first, so a drifting machine cancels out.
                        order = (None, scraper) if i % 2 == 0 else (scraper, None)
                        pair = [
                            await _ingest(server, agent, commits, size["events"], scraper=who)
                            for who in order
                        ]
                        quiet, scraped = pair if i % 2 == 0 else pair[::-1]
                        pairs.append((quiet, scraped))
                        print(
                            f"  {size['name']} {variant} ingest: {quiet.rate:,.0f}/s quiet, "
                            f"{scraped.rate:,.0f}/s with {len(scraped.scrapes)} scrapes "
                            f"(CPU/event {quiet.cpu_per_event * 1e6:.0f} vs "
                            f"{scraped.cpu_per_event * 1e6:.0f} us)",
                            flush=True,
                        )
                if result.scrape["default"]["seconds"] <= 10.0:  # Prometheus' scrape timeout
                    await _use(cluster, "default")
                    for i in range(INGEST_ROUNDS):
                        order = (None, scraper) if i % 2 == 0 else (scraper, None)
                        pair = [
                            await _ingest(
                                server,
                                agent,
                                commits,
                                size["events"],
                                scraper=who,
                                interval=SLOW_INTERVAL,
                            )
                            for who in order
                        ]
                        quiet, scraped = pair if i % 2 == 0 else pair[::-1]
                        result.slow.append((quiet, scraped))
                        print(
                            f"  {size['name']} default ingest, {SLOW_INTERVAL:.0f} s scrapes: "
                            f"{quiet.rate:,.0f}/s quiet, {scraped.rate:,.0f}/s with "
                            f"{len(scraped.scrapes)} scrapes; steady state "
                            f"{_steady_ratio([(quiet, scraped)], events=size['events']):.3f}",
                            flush=True,
                        )
                await _use(cluster, "objects")
            finally:
                scraper.stop("stop")
                await agent.metrics.aclose()  # the renderer process
            result.rss_mb = _peak_rss_mb()
            tg.cancel_scope.cancel()
    finally:
        server.stop(("stop", None))
        shutil.rmtree(workdir, ignore_errors=True)  # a 150k-pod store is ~1 GB
    return result


def _ratio(pairs: list[tuple[IngestRun, IngestRun]]) -> float:
    """Median over rounds of scraped rate / quiet rate (each pair ran back to back)."""
    return statistics.median(scraped.rate / quiet.rate for quiet, scraped in pairs)


def _steady_ratio(pairs: list[tuple[IngestRun, IngestRun]], *, events: int) -> float:
    """Median over rounds of 15 / (15 + d): d, the ingest time one scrape costs."""
    ratios = []
    for quiet, scraped in pairs:
        extra = max(0.0, events / scraped.rate - events / quiet.rate)
        per_scrape = extra / max(1, len(scraped.scrapes))
        ratios.append(SLOW_INTERVAL / (SLOW_INTERVAL + per_scrape))
    return statistics.median(ratios)


def _cpu_ratio(pairs: list[tuple[IngestRun, IngestRun]]) -> float:
    """Median over rounds of quiet CPU/event over scraped CPU/event: the capacity left."""
    return statistics.median(q.cpu_per_event / s.cpu_per_event for q, s in pairs)


def table(results: list[Result]) -> str:
    lines = [
        "| size | mode | first scrape (s) | scrape (s) | snapshot build (s) | wire (MB, gzip) "
        "| payload (MB) | series | worst loop stall (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for mode, m in r.scrape.items():
            default = " (default)" if mode == r.default_mode else ""
            lines.append(
                f"| {r.size} ({r.pods:,} pods) | {mode}{default} | {m['cold']:.3f} "
                f"| {m['seconds']:.3f} | {m['build']:.3f} | {m['wire'] / 1e6:.2f} "
                f"| {m['bytes'] / 1e6:.1f} | {m['series']:,.0f} | {m['lag'] * 1000:.0f} |"
            )
    lines += ["", "| size | renderer, objects mode | seconds | ratio |", "|---|---|---|---|"]
    for r in results:
        if r.baseline is None:
            continue
        ours, theirs = r.baseline["ours"], r.baseline["prometheus_client"]
        lines.append(
            f"| {r.size} | ours: read + render + gzip, nothing cached | {ours:.3f} | 1.0 |"
        )
        lines.append(
            f"| {r.size} | prometheus_client generate_latest, same samples, render only "
            f"| {theirs:.3f} | {theirs / ours:.1f}x slower |"
        )
    lines += [
        "",
        "| size | mode | ingest, no scrapes (events/s) | ingest, scraped every 1 s (events/s) "
        "| rate ratio (per round) | agent CPU/event ratio | renderer process CPU/event (us) "
        "| scrapes during ingest: median s (count) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for mode in INGEST_EVERY_SECOND:
            pairs = r.ingest.get(mode)
            default = " (default)" if mode == r.default_mode else ""
            if not pairs:
                lines.append(
                    f"| {r.size} | {mode}{default} | - | - | n/a: one scrape takes > 1 s "
                    "| - | - | - |"
                )
                continue
            quiet = statistics.median(q.rate for q, _s in pairs)
            scraped = statistics.median(s.rate for _q, s in pairs)
            during = [d for _q, s in pairs for d in s.scrapes]
            rounds = " ".join(f"{s.rate / q.rate:.2f}" for q, s in pairs)
            child = statistics.median(s.renderer_cpu_per_event for _q, s in pairs) * 1e6
            lines.append(
                f"| {r.size} | {mode}{default} | {quiet:,.0f} | {scraped:,.0f} "
                f"| {_ratio(pairs):.2f} ({rounds}) | {_cpu_ratio(pairs):.2f} | {child:.0f} "
                f"| {statistics.median(during) if during else 0:.3f} ({len(during)}) |"
            )
    lines += [
        "",
        f"| size | default mode | scrape (s) | samples | ingest ratio, scraped every "
        f"{SLOW_INTERVAL:.0f} s: measured (per round) | steady state 15/(15+d) "
        "| agent CPU/event ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r.scrape["default"]
        if not r.slow:
            ratios = "n/a: one scrape takes > 10 s | - | -"
        else:
            rounds = " ".join(f"{s.rate / q.rate:.2f}" for q, s in r.slow)
            steady = _steady_ratio(r.slow, events=r.events)
            ratios = f"{_ratio(r.slow):.2f} ({rounds}) | {steady:.3f} | {_cpu_ratio(r.slow):.2f}"
        lines.append(
            f"| {r.size} ({r.pods:,} pods) | {r.default_mode} | {m['seconds']:.3f} "
            f"| {m['series']:,.0f} | {ratios} |"
        )
    lines += [
        "",
        "peak RSS of the agent process: "
        + ", ".join(f"{r.size} {r.rss_mb:.0f} MB" for r in results),
    ]
    return "\n".join(lines)


def verdicts(results: list[Result]) -> str:
    biggest = results[-1]
    summary = biggest.scrape["summary"]["seconds"]
    lines = [
        f"summary-mode scrape at {biggest.size}: {summary * 1000:.0f} ms (target <= 200 ms): "
        f"{'PASS' if summary <= 0.2 else 'FAIL'}"
    ]
    for label, chosen in (
        ("summary mode", {r.size: "summary" for r in results}),
        ("default mode", {r.size: r.default_mode for r in results}),
    ):
        measured = [
            (r.size, r.ingest[chosen[r.size]]) for r in results if r.ingest.get(chosen[r.size])
        ]
        if not measured:
            lines.append(f"ingest scraped / not scraped, {label}: not measured (no 1 s scrapes)")
            continue
        rates = ", ".join(f"{size} {_ratio(pairs):.2f}" for size, pairs in measured)
        cpus = ", ".join(f"{size} {_cpu_ratio(pairs):.2f}" for size, pairs in measured)
        ok = min(_ratio(pairs) for _size, pairs in measured) >= 0.9
        lines.append(
            f"ingest scraped / not scraped, {label}: rate {rates}; CPU/event {cpus} "
            f"(target >= 0.90): {'PASS' if ok else 'FAIL'}"
        )
    slow = [(r.size, _steady_ratio(r.slow, events=r.events)) for r in results if r.slow]
    if slow:
        ok = min(ratio for _size, ratio in slow) >= 0.9
        lines.append(
            f"ingest, default mode scraped every {SLOW_INTERVAL:.0f} s, steady state: "
            + ", ".join(f"{size} {ratio:.3f}" for size, ratio in slow)
            + f" (target >= 0.90): {'PASS' if ok else 'FAIL'}"
        )
    return "\n".join(lines)


async def main(quick: bool, only: str | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    # Every bumped restart count is a transition; their log lines are not what is measured.
    logging.getLogger("dispatch.transitions").setLevel(logging.CRITICAL + 1)
    results = []
    sizes = SIZES["quick" if quick else "full"]
    for size in sizes:
        if only is None or size["name"] == only:
            results.append(await measure(size))
    print()
    print(table(results))
    print()
    print(verdicts(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small clusters, short runs")
    parser.add_argument("--only", metavar="SIZE", help="run one size of the set (e.g. 150k)")
    args = parser.parse_args()
    anyio.run(main, args.quick, args.only)
