"""The `simulate` command: a simulated cluster with churn, served over HTTP(S).

`kube-watchcache simulate` (wired in mcpserver's CLI) and `python -m simulator`
both use these two functions: `add_simulate_arguments` declares the options,
`run_simulate` runs until cancelled. Signal handling belongs to the caller, so
both entry points stop the same way: the caller cancels, the server closes its
watches and connections, and the command returns normally.

The cluster is populated before the server listens, so the first LIST a client
makes already sees the whole cluster and never waits behind a half-built one.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import anyio

from .faults import FAILURE_STATUSES
from .scenario import Scenario
from .server import Simulator
from .storage import ObjectStore
from .virtual_clock import SimClock

__all__ = ["add_simulate_arguments", "run_simulate"]

log = logging.getLogger(__name__)

ReadyHook = Callable[[Simulator, Scenario], None]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of the `simulate` command on `parser`."""
    shape = parser.add_argument_group("cluster")
    shape.add_argument("--nodes", type=_positive_int, default=10, help="nodes (default: 10)")
    shape.add_argument(
        "--deployments", type=_non_negative_int, default=30, help="deployments (default: 30)"
    )
    shape.add_argument(
        "--pods-per-deployment",
        type=_non_negative_int,
        default=3,
        help="replicas of each deployment (default: 3)",
    )
    shape.add_argument(
        "--namespaces", type=_positive_int, default=4, help="application namespaces (default: 4)"
    )
    shape.add_argument(
        "--statefulsets",
        action="store_true",
        help="also seed three StatefulSets: postgres (healthy), redis (a replica "
        "crash-looping) and kafka (a rollout stuck on an image that cannot be pulled)",
    )
    shape.add_argument(
        "--churn",
        type=_non_negative_float,
        default=2.0,
        help="churn actions per second: rollouts, scaling, crash loops, node failures... "
        "(default: 2; 0 keeps the cluster still apart from what is already in flight)",
    )
    shape.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed replays the same cluster"
    )
    shape.add_argument("--log-churn", action="store_true", help="print each churn action to stderr")

    server = parser.add_argument_group("API server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument(
        "--port", type=_non_negative_int, default=0, help="port (default: 0, any free port)"
    )
    server.add_argument("--token", default=None, help="require this bearer token (401 without it)")
    server.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed CA (needed for Go clients to send a token)",
    )
    server.add_argument(
        "--kubeconfig-out",
        metavar="FILE",
        default="sim.kubeconfig",
        help="where to write a kubeconfig for kubectl and clients (default: sim.kubeconfig)",
    )
    server.add_argument(
        "--bookmark-interval",
        type=_positive_float,
        default=60.0,
        help="seconds between watch BOOKMARK events (default: 60)",
    )
    server.add_argument(
        "--window",
        type=_positive_int,
        default=10_000,
        help="events kept for watch resumption; older resourceVersions get 410 (default: 10000)",
    )

    faults = parser.add_argument_group("fault injection")
    faults.add_argument(
        "--fault-close-after",
        type=_positive_int,
        metavar="N",
        help="close every watch stream after N events",
    )
    faults.add_argument(
        "--fault-error",
        type=int,
        choices=sorted(FAILURE_STATUSES),
        metavar="CODE",
        help=f"answer requests with this status ({', '.join(map(str, sorted(FAILURE_STATUSES)))})",
    )
    faults.add_argument(
        "--fault-error-count",
        type=_positive_int,
        default=1,
        metavar="K",
        help="how many requests get --fault-error (default: 1)",
    )
    faults.add_argument(
        "--fault-error-verb",
        metavar="VERB",
        help="only requests with this verb get --fault-error (list, watch, get, ...)",
    )
    faults.add_argument(
        "--fault-stall", action="store_true", help="stall every watch stream (open, silent)"
    )
    faults.add_argument(
        "--fault-delay",
        type=_non_negative_float,
        metavar="SECONDS",
        help="delay every response by SECONDS",
    )
    faults.add_argument(
        "--fault-malformed",
        type=_positive_int,
        metavar="N",
        help="replace the next N watch events with a line that is not JSON",
    )
    faults.add_argument(
        "--fault-truncate",
        type=_positive_int,
        metavar="N",
        help="cut the next N watch events in half and drop the connection",
    )
    faults.add_argument(
        "--fault-history-reset-after",
        type=_positive_float,
        metavar="SECONDS",
        help="restart once after SECONDS as a restored or replaced control plane: a lower "
        "resourceVersion, the same names with new uids (clients must relist)",
    )
    faults.add_argument(
        "--fault-serve-future-rv",
        action="store_true",
        help="serve a list or watch at a resourceVersion not reached yet from the current "
        'state instead of answering 504 "Too large resource version" (as some proxies do)',
    )


