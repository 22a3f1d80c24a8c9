"""The deterministic scenario engine: a seeded cluster and the churn that runs on it.

`Scenario` builds a settled cluster (namespaces, nodes, deployments with their
ReplicaSets and running pods) directly into an `ObjectStore`, then performs
churn actions one `step()` at a time, or at a steady rate in `run()`.
Between actions the simulated control plane (controllers, scheduler,
kubelets) reacts until the cluster is quiet again, on virtual time.

Determinism: everything random comes from one `random.Random(seed)`, every
timestamp from a virtual clock that moves a fixed amount per step, every uid
and name is drawn from that source and handed to the store. The same seed
and parameters (and start time) therefore give the same sequence of store
events, whatever the wall clock says. Changes made by clients over HTTP are
reconciled too (`kubectl scale` works), but they are outside the seed, so a
run with such interference is not reproducible.

Populating is built for size (150k pods, 10k deployments, 5k nodes in well
under a minute): objects are dicts built directly from shared per-ReplicaSet
parts, created in key order, while the control plane stays quiet.

    store = ObjectStore(clock=clock)
    scenario = Scenario(store, seed=7, nodes=50, deployments=200,
                        pods_per_deployment=3, churn=5.0, clock=clock)
    scenario.populate()
    scenario.step()                  # one action, e.g. "crash loop payments/api-7d4b9c8f6d-x2k9p"
    await scenario.run()             # churn at 5 actions/s until cancelled
"""

from __future__ import annotations

import gc
import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio
import anyio.lowlevel

from .churn import CHURN_KINDS, Churn, Problem
from .cluster_view import ClusterView, Key
from .controllers import ControllerManager
from .event_recorder import EventRecorder
from .kubelet import Kubelet
from .objects import (
    Obj,
    PodBlueprint,
    container_id,
    make_deployment,
    make_namespace,
    make_node,
    make_replicaset,
    make_uid,
    parse_cpu_millis,
    parse_memory_bytes,
    pod_template_hash,
    random_suffix,
    running_conditions,
)
from .runtime import Runtime
from .scheduler import Scheduler
from .statefulsets import (
    SEEDED_SETS,
    make_statefulset,
    revision_blueprint,
    revision_name,
    seeded_template,
    stamp_identity,
)
from .storage import ObjectStore
from .virtual_clock import SimClock, format_time
from .workloads import WorkloadFactory, previous_tag

