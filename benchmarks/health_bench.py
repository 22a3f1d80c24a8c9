"""Health benchmark: does the first page find what is broken now?

Run:  .venv/bin/python benchmarks/health_bench.py [--quick] [--pods N] [--seed S]

A seeded simulated cluster (10k pods; --quick: 2k) gets problems of every
kind the analyzers know (crash loops, image pull and config errors, OOM kills,
unschedulable and quota-starved pods, NotReady, lost, pressured and cordoned
nodes, bad rollouts), spread over the last 15 minutes of its clock so some are
past their grace period and some are not, plus ordinary rollouts, scaling and
deletions. The agent runs as its own process (`kube-watchcache serve`) and is
asked through the SDK client once it is synced, while the cluster stands
still, so its answers and the cluster describe the same moment.

"Broken at that moment" is judged from the simulator's own objects, the way
kubectl reads them, independently of the agent's analyzers:

- a pod: being deleted (STATUS Terminating), phase not Running/Succeeded, or
  Running with a container not ready (READY x/y with x < y; a waiting reason
  such as CrashLoopBackOff included);
- a node: Ready condition not True;
- a deployment: fewer available replicas than desired.

Two figures, with the issue's targets:

- recall of page 1 of `cluster_health` (default arguments): the share of the
  broken objects it accounts for, named (a finding's object, or a grouped pod
  among its examples) or covered by a grouped finding (a node's group covers
  the pods on that node, a deployment's group the pods of that deployment);
  pending findings (inside a grace period) count, since the page names them.
  Target >= 95%.
- precision of page 1 of `list_pods(problems_only=true)`: the share of its
  items that are broken. Target 100%.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcp import Client  # noqa: E402

from benchmarks._agent_process import agent_process  # noqa: E402
from benchmarks._table import print_table  # noqa: E402
from simulator import ObjectStore, Simulator  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.virtual_clock import SimClock  # noqa: E402

# Every problem the analyzers know, and the ordinary churn around them.
DAMAGE = (
    "crash_loop",
    "oom_kill",
    "image_pull_error",
    "config_error",
    "crash_rollout",
    "unschedulable",
    "quota_exceeded",
    "node_not_ready",
    "node_lost",
    "node_pressure",
    "cordon",
)
ORDINARY = ("rollout", "scale", "delete_pod")
SPREAD_S = 900.0  # damage spread over the last 15 minutes of the cluster's clock

Key = tuple[str, str, str]  # kind, namespace, name


def build_cluster(pods: int, seed: int) -> tuple[ObjectStore, Scenario, Counter[str]]:
    """A settled cluster of about `pods` pods, damaged over the last `SPREAD_S` seconds."""
    began = datetime.now(UTC)
    clock = SimClock(began - timedelta(seconds=SPREAD_S + 60))
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
    scenario.populate()
    steps = 4 * len(DAMAGE) * max(1, pods // 5000)
    done: Counter[str] = Counter()
    for i in range(steps):
        kind = DAMAGE[i % len(DAMAGE)] if i % 4 else ORDINARY[(i // 4) % len(ORDINARY)]
        if not scenario.step(kind).endswith("nothing to act on"):
            done[kind] += 1
        scenario.advance(SPREAD_S / steps)
    # Catch the cluster's clock up with ours (the build took a while): "now" is now.
    behind = (datetime.now(UTC) - clock.start).total_seconds() - clock.seconds
    if behind > 0:
        scenario.advance(behind)
    return objects, scenario, done


def _describe(objects: ObjectStore, key: Key) -> str:
    """What kubectl would show of a missed object (for --show)."""
    resource = {"Pod": "pods", "Node": "nodes", "Deployment": "deployments"}[key[0]]
    for entry in objects.entries(resource, key[1] or None):
        obj = _decode(entry.raw)
        if obj["metadata"]["name"] == key[2]:
            status = obj.get("status", {})
            states = [
                (c.get("ready"), list(c.get("state", {}))[:1], c.get("state", {}))
                for c in status.get("containerStatuses") or []
            ]
            deleting = bool(obj["metadata"].get("deletionTimestamp"))
            return f"phase={status.get('phase')} deleting={deleting} {states}"
    return "?"


def _decode(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(raw)
    return value


def broken_now(
    objects: ObjectStore,
) -> tuple[set[Key], dict[Key, str], dict[Key, str], set[str]]:
    """Broken objects, read as kubectl reads them; pod -> node; pod -> namespace/deployment;
    and the deployments (namespace/name) whose ReplicaFailure condition names a quota."""
    broken: set[Key] = set()
    node_of: dict[Key, str] = {}
    deployment_of: dict[Key, str] = {}
    rs_owner: dict[tuple[str, str], str] = {}
    for entry in objects.entries("replicasets"):
        rs = _decode(entry.raw)
        meta = rs["metadata"]
        for ref in meta.get("ownerReferences", []):
            if ref.get("kind") == "Deployment":
                rs_owner[(meta["namespace"], meta["name"])] = ref["name"]
    for entry in objects.entries("pods"):
        pod = _decode(entry.raw)
        meta, status = pod["metadata"], pod.get("status", {})
        key: Key = ("Pod", meta["namespace"], meta["name"])
        if node := pod.get("spec", {}).get("nodeName"):
            node_of[key] = node
        for ref in meta.get("ownerReferences", []):
            if ref.get("kind") == "ReplicaSet":
                owner = rs_owner.get((meta["namespace"], ref["name"]))
                if owner:
                    deployment_of[key] = f"{meta['namespace']}/{owner}"
        containers = status.get("containerStatuses") or []
        phase = status.get("phase", "Pending")
        if (
            meta.get("deletionTimestamp")
            or phase not in ("Running", "Succeeded")
            or (phase == "Running" and not all(c.get("ready") for c in containers))
        ):
            broken.add(key)
    for entry in objects.entries("nodes"):
        node = _decode(entry.raw)
        ready = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        if ready.get("Ready") != "True":
            broken.add(("Node", "", node["metadata"]["name"]))
    quota_blocked: set[str] = set()
    for entry in objects.entries("deployments"):
        dep = _decode(entry.raw)
        meta, status = dep["metadata"], dep.get("status", {})
        desired = dep.get("spec", {}).get("replicas", 1)
        if status.get("availableReplicas", 0) < desired:
            broken.add(("Deployment", meta["namespace"], meta["name"]))
        for c in status.get("conditions", []):
            if c["type"] == "ReplicaFailure" and "exceeded quota" in c.get("message", ""):
                quota_blocked.add(f"{meta['namespace']}/{meta['name']}")
    return broken, node_of, deployment_of, quota_blocked


def _matches(
    group: dict[str, Any],
    key: Key,
    node_of: dict[Key, str],
    owner: dict[Key, str],
    quota_blocked: set[str],
    on_node: dict[str, set[str]],
) -> bool:
    """Whether a broken object shares the group's cause, judged from the cluster's objects."""
    kind, namespace, name = key
    if group["by"] == "node":  # its pods, and deployments with pods on it
        if kind == "Pod":
            return node_of.get(key) == group["key"]
        return kind == "Deployment" and f"{namespace}/{name}" in on_node.get(group["key"], ())
    if group["by"] == "deployment":  # the deployment and its pods
        if kind == "Deployment":
            return f"{namespace}/{name}" == group["key"]
        return kind == "Pod" and owner.get(key) == group["key"]
    if group["by"] == "quota":  # deployments whose ReplicaFailure names a quota, and their pods
        if namespace != group["key"].split("/", 1)[0]:
            return False
        deployment = f"{namespace}/{name}" if kind == "Deployment" else owner.get(key)
        return deployment in quota_blocked
    return False


def accounted(
    broken: set[Key],
    page: dict[str, Any],
    node_of: dict[Key, str],
    owner: dict[Key, str],
    quota_blocked: set[str],
) -> set[Key]:
    """The broken objects page 1 accounts for: named, or covered by a group's cause.

    A group is credited, per kind, with at most as many objects as it says it
    holds (its `by_check` and `pending_by_check` counts), so a cause that
    matches more objects than it holds cannot take credit for them.
    """
    named: set[Key] = set()
    groups = []
    for item in [*page["findings"], *page["pending"], *page["more_causes"]]:
        named.add((item["kind"], item["namespace"], item["name"]))
        group = item.get("group")
        if group:
            groups.append(group)
            for example in group["examples"]:
                namespace, name = example.split("/", 1)
                named.add(("Pod", namespace, name))
            for example in group.get("deployments", []):
                namespace, name = example.split("/", 1)
                named.add(("Deployment", namespace, name))
            for example in group.get("pending_examples", []):  # pods or deployments
                namespace, name = example.split("/", 1)
                named |= {("Pod", namespace, name), ("Deployment", namespace, name)}
    out = broken & named
    # Credit the groups with the objects they hold: the largest matching between the
    # broken objects not yet named and the groups' places (per kind, as many as each
    # group says it holds), each object to a group whose cause it shares.
    kinds = {"pod": "Pod", "deployment": "Deployment", "node": "Node"}
    places: list[tuple[int, str]] = []  # (group index, kind), one per object a group holds
    for i, group in enumerate(groups):
        budget: Counter[str] = Counter()
        for check, n in [*group["by_check"].items(), *group["pending_by_check"].items()]:
            budget[kinds[check.split(".", 1)[0]]] += n
        for example in [*group["examples"], *group.get("deployments", [])]:
            budget["Pod" if example in group["examples"] else "Deployment"] -= 1
        for example in group.get("pending_examples", []):
            for kind in ("Pod", "Deployment"):
                if (kind, *example.split("/", 1)) in out:
                    budget[kind] -= 1
        places += [(i, kind) for kind, n in budget.items() for _ in range(max(0, n))]
    on_node: dict[str, set[str]] = {}  # node -> namespace/deployment of the pods on it
    for pod, node in node_of.items():
        if pod in owner:
            on_node.setdefault(node, set()).add(owner[pod])
    shares = [
        {
            key
            for key in broken - out
            if _matches(group, key, node_of, owner, quota_blocked, on_node)
        }
        for group in groups
    ]
    candidates = {
        key: [p for p, (i, kind) in enumerate(places) if kind == key[0] and key in shares[i]]
        for key in broken - out
    }
    taken: dict[int, Key] = {}

    def assign(key: Key, seen: set[int]) -> bool:
        for place in candidates[key]:
            if place in seen:
                continue
            seen.add(place)
            if place not in taken or assign(taken[place], seen):
                taken[place] = key
                return True
        return False

    for key in candidates:
        assign(key, set())
    out |= set(taken.values())
    return out


async def _explain_missed(url: str, objects: ObjectStore, missed: list[Key]) -> None:
    """For --show: each missed object as the cluster and as the agent see it."""
    async with Client(url) as client:
        for key in missed:
            kind, namespace, name = key
            if kind == "Node":
                result = await client.call_tool("get_node", {"name": name})
            else:
                tool = "get_pod" if kind == "Pod" else "get_deployment"
                result = await client.call_tool(tool, {"namespace": namespace, "name": name})
            data = result.structured_content or {}
            checks = [f["check"] for f in data.get("findings", [])]
            pending = [f["check"] for f in data.get("pending_findings", [])]
            print(
                f"missed: {key} {_describe(objects, key)[:160]} agent: {checks} pending {pending}",
                file=sys.stderr,
            )


async def ask(url: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    async with Client(url) as client:
        health = await client.call_tool("cluster_health", {})
        pods = await client.call_tool("list_pods", {"problems_only": True})
    assert health.structured_content is not None
    assert pods.structured_content is not None
    text = "\n".join(getattr(b, "text", "") for b in health.content)
    return health.structured_content, pods.structured_content, text


async def run(pods: int, seed: int, *, show: bool) -> list[str]:
    started = time.perf_counter()
    objects, _scenario, done = build_cluster(pods, seed)
    print(
        f"-- {objects.count('pods'):,} pods, {objects.count('nodes'):,} nodes, "
        f"{objects.count('deployments'):,} deployments built in "
        f"{time.perf_counter() - started:.1f}s; actions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(done.items())),
        file=sys.stderr,
    )
    broken, node_of, deployment_of, quota_blocked = broken_now(objects)
    with tempfile.TemporaryDirectory(prefix="health-bench-") as tmp:
        workdir = Path(tmp)
        async with Simulator(store=objects, bookmark_interval=30.0) as sim:
            kubeconfig = sim.write_kubeconfig(workdir / "sim.kubeconfig")
            async with agent_process(
                kubeconfig=kubeconfig, workdir=workdir, db_name="health.db", ready_seconds=600
            ) as (url, _pid):
                health, listed, text = await ask(url)
                covered = accounted(broken, health, node_of, deployment_of, quota_blocked)
                if show:
                    print(text, file=sys.stderr)
                    await _explain_missed(url, objects, sorted(broken - covered)[:20])
    hit = len(covered)
    missed = Counter(k[0] for k in broken - covered)
    items = listed["items"]
    correct = sum(1 for p in items if ("Pod", p["namespace"], p["name"]) in broken)
    by_kind = Counter(k for k, _ns, _n in broken)
    rate = hit / len(broken) if broken else 1.0
    precision = correct / len(items) if items else 1.0
    return [
        f"{objects.count('pods'):,}",
        f"{len(broken)} ({', '.join(f'{k} {v}' for k, v in sorted(by_kind.items()))})",
        f"{len(health['findings'])}+{len(health['pending'])} items, "
        f"{len(health['more_causes'])} more causes, "
        f"{len(json.dumps(health)) / 1000:.0f} kB",
        f"{hit}/{len(broken)} = {rate:.1%}"
        + (f" (missed {', '.join(f'{k} {v}' for k, v in missed.items())})" if missed else ""),
        "PASS" if rate >= 0.95 else "FAIL",
        f"{correct}/{len(items)} = {precision:.1%}",
        "PASS" if precision == 1.0 else "FAIL",
    ]


HEADER = [
    "pods",
    "broken now (kubectl's reading)",
    "cluster_health page 1",
    "recall (>= 95%)",
    "",
    "list_pods(problems_only) page 1 precision (100%)",
    "",
]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k pods")
    parser.add_argument("--pods", type=int, nargs="*", help="cluster sizes (default 10k)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--show", action="store_true", help="print the cluster_health text")
    args = parser.parse_args()
    sizes = args.pods or ([2_000] if args.quick else [10_000])
    rows = [await run(pods, args.seed, show=args.show) for pods in sizes]
    print()
    print("Does page 1 find what is broken now? (seeded simulator, agent as its own process)")
    print_table(HEADER, rows, numbers=False)
    return 0 if all(r[4] == "PASS" and r[6] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
