"""The committed state in memory: aggregates, health candidates and sync states.

Cluster-wide questions ("pods by phase", "requests per node", "what is
broken") must not scan 150k rows per call, so the writer maintains their
answers incrementally: every committed batch carries, per object, its state
before and after, and `View.apply` moves the object's contribution from the
old buckets to the new ones. The view changes only after a commit, in the
writer task, so readers in the same process see exactly what SQLite holds —
no more, no less — and Prometheus collectors can read it synchronously
without I/O.

At open, the view is rebuilt from the tables (`Writer` loads every row's
state once), so it survives restarts with the database.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from kinds.deployment import DeploymentState
from kinds.node import NodeState
from kinds.pod import PodState
from kinds.spec import ObjectState
from store.health import Candidate, Finding, node_overcommitted, requests_exceed
from store.model import Kind, SyncState

__all__ = [
    "DeploymentState",
    "NodeState",
    "PodState",
    "Totals",
    "View",
]

_TERMINAL = frozenset({"Succeeded", "Failed"})
_NODE_TOTALS = (
    "nodes",
    "ready",
    "cordoned",
    "cpu_allocatable_m",
    "memory_allocatable_bytes",
    "pods_allocatable",
)
_DEPLOYMENT_TOTALS = (
    "deployments",
    "desired",
    "ready",
    "available",
    "updated",
    "degraded",  # fewer available than desired
    "down",  # none available of some desired
)


State = PodState | DeploymentState | NodeState | ObjectState


class Totals:
    """Sums over a set of pods: one per namespace, node, deployment and the cluster.

    Requests and limits count only non-terminated pods, as the scheduler
    (and `kubectl describe node`) does.
    """

    __slots__ = (
        "cpu_limit_m",
        "cpu_request_m",
        "memory_limit_bytes",
        "memory_request_bytes",
        "phases",
        "pods",
        "ready",
        "restarts",
        "statuses",
    )

    def __init__(self) -> None:
        self.pods = 0
        self.ready = 0
        self.restarts = 0
        self.cpu_request_m = 0
        self.cpu_limit_m = 0
        self.memory_request_bytes = 0
        self.memory_limit_bytes = 0
        self.phases: dict[str, int] = {}
        self.statuses: dict[str, int] = {}

    def add(self, s: PodState, sign: int) -> None:
        # Hot path (every pod change, four times): index access and inlined bumps.
        self.pods += sign
        if s[5]:
            self.ready += sign
        if s[6]:
            self.restarts += sign * s[6]
        phase = s[3]
        if phase not in _TERMINAL:
            self.cpu_request_m += sign * s[7]
            self.cpu_limit_m += sign * s[8]
            self.memory_request_bytes += sign * s[9]
            self.memory_limit_bytes += sign * s[10]
        counts = self.phases
        n = counts.get(phase, 0) + sign
        if n:
            counts[phase] = n
        else:
            del counts[phase]
        counts = self.statuses
        status = s[4]
        n = counts.get(status, 0) + sign
        if n:
            counts[status] = n
        else:
            del counts[status]

    def as_dict(self) -> dict[str, Any]:
        return {
            "pods": self.pods,
            "ready": self.ready,
            "restarts": self.restarts,
            "cpu_request_m": self.cpu_request_m,
            "cpu_limit_m": self.cpu_limit_m,
            "memory_request_bytes": self.memory_request_bytes,
            "memory_limit_bytes": self.memory_limit_bytes,
            "phases": dict(self.phases),
            "statuses": dict(self.statuses),
        }


def _bump(counts: dict[str, int], key: str, sign: int) -> None:
    n = counts.get(key, 0) + sign
    if n:
        counts[key] = n
    else:
        counts.pop(key, None)


TOP_K = 64


class TopK:
    """The `k` highest-scoring keys of a changing set, without rescanning on every change.

    Updates keep the cached ranking valid in O(k) as long as they do not push a
    ranked key below the last place; only then is the ranking rebuilt from all
    scores (O(n)), lazily, at the next read. Ties rank by key.
    """

    __slots__ = ("_members", "_ranked", "k", "scores")

    def __init__(self, k: int) -> None:
        self.k = k
        self.scores: dict[str, float] = {}
        self._ranked: list[tuple[float, str]] | None = []  # (-score, key), best first
        self._members: set[str] = set()

    def set(self, key: str, score: float) -> None:
        old = self.scores.get(key)
        if old == score:
            return
        self.scores[key] = score
        ranked = self._ranked
        if ranked is None:
            return
        entry = (-score, key)
        full = len(ranked) >= self.k
        if key in self._members:
            if full and entry > ranked[-1]:
                self._invalidate()  # fell towards the last place: someone else may overtake
                return
            ranked.remove((-old, key))  # type: ignore[operator]
            ranked.append(entry)
            ranked.sort()
        elif not full or entry < ranked[-1]:
            ranked.append(entry)
            ranked.sort()
            self._members.add(key)
            if len(ranked) > self.k:
                self._members.discard(ranked.pop()[1])

    def discard(self, key: str) -> None:
        if self.scores.pop(key, None) is not None and key in self._members:
            self._invalidate()

    def _invalidate(self) -> None:
        self._ranked = None
        self._members = set()

    def top(self, n: int) -> list[tuple[str, float]]:
        """Up to `n` (key, score) pairs, best first; n may exceed k (then it scans)."""
        if n > self.k:
            return [(k, -s) for s, k in sorted((-s, k) for k, s in self.scores.items())[:n]]
        if self._ranked is None:
            self._ranked = heapq.nsmallest(self.k, ((-s, k) for k, s in self.scores.items()))
            self._members = {k for _s, k in self._ranked}
        return [(k, -s) for s, k in self._ranked[:n]]


def _add(table: dict[Any, Totals], key: Any, state: PodState, sign: int) -> None:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    totals.add(state, sign)
    if totals.pods == 0:
        del table[key]


class Change(NamedTuple):
    """One object's state before and after a batch, as `View.apply` consumes it."""

    kind: Kind
    uid: str
    old: State | None
    new: State | None