__all__ = ["CHURN_KINDS", "Scenario"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_DAY = 86_400.0
_SETTLE_ROUNDS = 10_000
_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
_SYSTEM_NAMESPACES = ("kube-node-lease", "kube-public", "kube-system")


class Scenario:
    """A seeded simulated cluster: `populate()` it, then `step()` or `run()` churn."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        seed: int = 0,
        nodes: int = 10,
        deployments: int = 30,
        pods_per_deployment: int = 3,
        namespaces: int = 4,
        churn: float = 2.0,
        clock: SimClock | None = None,
        events: bool = True,
        node_status_interval: float = 300.0,
        terminated_pod_limit: int = 200,
        statefulsets: bool = False,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least 1 node, got nodes={nodes}")
        if deployments < 0 or pods_per_deployment < 0:
            raise ValueError("deployments and pods_per_deployment must be >= 0")
        if namespaces < 1:
            raise ValueError(f"namespaces must be >= 1, got {namespaces}")
        if churn < 0:
            raise ValueError(f"churn must be >= 0 actions per second, got {churn}")
        self.store = store
        self.seed = seed
        self.nodes = nodes
        self.deployments = deployments
        self.pods_per_deployment = pods_per_deployment
        self.namespaces = namespaces
        # Off by default: the seeded sets add pods and open problems that
        # tests counting the default cluster's objects do not expect.
        self.with_statefulsets = statefulsets
        self.churn_rate = churn
        self.clock = clock if clock is not None else SimClock(datetime.now(UTC))
        self.rng = random.Random(seed)
        self.view = ClusterView()
        self.recorder = EventRecorder(store, self.clock, rng=self.rng, enabled=events)
        self.runtime = Runtime(
            store=store, clock=self.clock, rng=self.rng, view=self.view, recorder=self.recorder
        )
        self.controllers = ControllerManager(
            self.runtime, terminated_pod_limit=terminated_pod_limit
        )
        self.scheduler = Scheduler(self.runtime)
        self.kubelet = Kubelet(self.runtime, status_interval=node_status_interval)
        self.workloads = WorkloadFactory(self.rng)
        control_plane = 0 if nodes == 1 else (1 if nodes < 5 else 3)
        width = max(2, len(str(nodes - control_plane)))
        self.control_plane_names = [f"control-plane-{i + 1}" for i in range(control_plane)]
        self.worker_names = [f"worker-{i + 1:0{width}d}" for i in range(nodes - control_plane)]
        self.namespace_names = WorkloadFactory.namespace_names(namespaces)
        self.churn = Churn(
            rt=self.runtime,
            controllers=self.controllers,
            kubelet=self.kubelet,
            workloads=self.workloads,
            workers=self.worker_names,
            baseline_replicas=pods_per_deployment,
            max_problems=max(3, (deployments + nodes) // 25),
            max_broken_nodes=max(1, min(len(self.worker_names) // 5, 50)),
        )
        self.steps = 0
        self.populated: Counter[str] = Counter()
        self._busy = False
        self._wake: anyio.Event | None = None
        self.runtime.quiet = True
        try:
            for resource in (
                "namespaces",
                "nodes",
                "deployments",
                "replicasets",
                "statefulsets",
                "pods",
            ):
                for obj in store.list(resource):
                    self.view.observe("ADDED", resource, obj)
        finally:
            self.runtime.quiet = False
        store.add_listener(self._on_store_change)
        self._listening = True

    def close(self) -> None:
        """Stop following the store (idempotent): the store may outlive this scenario."""
        if self._listening:
            self.store.remove_listener(self._on_store_change)
            self._listening = False

    # -- what callers read -----------------------------------------------------------------

    @property
    def interval(self) -> float:
        """Virtual (and, in `run()`, wall) seconds between two churn steps."""
        return 1.0 / self.churn_rate if self.churn_rate > 0 else 1.0

    @property
    def counters(self) -> Counter[str]:
        """What the control plane did: pods created/deleted/scheduled, crashes, evictions..."""
        return self.runtime.counters

    @property
    def actions(self) -> Counter[str]:
        """Churn actions performed, by kind."""
        return self.churn.actions

    @property
    def last_target(self) -> Key | None:
        """What the last churn action acted on: a pod or deployment key, ("", node)."""
        return self.churn.last_target

    @property
    def problems(self) -> list[Problem]:
        """What the churn broke and has not recovered yet."""
        return list(self.churn.problems)

    def stats(self) -> dict[str, int]:
        """Counters of everything, flat: for logs, benchmarks and the CLI."""
        out: dict[str, int] = {"steps": self.steps, "open_problems": len(self.churn.problems)}
        out.update({f"populated_{k}": v for k, v in self.populated.items()})
        out.update({f"action_{k}": v for k, v in sorted(self.churn.actions.items())})
        out.update(sorted(self.runtime.counters.items()))
        out["events_posted"] = self.recorder.posted
        out["pending_unschedulable"] = self.scheduler.pending
        return out

    # -- the store listener ------------------------------------------------------------------

    def _on_store_change(self, event_type: str, resource: str, obj: Obj) -> None:
        self.view.observe(event_type, resource, obj)
        if not self._busy and self._wake is not None:
            # A client changed something over HTTP: reconcile promptly.
            self._wake.set()

    # -- populate ------------------------------------------------------------------------------

    def populate(self) -> dict[str, int]:
        """Build the initial, settled cluster; returns the number of objects per kind.

        The cyclic garbage collector is paused meanwhile: millions of fresh
        dicts would trigger full collections over an ever larger heap, which
        doubles the time at 50k pods and grows worse with size. Nothing built
        here forms cycles.
        """
        if self.populated:
            raise RuntimeError("the scenario is already populated")
        rt = self.runtime
        self._busy = True
        rt.quiet = True
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._populate_namespaces()
            self._populate_nodes()
            pending = self._populate_workloads()
        finally:
            if collecting:
                gc.enable()
            rt.quiet = False
            self._busy = False
        self.kubelet.start_heartbeats(list(self.view.nodes))
        if self.with_statefulsets:
            self._break_statefulsets()
        for key in pending:
            self.scheduler.enqueue(key)
            owner = self.view.pods[key].owner
            if owner is not None:
                self.controllers.enqueue_replicaset(owner)
        self.settle()
        return dict(self.populated)

    def _past(self, seconds_ago: float) -> str:
        return format_time(self.clock.start - timedelta(seconds=seconds_ago))

    def _populate_namespaces(self) -> None:
        for name in sorted({*_SYSTEM_NAMESPACES, *self.namespace_names}):
            if self.store.get_entry("namespaces", None, name) is not None:
                continue
            created = self._past(self.rng.uniform(150, 200) * _DAY)
            self.store.create(
                "namespaces", make_namespace(name=name, uid=make_uid(self.rng), created=created)
            )
            self.populated["namespaces"] += 1

    def _populate_nodes(self) -> None:
        rng = self.rng
        names = [*self.control_plane_names, *self.worker_names]
        for index, name in enumerate(names):
            node = make_node(
                name=name,
                index=index,
                uid=make_uid(rng),
                created=self._past(rng.uniform(30, 150) * _DAY),
                heartbeat=self._past(rng.uniform(0, 240)),
                control_plane=name in self.control_plane_names,
                zone=_ZONES[index % len(_ZONES)],
                region="us-east-1",
                rng=rng,
            )
            self.store.create("nodes", node)
            self.populated["nodes"] += 1

    def _populate_workloads(self) -> list[Key]:
        """Deployments, ReplicaSets and running pods; returns the pods that fit nowhere."""
        rng = self.rng
        per_namespace: Counter[str] = Counter(
            self.namespace_names[rng.randrange(len(self.namespace_names))]
            for _ in range(self.deployments)
        )
        placement = _Placement(self.view, self.worker_names)
        pending: list[Key] = []
        for namespace in sorted(per_namespace):
            deployments: list[Obj] = []
            replicasets: list[Obj] = []
            pods: list[Obj] = []
            for _ in range(per_namespace[namespace]):
                self._build_deployment(
                    namespace,
                    placement=placement,
                    deployments=deployments,
                    replicasets=replicasets,
                    pods=pods,
                    pending=pending,
                )
            for resource, batch in (
                ("deployments", deployments),
                ("replicasets", replicasets),
                ("pods", pods),
            ):
                batch.sort(key=lambda obj: str(obj["metadata"]["name"]))
                for obj in batch:
                    self.store.create(resource, obj)
                self.populated[resource] += len(batch)
        if self.with_statefulsets:
            self._populate_statefulsets(placement, pending)
        return pending

    def _statefulset_namespace(self) -> str:
        names = self.namespace_names
        return "data" if "data" in names else names[-1]

    def _populate_statefulsets(self, placement: _Placement, pending: list[Key]) -> None:
        """The seeded StatefulSets, settled: every pod running and ready at its revision."""
        rng = self.rng
        namespace = self._statefulset_namespace()
        for seeded in SEEDED_SETS:
            template = seeded_template(seeded)
            created = self._past(rng.uniform(10, 90) * _DAY)
            sts = make_statefulset(
                namespace=namespace,
                name=seeded.name,
                uid=make_uid(rng),
                created=created,
                replicas=seeded.replicas,
                template=template,
            )
            self.store.create("statefulsets", sts)
            self.populated["statefulsets"] += 1
            revision = revision_name(seeded.name, template)
            blueprint = revision_blueprint(sts, revision=revision, template=template)
            cursor = placement.start(rng)
            requests = template["spec"]["containers"][0]["resources"]["requests"]
            cpu, mem = placement.cpu(requests["cpu"]), placement.mem(requests["memory"])
            for ordinal in range(seeded.replicas):
                pod_name = f"{seeded.name}-{ordinal}"
                node_name, cursor = placement.place(cursor, cpu=cpu, mem=mem)
                if node_name is None:
                    pod = blueprint.new_pod(
                        name=pod_name,
                        uid=make_uid(rng),
                        created=created,
                        volume_suffix=random_suffix(rng),
                    )
                    pending.append((namespace, pod_name))
                else:
                    pod = blueprint.running_pod(
                        name=pod_name,
                        uid=make_uid(rng),
                        created=created,
                        volume_suffix=random_suffix(rng),
                        node_name=node_name,
                        host_ip=placement.host_ip(node_name),
                        pod_ip=self.kubelet.allocate_ip(self.view.nodes[node_name]),
                        container_ids=[container_id(rng)],
                    )
                stamp_identity(pod, sts=sts, blueprint=blueprint, ordinal=ordinal)
                self.store.create("pods", pod)
                self.populated["pods"] += 1

    def _break_statefulsets(self) -> None:
        """What the seeded sets show from the start: a crash-looping replica, a stuck rollout.

        Done through the world and the API, as the churn does it: the
        kubelet's fate for one pod, and a template change to an image that
        cannot be pulled. The churn leaves both alone.
        """
        namespace = self._statefulset_namespace()
        # The controller writes the settled status (both revisions equal)
        # before anything changes.
        self.controllers.statefulsets.enqueue_all()
        self.settle()
        for seeded in SEEDED_SETS:
            key = (namespace, seeded.name)
            if seeded.trouble == "crash_loop":
                pod = (namespace, f"{seeded.name}-{seeded.replicas - 1}")
                self.kubelet.pod_faults[pod] = "crash"
                self.kubelet.kill(pod, reason="Error")
                self.churn.hold(key)
            elif seeded.trouble == "stuck_rollout":
                sts = self.store.get("statefulsets", *key)
                if sts is None:  # pragma: no cover - created just before
                    continue
                main = sts["spec"]["template"]["spec"]["containers"][0]
                main["image"] = WorkloadFactory.next_tag(main["image"])
                self.kubelet.image_faults[main["image"]] = "pull"
                self.store.update("statefulsets", sts)
                self.churn.hold(key)

    def _build_deployment(
        self,
        namespace: str,
        *,
        placement: _Placement,
        deployments: list[Obj],
        replicasets: list[Obj],
        pods: list[Obj],
        pending: list[Key],
    ) -> None:
        rng = self.rng
        replicas = self.pods_per_deployment
        name = self.workloads.deployment_name(namespace)
        template = self.workloads.template(namespace, name)
        age = rng.uniform(2, 120) * _DAY
        revision = 1 if rng.random() < 0.6 else rng.randint(2, 6)
        rs_age = age if revision == 1 else rng.uniform(0.05, 0.9) * age
        rolled_out = self._past(rs_age - rng.uniform(20, 90))
        deployment = make_deployment(
            namespace=namespace,
            name=name,
            uid=make_uid(rng),
            created=self._past(age),
            replicas=replicas,
            template=template,
            progress_deadline=self.workloads.progress_deadline(),
        )
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
        template_hash = pod_template_hash(template)
        rs_created = self._past(rs_age)
        rs = make_replicaset(
            deployment=deployment,
            template_hash=template_hash,
            replicas=replicas,
            revision=revision,
            uid=make_uid(rng),
            created=rs_created,
        )
        rs["status"] = _settled_rs_status(replicas)
        replicasets.append(rs)
        if revision > 1:
            old_template = {
                **template,
                "spec": {
                    **template["spec"],
                    "containers": [
                        {
                            **template["spec"]["containers"][0],
                            "image": previous_tag(template["spec"]["containers"][0]["image"]),
                        },
                        *template["spec"]["containers"][1:],
                    ],
                },
            }
            old_rs = make_replicaset(
                deployment={**deployment, "spec": {**deployment["spec"], "template": old_template}},
                template_hash=pod_template_hash(old_template),
                replicas=0,
                revision=revision - 1,
                uid=make_uid(rng),
                created=self._past(rng.uniform(rs_age, age)),
            )
            old_rs["status"] = {"observedGeneration": 1, "replicas": 0}
            replicasets.append(old_rs)
        deployment["status"] = _settled_deployment_status(
            replicas,
            rs_name=rs["metadata"]["name"],
            created=deployment["metadata"]["creationTimestamp"],
            rolled_out=rolled_out,
        )
        deployments.append(deployment)

        blueprint = PodBlueprint(rs)
        shared = running_conditions(rs_created)
        cpu = mem = 0
        for container in template["spec"]["containers"]:
            requests = container["resources"]["requests"]
            cpu += placement.cpu(requests["cpu"])
            mem += placement.mem(requests["memory"])
        taken: set[str] = set()
        cursor = placement.start(rng)
        for _ in range(replicas):
            pod_name = f"{rs['metadata']['name']}-{random_suffix(rng)}"
            while pod_name in taken:
                pod_name = f"{rs['metadata']['name']}-{random_suffix(rng)}"
            taken.add(pod_name)
            node_name, cursor = placement.place(cursor, cpu=cpu, mem=mem)
            if node_name is None:
                pods.append(
                    blueprint.new_pod(
                        name=pod_name,
                        uid=make_uid(rng),
                        created=rolled_out,
                        volume_suffix=random_suffix(rng),
                    )
                )
                pending.append((namespace, pod_name))
                continue
            created, conditions = rs_created, shared
            if rng.random() < 0.1:
                created = self._past(rng.uniform(60, rs_age))
                conditions = running_conditions(created)
            restarts = 0
            last_state: Obj | None = None
            main_started: str | None = None
            if rng.random() < 0.05:
                restarts = rng.randint(1, 4)
                finished_ago = rng.uniform(60, rs_age * 0.5 + 120)
                reason, code = rng.choice((("Error", 1), ("Error", 2), ("OOMKilled", 137)))
                last_state = {
                    "terminated": {
                        "containerID": container_id(rng),
                        "exitCode": code,
                        "finishedAt": self._past(finished_ago),
                        "reason": reason,
                        "startedAt": self._past(finished_ago + rng.uniform(60, 3600)),
                    }
                }
                main_started = self._past(finished_ago - 10)
            pods.append(
                blueprint.running_pod(
                    name=pod_name,
                    uid=make_uid(rng),
                    created=created,
                    volume_suffix=random_suffix(rng),
                    node_name=node_name,
                    host_ip=placement.host_ip(node_name),
                    pod_ip=self.kubelet.allocate_ip(self.view.nodes[node_name]),
                    container_ids=[container_id(rng) for _ in template["spec"]["containers"]],
                    restarts=restarts,
                    last_state=last_state,
                    main_started=main_started,
                    shared_conditions=conditions,
                )
            )

    # -- running -------------------------------------------------------------------------------

    def settle(self) -> None:
        """Let the control plane react until nothing is left to do (no time passes)."""
        was_busy, self._busy = self._busy, True
        try:
            for _ in range(_SETTLE_ROUNDS):
                did = self.controllers.process()
                did = self.scheduler.process() or did
                did = self.kubelet.process() or did
                if not did:
                    return
            log.warning("the simulated control plane did not settle in %d rounds", _SETTLE_ROUNDS)
        finally:
            self._busy = was_busy

    def advance(self, seconds: float) -> None:
        """Move virtual time forward, firing every timer that falls due on the way."""
        rt = self.runtime
        target = self.clock.seconds + seconds
        was_busy, self._busy = self._busy, True
        try:
            while True:
                due = rt.timers.next_due()
                if due is None or due > target:
                    break
                popped = rt.timers.pop_due(due)
                if popped is None:  # pragma: no cover - next_due said otherwise
                    break
                self.clock.advance_to(popped[0])
                popped[1]()
                self.settle()
            self.clock.advance_to(target)
            self.settle()
        finally:
            self._busy = was_busy

    def step(self, kind: str | None = None) -> str:
        """Advance one interval, then perform ONE churn action; its description.

        `kind` forces an action (see `CHURN_KINDS`); otherwise one is drawn
        with the seeded random source, weighted, among those that apply.
        """
        if not self.populated:
            raise RuntimeError("populate() the scenario before stepping it")
        was_busy, self._busy = self._busy, True
        try:
            self.advance(self.interval)
            description = self.churn.step(kind)
            self.settle()
        finally:
            self._busy = was_busy
        self.steps += 1
        return description

    async def run(
        self,
        *,
        steps: int | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """Step at the churn rate (or only let time pass, at churn 0) until cancelled.

        Changes made over HTTP meanwhile are reconciled as they arrive. When
        the machine cannot keep up, steps run back to back and the schedule
        is re-anchored rather than bursting to catch up. A step that fails
        (say, on an odd object a client created) is logged and the run goes
        on: a long-running demo server should not die of one bad object.
        """
        if not self.populated:
            self.populate()
        interval = self.interval
        self._wake = anyio.Event()
        anchor = anyio.current_time()
        done = 0
        try:
            while steps is None or done < steps:
                deadline = anchor + (done + 1) * interval
                while (remaining := deadline - anyio.current_time()) > 0:
                    with anyio.move_on_after(remaining):
                        await self._wake.wait()
                    if self._wake.is_set():
                        self._wake = anyio.Event()
                        self._guarded(self.settle)
                if self.churn_rate > 0:
                    description = self._guarded(self.step)
                    if on_step is not None and description is not None:
                        on_step(description)
                else:
                    self._guarded(lambda: self.advance(interval))
                done += 1
                behind = anyio.current_time() - deadline
                if behind > max(1.0, 5 * interval):
                    anchor += behind
                await anyio.lowlevel.checkpoint()
        finally:
            self._wake = None

    def _guarded(self, action: Callable[[], _T]) -> _T | None:
        try:
            return action()
        except Exception:
            log.exception("the scenario step failed; carrying on")
            self.runtime.counters["step_errors"] += 1
            return None


class _Placement:
    """Where `populate()` puts pods: spread across workers, within allocatable."""

    def __init__(self, view: ClusterView, workers: list[str]) -> None:
        self._view = view
        self._workers = workers
        facts = [view.nodes[name] for name in workers]
        self._free = [[n.cpu, n.mem, n.pods] for n in facts]
        self._ips = {n.name: n.host_ip for n in facts}

    @staticmethod
    def cpu(quantity: str) -> int:
        return parse_cpu_millis(quantity)

    @staticmethod
    def mem(quantity: str) -> int:
        return parse_memory_bytes(quantity)

    def start(self, rng: random.Random) -> int:
        return rng.randrange(len(self._workers)) if self._workers else 0

    def host_ip(self, node: str) -> str:
        return self._ips[node]

    def place(self, cursor: int, *, cpu: int, mem: int) -> tuple[str | None, int]:
        """The next worker from `cursor` with room for the pod (None: nowhere)."""
        count = len(self._workers)
        for offset in range(min(count, 200)):
            index = (cursor + offset) % count
            free = self._free[index]
            if free[2] >= 1 and free[0] >= cpu and free[1] >= mem:
                free[0] -= cpu
                free[1] -= mem
                free[2] -= 1
                return self._workers[index], index + 1
        return None, cursor


def _settled_rs_status(replicas: int) -> Obj:
    if not replicas:
        return {"observedGeneration": 1, "replicas": 0}
    return {
        "availableReplicas": replicas,
        "fullyLabeledReplicas": replicas,
        "observedGeneration": 1,
        "readyReplicas": replicas,
        "replicas": replicas,
    }


def _settled_deployment_status(
    replicas: int, *, rs_name: str, created: str, rolled_out: str
) -> Obj:
    conditions = [
        {
            "lastTransitionTime": rolled_out,
            "lastUpdateTime": rolled_out,
            "message": "Deployment has minimum availability.",
            "reason": "MinimumReplicasAvailable",
            "status": "True",
            "type": "Available",
        },
        {
            "lastTransitionTime": created,
            "lastUpdateTime": rolled_out,
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
            "reason": "NewReplicaSetAvailable",
            "status": "True",
            "type": "Progressing",
        },
    ]
    status: Obj = {"conditions": conditions, "observedGeneration": 1}
    if replicas:
        status = {
            "availableReplicas": replicas,
            "conditions": conditions,
            "observedGeneration": 1,
            "readyReplicas": replicas,
            "replicas": replicas,
            "updatedReplicas": replicas,
        }
    return status