def _arm_faults(sim: Simulator, args: argparse.Namespace) -> list[str]:
    armed = []
    faults = sim.faults
    if args.fault_close_after:
        faults.close_watches_after(args.fault_close_after)
        armed.append(f"watches close after {args.fault_close_after} events")
    if args.fault_error:
        faults.fail_next(
            args.fault_error_count, status=args.fault_error, verb=args.fault_error_verb
        )
        scope = f" {args.fault_error_verb}" if args.fault_error_verb else ""
        armed.append(f"next {args.fault_error_count}{scope} request(s) answer {args.fault_error}")
    if args.fault_stall:
        faults.stall_watches()
        armed.append("watch streams stall")
    if args.fault_delay:
        faults.delay(args.fault_delay)
        armed.append(f"responses delayed {args.fault_delay}s")
    if args.fault_malformed:
        faults.send_malformed_line(args.fault_malformed)
        armed.append(f"{args.fault_malformed} malformed watch line(s)")
    if args.fault_truncate:
        faults.truncate_next_event(args.fault_truncate)
        armed.append(f"{args.fault_truncate} truncated watch event(s)")
    if args.fault_serve_future_rv:
        faults.serve_future_resource_versions()
        armed.append("future resourceVersions served from the current state (no 504)")
    if args.fault_history_reset_after:
        armed.append(f"history reset (restart) after {args.fault_history_reset_after:g}s")
    return armed


async def _reset_history_after(sim: Simulator, seconds: float, stream: TextIO) -> None:
    await anyio.sleep(seconds)
    try:
        before, after = await sim.restart(history_reset=True)
    except ValueError as e:  # a cluster that never changed: nothing lower to go back to
        print(f"fault: history reset refused: {e}", file=stream, flush=True)
        return
    print(
        f"fault: history reset: resourceVersion {before} -> {after}, every object has a new uid",
        file=stream,
        flush=True,
    )


async def run_simulate(
    args: argparse.Namespace,
    *,
    on_ready: ReadyHook | None = None,
    out: TextIO | None = None,
) -> None:
    """Populate a seeded cluster, serve it, write the kubeconfig and churn until cancelled.

    `on_ready` is called once the server listens and the kubeconfig exists
    (tests and embedding callers use it instead of parsing the output).
    """
    stream = out if out is not None else sys.stderr
    clock = SimClock(datetime.now(UTC))
    store = ObjectStore(window=args.window, clock=clock)
    scenario = Scenario(
        store,
        seed=args.seed,
        nodes=args.nodes,
        deployments=args.deployments,
        pods_per_deployment=args.pods_per_deployment,
        namespaces=args.namespaces,
        churn=args.churn,
        clock=clock,
        statefulsets=args.statefulsets,
    )
    started = time.perf_counter()
    counts = scenario.populate()
    built_in = time.perf_counter() - started
    # Virtual time stood still while building; catch up with the wall clock
    # so objects created from now on carry the real time.
    scenario.advance(built_in)
    # Everything built so far lives as long as the process: keep it out of
    # every future garbage collection.
    gc.freeze()
    print(
        f"simulated cluster (seed {args.seed}): {counts.get('nodes', 0)} nodes, "
        f"{counts.get('deployments', 0)} deployments, "
        + (f"{counts['statefulsets']} statefulsets, " if counts.get("statefulsets") else "")
        + f"{counts.get('pods', 0)} pods in "
        f"{args.namespaces} namespaces, built in {built_in:.1f}s",
        file=stream,
    )
    sim = Simulator(
        host=args.host,
        port=args.port,
        token=args.token,
        tls=args.tls,
        bookmark_interval=args.bookmark_interval,
        store=store,
    )
    armed = _arm_faults(sim, args)
    async with sim:
        kubeconfig = sim.write_kubeconfig(Path(args.kubeconfig_out)).resolve()
        auth = "bearer token required" if args.token else "no authentication"
        print(f"API server: {sim.url} ({auth})", file=stream)
        if args.token and not args.tls:
            print(
                "note: Go clients (kubectl) send no bearer token over plain http; add --tls",
                file=stream,
            )
        for fault in armed:
            print(f"fault: {fault}", file=stream)
        print(f"kubeconfig: {kubeconfig}", file=stream)
        print(f"try:  kubectl --kubeconfig {kubeconfig} get pods -A", file=stream)
        rate = f"{args.churn:g} actions/s" if args.churn else "off"
        print(f"churn: {rate}; Ctrl-C to stop", file=stream, flush=True)
        if on_ready is not None:
            on_ready(sim, scenario)
        on_step = (lambda text: print(f"churn: {text}", file=stream)) if args.log_churn else None
        try:
            async with anyio.create_task_group() as tasks:
                if args.fault_history_reset_after:
                    tasks.start_soon(
                        _reset_history_after, sim, args.fault_history_reset_after, stream
                    )
                await scenario.run(on_step=on_step)
        finally:
            scenario.close()
            stats = scenario.stats()
            print(
                f"stopped after {stats['steps']} churn actions "
                f"({stats.get('pods_created', 0)} pods created, "
                f"{stats.get('pods_deleted', 0)} deleted, {stats['open_problems']} problems open)",
                file=stream,
                flush=True,
            )