class View:
    """The store's committed state, kept in memory by the writer; read it, never write it."""

    def __init__(self) -> None:
        self.version = 0  # commits applied; lets callers cache derived answers
        self.committed_at: float | None = None
        self.cluster = Totals()
        self.by_namespace: dict[str, Totals] = {}
        self.by_node: dict[str, Totals] = {}
        self.by_deployment: dict[tuple[str, str], Totals] = {}
        self.nodes: dict[str, tuple[str, NodeState]] = {}  # name -> (uid, state)
        self.deployments: dict[tuple[str, str], tuple[str, DeploymentState]] = {}
        self.node_statuses: dict[str, int] = {}
        self.deployment_statuses: dict[str, int] = {}
        # Sums over nodes and deployments, so cluster totals never iterate them.
        self.node_totals: dict[str, int] = dict.fromkeys(_NODE_TOTALS, 0)
        self.deployment_totals: dict[str, int] = dict.fromkeys(_DEPLOYMENT_TOTALS, 0)
        self.deployments_by_namespace: dict[str, int] = {}
        self.candidates: dict[str, tuple[Candidate, ...]] = {}  # uid -> row analyzers' candidates
        self.overcommitted: dict[str, float] = {}  # node name -> since
        # Nodes ranked by requested/allocatable, kept as pods come and go.
        self.node_cpu_top = TopK(TOP_K)
        self.node_memory_top = TopK(TOP_K)
        self.sync: dict[Kind, SyncState] = {k: SyncState(kind=k) for k in Kind}
        # Every kind: how many objects, and how many in each status.
        self.counts: dict[Kind, int] = dict.fromkeys(Kind, 0)
        self.statuses: dict[Kind, dict[str, int]] = {k: {} for k in Kind}
        self.namespaces: dict[Kind, dict[str, int]] = {k: {} for k in Kind}
        # The cluster summary's aggregates, over the kinds it is about: pods per
        # namespace, node and deployment against what the nodes can allocate.
        self._summaries = {
            Kind.POD: self._pod,
            Kind.DEPLOYMENT: self._deployment,
            Kind.NODE: self._node,
        }

    # --- writes (writer task only) -----------------------------------------------------------

    def clear(self) -> None:
        """Forget everything (the writer reloads from the tables next)."""
        version = self.version
        self.__init__()  # type: ignore[misc]
        self.version = version + 1

    def apply(
        self,
        changes: Iterable[Change],
        candidates: dict[str, tuple[Candidate, ...] | None],
        sync: dict[Kind, SyncState],
        *,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        touched_nodes: set[str] = set()
        counts, statuses, summaries = self.counts, self.statuses, self._summaries
        for kind, uid, old, new in changes:
            if old is None or new is None or old.status != new.status:
                by_status = statuses[kind]
                if old is not None:
                    _bump(by_status, old.status, -1)
                if new is not None:
                    _bump(by_status, new.status, 1)
                if old is None and new is not None:
                    counts[kind] += 1
                    _bump(self.namespaces[kind], new.namespace, 1)
                elif new is None and old is not None:
                    counts[kind] -= 1
                    _bump(self.namespaces[kind], old.namespace, -1)
            summary = summaries.get(kind)
            if summary is not None:
                summary(uid, old, new, touched_nodes)
        for uid, found in candidates.items():
            if found:
                self.candidates[uid] = found
            else:
                self.candidates.pop(uid, None)
        self.sync.update(sync)
        for name in touched_nodes:
            self._refresh_node(name, now)
        self.version += 1
        self.committed_at = now

    def _pod(self, uid: str, old: Any, new: Any, touched: set[str]) -> None:
        if old is not None and new is not None:
            if old[:11] == new[:11]:
                return
            if old[:5] == new[:5]:
                self._pod_shift(old, new, touched)
                return
        if old is not None:
            self._pod_into(old, -1, touched)
        if new is not None:
            self._pod_into(new, 1, touched)

    def _pod_shift(self, old: PodState, new: PodState, touched: set[str]) -> None:
        """A pod that kept its buckets (namespace, node, deployment, phase, status).

        The common watch event — a restart count, readiness — moves no pod
        between buckets: add the differences to the four totals it is in,
        instead of taking it out of them and putting it back.
        """
        namespace, node, deployment = old[0], old[1], old[2]
        tables = [self.cluster, self.by_namespace[namespace]]
        if node:
            tables.append(self.by_node[node])
        if deployment:
            tables.append(self.by_deployment[(namespace, deployment)])
        ready = new[5] - old[5]
        restarts = new[6] - old[6]
        if ready or restarts:
            for t in tables:
                t.ready += ready
                t.restarts += restarts
        if old[7:11] != new[7:11] and old[3] not in _TERMINAL:
            cpu_request, cpu_limit = new[7] - old[7], new[8] - old[8]
            memory_request, memory_limit = new[9] - old[9], new[10] - old[10]
            for t in tables:
                t.cpu_request_m += cpu_request
                t.cpu_limit_m += cpu_limit
                t.memory_request_bytes += memory_request
                t.memory_limit_bytes += memory_limit
            if node:
                touched.add(node)

    def _pod_into(self, state: PodState, sign: int, touched: set[str]) -> None:
        self.cluster.add(state, sign)
        namespace, node, deployment = state[0], state[1], state[2]
        _add(self.by_namespace, namespace, state, sign)
        if node:
            _add(self.by_node, node, state, sign)
            touched.add(node)
        if deployment:
            _add(self.by_deployment, (namespace, deployment), state, sign)

    def _deployment(self, uid: str, old: Any, new: Any, touched: set[str]) -> None:
        for state, sign in ((old, -1), (new, 1)):
            if state is None:
                continue
            _bump(self.deployment_statuses, state.status, sign)
            _bump(self.deployments_by_namespace, state.namespace, sign)
            t = self.deployment_totals
            t["deployments"] += sign
            t["desired"] += sign * state.replicas
            t["ready"] += sign * state.ready_replicas
            t["available"] += sign * state.available_replicas
            t["updated"] += sign * state.updated_replicas
            if state.available_replicas < state.replicas:
                t["degraded"] += sign
                if state.available_replicas == 0:
                    t["down"] += sign
        if old is not None:
            self.deployments.pop((old.namespace, old.name), None)
        if new is not None:
            self.deployments[(new.namespace, new.name)] = (uid, new)

    def _node(self, uid: str, old: Any, new: Any, touched: set[str]) -> None:
        for state, sign in ((old, -1), (new, 1)):
            if state is None:
                continue
            t = self.node_totals
            t["nodes"] += sign
            t["ready"] += sign * (state.ready == "True")
            t["cordoned"] += sign * state.unschedulable
            t["cpu_allocatable_m"] += sign * state.cpu_allocatable_m
            t["memory_allocatable_bytes"] += sign * state.memory_allocatable_bytes
            t["pods_allocatable"] += sign * state.pods_allocatable
        if old is not None:
            _bump(self.node_statuses, old.status, -1)
            self.nodes.pop(old.name, None)
            touched.add(old.name)
        if new is not None:
            _bump(self.node_statuses, new.status, 1)
            self.nodes[new.name] = (uid, new)
            touched.add(new.name)

    def _refresh_node(self, name: str, now: float) -> None:
        """After the node or its pods changed: overcommit flag and utilization rankings."""
        node = self.nodes.get(name)
        if node is None:
            self.overcommitted.pop(name, None)
            self.node_cpu_top.discard(name)
            self.node_memory_top.discard(name)
            return
        state = node[1]
        totals = self.by_node.get(name)
        cpu = totals.cpu_request_m if totals else 0
        memory = totals.memory_request_bytes if totals else 0
        cpu_alloc, memory_alloc = state.cpu_allocatable_m, state.memory_allocatable_bytes
        if requests_exceed(cpu, memory, cpu_alloc, memory_alloc):
            self.overcommitted.setdefault(name, now)
        else:
            self.overcommitted.pop(name, None)
        for top, used, alloc in (
            (self.node_cpu_top, cpu, cpu_alloc),
            (self.node_memory_top, memory, memory_alloc),
        ):
            if alloc > 0:
                top.set(name, used / alloc)
            else:
                top.discard(name)

    def _overcommit_finding(self, name: str, *, since: float | None) -> Finding | None:
        node = self.nodes.get(name)
        totals = self.by_node.get(name)
        if node is None or totals is None:
            return None
        uid, state = node
        return node_overcommitted(
            name=name,
            uid=uid,
            requested_cpu_m=totals.cpu_request_m,
            requested_memory_bytes=totals.memory_request_bytes,
            allocatable_cpu_m=state.cpu_allocatable_m,
            allocatable_memory_bytes=state.memory_allocatable_bytes,
            since=since,
        )

    # --- reads --------------------------------------------------------------------------------

    def overcommit_findings(self) -> Iterator[Finding]:
        for name, since in self.overcommitted.items():
            finding = self._overcommit_finding(name, since=since)
            if finding is not None:
                yield finding

    def objects(self, kind: Kind) -> int:
        return self.counts[kind]
