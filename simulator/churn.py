"""The churn actions of the scenario: what people and failures do to a cluster.

Each action is one thing that happens on a real cluster (a rollout, a scale,
a pod that starts crash-looping, a bad image pushed, a node losing its
kubelet...) and is done the way it would be done: through the API objects
(`kubectl set image`, `kubectl scale`, `kubectl cordon`) or by changing the
world the kubelets see (an image that does not exist, a crashing binary, a
node under memory pressure). The controllers and kubelets do the rest.

Problems are remembered and the `recover` action undoes them (rollback or fix
forward, node back, pressure gone, uncordon, quota raised), with a weight that
grows with the number of open problems, so a long run reaches an equilibrium
instead of only degrading. The number of open problems, and of broken nodes,
is capped.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .cluster_view import Key
from .controllers import ControllerManager
from .kubelet import Kubelet
from .node_states import set_unschedulable
from .objects import make_deployment, make_uid
from .runtime import Runtime
from .workloads import WorkloadFactory

__all__ = ["CHURN_KINDS", "Churn", "Problem"]

# Action kind -> base weight. `recover` weighs more with every open problem.
_WEIGHTS: dict[str, float] = {
    "rollout": 12,
    "scale": 12,
    "delete_pod": 10,
    "crash_loop": 6,
    "oom_kill": 6,
    "image_pull_error": 3,
    "crash_rollout": 2,
    "config_error": 2,
    "unschedulable": 2,
    "quota_exceeded": 1,
    "node_not_ready": 2,
    "node_lost": 1,
    "node_pressure": 3,
    "cordon": 2,
    "redeploy": 1,
    "recover": 0,
}
CHURN_KINDS = tuple(_WEIGHTS)
_DEGRADING = frozenset(
    {
        "crash_loop",
        "image_pull_error",
        "crash_rollout",
        "config_error",
        "unschedulable",
        "quota_exceeded",
        "node_not_ready",
        "node_lost",
        "node_pressure",
        "cordon",
    }
)
_NODE_KINDS = frozenset({"node_not_ready", "node_lost", "node_pressure", "cordon"})
# Actions that also apply to StatefulSets, when the scenario has some.
_WORKLOAD_KINDS = frozenset({"rollout", "scale"})
# The share of those actions that pick a StatefulSet (there are few of them).
_STATEFULSET_SHARE = 0.2
_RECOVER_WEIGHT = 6.0


@dataclass
class Problem:
    """Something the churn broke and `recover` will undo."""

    kind: (
        str  # pod_fault | bad_rollout | quota | node_not_ready | node_lost | node_pressure | cordon
    )
    target: Key  # pod or deployment key; ("", node name) for nodes
    detail: Any = None

    def describe(self) -> str:
        where = self.target[1] if not self.target[0] else f"{self.target[0]}/{self.target[1]}"
        return f"{self.kind} {where}"


class Churn:
    """Chooses and performs churn actions with the scenario's seeded random source."""

    def __init__(
        self,
        *,
        rt: Runtime,
        controllers: ControllerManager,
        kubelet: Kubelet,
        workloads: WorkloadFactory,
        workers: list[str],
        baseline_replicas: int,
        max_problems: int,
        max_broken_nodes: int,
    ) -> None:
        self.rt = rt
        self.controllers = controllers
        self.kubelet = kubelet
        self.workloads = workloads
        self.workers = workers
        self.baseline_replicas = baseline_replicas
        self.max_problems = max_problems
        self.max_broken_nodes = max_broken_nodes
        self.problems: list[Problem] = []
        self.actions: Counter[str] = Counter()
        # The object the last action chose (pod/deployment key, ("", node)).
        self.last_target: Key | None = None
        self._troubled: dict[Key, None] = {}

    # -- choosing -------------------------------------------------------------------------

    def _broken_nodes(self) -> int:
        return sum(1 for p in self.problems if p.target[0] == "")

    def eligible(self, kind: str) -> bool:
        if kind == "recover":
            return bool(self.problems)
        if kind in _DEGRADING and len(self.problems) >= self.max_problems:
            return False
        if kind in _NODE_KINDS:
            return self._broken_nodes() < self.max_broken_nodes and bool(self.workers)
        if kind in _WORKLOAD_KINDS:
            return bool(self.rt.view.deployments or self.rt.view.statefulsets)
        return bool(self.rt.view.deployments)

    def choose(self) -> str:
        kinds = [k for k in CHURN_KINDS if self.eligible(k)]
        if not kinds:
            return "idle"
        weights = [
            min(_RECOVER_WEIGHT * len(self.problems), 60.0) if k == "recover" else _WEIGHTS[k]
            for k in kinds
        ]
        return self.rt.rng.choices(kinds, weights=weights)[0]

    def step(self, kind: str | None = None) -> str:
        """Perform one action (`kind`, or a weighted random one); a short description."""
        if kind is not None:
            if kind not in _WEIGHTS:
                raise ValueError(f"unknown churn kind {kind!r} (known: {', '.join(CHURN_KINDS)})")
            done = self._perform(kind)
            return done if done is not None else f"{kind}: nothing to act on"
        for _ in range(8):
            chosen = self.choose()
            if chosen == "idle":
                break
            done = self._perform(chosen)
            if done is not None:
                return done
        self.actions["idle"] += 1
        return "idle"

    def _perform(self, kind: str) -> str | None:
        self.last_target = None
        action = getattr(self, f"_do_{kind}")
        result: str | None = action()
        if result is not None:
            self.actions[kind] += 1
        return result

    # -- targets --------------------------------------------------------------------------

    def _deployment(self) -> Key | None:
        """A random deployment that has no open problem and is not mid-rollout."""
        keys = list(self.rt.view.deployments)
        for _ in range(10):
            if not keys:
                return None
            key = keys[self.rt.rng.randrange(len(keys))]
            facts = self.rt.view.deployments[key]
            if key not in self._troubled and facts.observed >= facts.generation:
                self.last_target = key
                return key
        return None

    def _statefulset(self) -> Key | None:
        """A random StatefulSet that has no open problem and has seen its latest spec."""
        keys = list(self.rt.view.statefulsets)
        for _ in range(10):
            if not keys:
                return None
            key = keys[self.rt.rng.randrange(len(keys))]
            facts = self.rt.view.statefulsets[key]
            if key not in self._troubled and facts.observed >= facts.generation:
                self.last_target = key
                return key
        return None

    def _workload(self) -> tuple[str, Key] | None:
        """A deployment, or now and then a StatefulSet: (resource, key)."""
        if self.rt.view.statefulsets and (
            not self.rt.view.deployments or self.rt.rng.random() < _STATEFULSET_SHARE
        ):
            key = self._statefulset()
            if key is not None:
                return "statefulsets", key
        key = self._deployment()
        return ("deployments", key) if key is not None else None

    def _pod(self) -> Key | None:
        """A random running, ready pod of a healthy deployment."""
        view = self.rt.view
        for _ in range(10):
            deployment = self._deployment()
            if deployment is None:
                return None
            candidates = [
                key
                for rs_key in view.rs_by_owner.get(deployment, {})
                for key in view.pods_by_owner.get(rs_key, {})
                if key not in self._troubled
                and view.pods[key].active
                and view.pods[key].ready
                and view.pods[key].node
            ]
            if candidates:
                self.last_target = candidates[self.rt.rng.randrange(len(candidates))]
                return self.last_target
        return None

    def _worker(self) -> str | None:
        """A random healthy worker node."""
        for _ in range(10):
            name = self.workers[self.rt.rng.randrange(len(self.workers))]
            node = self.rt.view.nodes.get(name)
            if (
                ("", name) not in self._troubled
                and node is not None
                and node.ready == "True"
                and not node.unschedulable
            ):
                self.last_target = ("", name)
                return name
        return None

    def hold(self, key: Key) -> None:
        """Leave this object alone: the scenario broke it on purpose and keeps it so."""
        self._troubled[key] = None

    def _open(self, problem: Problem) -> None:
        self.problems.append(problem)
        self._troubled[problem.target] = None

    # -- workload actions -----------------------------------------------------------------

    def _do_rollout(self) -> str | None:
        target = self._workload()
        if target is None:
            return None
        resource, key = target
        d = self.rt.store.get(resource, *key)
        if d is None:
            return None
        template = d["spec"]["template"]
        if self.rt.rng.random() < 0.4:
            annotations = template["metadata"].setdefault("annotations", {})
            annotations["kubectl.kubernetes.io/restartedAt"] = self.rt.clock().isoformat()
            what = "rollout restart"
        else:
            main = template["spec"]["containers"][0]
            main["image"] = WorkloadFactory.next_tag(main["image"])
            what = f"image {main['image']}"
        self.rt.store.update(resource, d)
        kind = "" if resource == "deployments" else "statefulset "
        return f"rollout {kind}{key[0]}/{key[1]}: {what}"

    def _do_scale(self) -> str | None:
        target = self._workload()
        if target is None:
            return None
        resource, key = target
        d = self.rt.store.get(resource, *key)
        if d is None:
            return None
        before = int(d["spec"].get("replicas", 1))
        baseline = max(1, self.baseline_replicas)
        low, high = max(1, baseline // 2), max(2, baseline * 2)
        step = self.rt.rng.randint(1, max(1, baseline // 2))
        up = before <= low or (before < high and self.rt.rng.random() < 0.5)
        after = min(before + step, high) if up else max(before - step, low)
        if after == before:
            return None
        d["spec"]["replicas"] = after
        self.rt.store.update(resource, d)
        kind = "" if resource == "deployments" else "statefulset "
        return f"scale {kind}{key[0]}/{key[1]}: {before} -> {after}"

    def _do_delete_pod(self) -> str | None:
        key = self._pod()
        if key is None:
            return None
        self.rt.delete_pod(key, grace=30)
        return f"delete pod {key[0]}/{key[1]}"

    def _do_crash_loop(self) -> str | None:
        key = self._pod()
        if key is None:
            return None
        self.kubelet.pod_faults[key] = "crash"
        if not self.kubelet.kill(key, reason="Error"):
            del self.kubelet.pod_faults[key]
            return None
        self._open(Problem("pod_fault", key, "crash"))
        return f"crash loop {key[0]}/{key[1]}"

    def _do_oom_kill(self) -> str | None:
        key = self._pod()
        if key is None:
            return None
        persistent = len(self.problems) < self.max_problems and self.rt.rng.random() < 0.3
        if persistent:
            self.kubelet.pod_faults[key] = "oom"
        if not self.kubelet.kill(key, reason="OOMKilled"):
            self.kubelet.pod_faults.pop(key, None)
            return None
        if persistent:
            self._open(Problem("pod_fault", key, "oom"))
            return f"OOM kill loop {key[0]}/{key[1]}"
        return f"OOM kill {key[0]}/{key[1]}"

    def _bad_rollout(self, flavour: str) -> str | None:
        key = self._deployment()
        if key is None:
            return None
        d = self.rt.store.get("deployments", *key)
        if d is None or not int(d["spec"].get("replicas", 1)):
            return None
        previous = copy.deepcopy(d["spec"]["template"])
        spec = d["spec"]["template"]["spec"]
        main = spec["containers"][0]
        detail: dict[str, Any] = {"template": previous, "flavour": flavour}
        if flavour in ("pull", "crash", "oom"):
            main["image"] = WorkloadFactory.next_tag(main["image"], bump="minor")
            self.kubelet.image_faults[main["image"]] = flavour
            detail["image"] = main["image"]
            what = f"image {main['image']}"
            if flavour == "oom":
                resources = main.setdefault("resources", {})
                resources.setdefault("limits", {})["memory"] = "48Mi"
                resources.setdefault("requests", {})["memory"] = "48Mi"
        elif flavour == "config":
            config_map = f"{key[1]}-config-v2"
            main["envFrom"] = [{"configMapRef": {"name": config_map}}]
            self.kubelet.missing_configmaps[(key[0], config_map)] = None
            detail["configmap"] = (key[0], config_map)
            what = f"configmap {config_map} (missing)"
        else:
            if self.rt.rng.random() < 0.5:
                spec["nodeSelector"] = {"node.kubernetes.io/instance-type": "p5.48xlarge"}
                what = "nodeSelector instance-type=p5.48xlarge"
            else:
                resources = main.setdefault("resources", {})
                resources.setdefault("requests", {})["memory"] = "48Gi"
                resources.setdefault("limits", {})["memory"] = "48Gi"
                what = "memory request 48Gi"
        self.rt.store.update("deployments", d)
        self._open(Problem("bad_rollout", key, detail))
        return f"bad rollout ({flavour}) {key[0]}/{key[1]}: {what}"

    def _do_image_pull_error(self) -> str | None:
        return self._bad_rollout("pull")

    def _do_crash_rollout(self) -> str | None:
        return self._bad_rollout("oom" if self.rt.rng.random() < 0.3 else "crash")

    def _do_config_error(self) -> str | None:
        return self._bad_rollout("config")

    def _do_unschedulable(self) -> str | None:
        return self._bad_rollout("unschedulable")

    def _do_quota_exceeded(self) -> str | None:
        key = self._deployment()
        if key is None or key[0] in self.controllers.quota_blocked:
            return None
        d = self.rt.store.get("deployments", *key)
        if d is None:
            return None
        before = int(d["spec"].get("replicas", 1))
        d["spec"]["replicas"] = before + 2
        self.controllers.quota_blocked[key[0]] = None
        self.rt.store.update("deployments", d)
        self._open(Problem("quota", key, before))
        return f"quota exceeded in {key[0]}: scale {key[1]} {before} -> {before + 2}"

    def _do_redeploy(self) -> str | None:
        """A team replaces a service: one deployment deleted, a new one created."""
        key = self._deployment()
        if key is None:
            return None
        d = self.rt.store.get("deployments", *key)
        if d is None:
            return None
        self.rt.store.delete("deployments", *key)
        workloads = self.workloads
        name = workloads.deployment_name(key[0])
        replicas = int(d["spec"].get("replicas", 1))
        fresh = make_deployment(
            namespace=key[0],
            name=name,
            uid=make_uid(self.rt.rng),
            created=self.rt.now(),
            replicas=replicas,
            template=workloads.template(key[0], name),
            progress_deadline=workloads.progress_deadline(),
        )
        self.rt.store.create("deployments", fresh)
        self.rt.counters["deployments_created"] += 1
        self.rt.counters["deployments_deleted"] += 1
        return f"redeploy {key[0]}: {key[1]} deleted, {name} created"

    # -- node actions -----------------------------------------------------------------------

    def _do_node_not_ready(self) -> str | None:
        name = self._worker()
        if name is None:
            return None
        self.kubelet.report_not_ready(name)
        self._open(Problem("node_not_ready", ("", name)))
        return f"node {name} NotReady"

    def _do_node_lost(self) -> str | None:
        name = self._worker()
        if name is None:
            return None
        self.kubelet.stop_reporting(name)
        self.controllers.mark_node_unknown(name)
        self._open(Problem("node_lost", ("", name)))
        return f"node {name} lost (Unknown)"

    def _do_node_pressure(self) -> str | None:
        name = self._worker()
        if name is None:
            return None
        rng = self.rt.rng
        kind = rng.choice(
            (
                "MemoryPressure",
                "MemoryPressure",
                "DiskPressure",
                "PIDPressure",
                "NetworkUnavailable",
            )
        )
        node = self.kubelet.report_pressure(name, kind, active=True)
        evicted = 0
        if kind in ("MemoryPressure", "DiskPressure"):
            resource = "memory" if kind == "MemoryPressure" else "ephemeral-storage"
            view = self.rt.view
            on_node = [view.pods[k] for k in view.pods_by_node.get(name, {}) if view.pods[k].active]
            on_node.sort(key=lambda p: (-p.mem, p.name))
            victims = on_node[: rng.randint(1, 2)]
            if victims and node is not None:
                self.rt.recorder.record(
                    node,
                    reason="EvictionThresholdMet",
                    message=f"Attempting to reclaim {resource}",
                    component="kubelet",
                    host=name,
                    warning=True,
                )
            for victim in victims:
                evicted += self.kubelet.evict(victim.key, resource=resource)
        self._open(Problem("node_pressure", ("", name), kind))
        suffix = f", {evicted} pod(s) evicted" if evicted else ""
        return f"node {name} {kind}{suffix}"

    def _do_cordon(self) -> str | None:
        name = self._worker()
        if name is None:
            return None
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return None
        set_unschedulable(node, unschedulable=True)
        updated = self.rt.store.update("nodes", node)
        self.rt.recorder.record(
            updated,
            reason="NodeNotSchedulable",
            message=f"Node {name} status is now: NodeNotSchedulable",
            component="kubelet",
            host=name,
        )
        self._open(Problem("cordon", ("", name)))
        return f"cordon {name}"

    # -- recovery --------------------------------------------------------------------------

    def _do_recover(self) -> str | None:
        if not self.problems:
            return None
        problem = self.problems.pop(self.rt.rng.randrange(len(self.problems)))
        self._troubled.pop(problem.target, None)
        self.last_target = problem.target
        fix = getattr(self, f"_fix_{problem.kind}")
        how: str = fix(problem)
        return f"recover {problem.describe()}: {how}"

    def _fix_pod_fault(self, problem: Problem) -> str:
        self.kubelet.pod_faults.pop(problem.target, None)
        if problem.target not in self.rt.view.pods:
            return "pod already gone"
        return "fault cleared, next restart succeeds"

    def _fix_bad_rollout(self, problem: Problem) -> str:
        detail: dict[str, Any] = problem.detail
        key = problem.target
        d = self.rt.store.get("deployments", *key)
        flavour = detail["flavour"]
        if d is None:
            return "deployment already gone"
        if flavour == "pull" and self.rt.rng.random() < 0.5:
            self.kubelet.image_faults.pop(detail["image"], None)
            return f"image {detail['image']} pushed"
        if flavour == "config" and self.rt.rng.random() < 0.5:
            self.kubelet.missing_configmaps.pop(detail["configmap"], None)
            return f"configmap {detail['configmap'][1]} created"
        if flavour in ("crash", "oom") and self.rt.rng.random() < 0.4:
            template = d["spec"]["template"]
            previous = detail["template"]["spec"]["containers"][0]
            main = template["spec"]["containers"][0]
            main["image"] = WorkloadFactory.next_tag(main["image"])
            main["resources"] = copy.deepcopy(previous.get("resources") or {})
            self.rt.store.update("deployments", d)
            return f"fixed forward to {main['image']}"
        d["spec"]["template"] = detail["template"]
        self.rt.store.update("deployments", d)
        return "rolled back"

    def _fix_quota(self, problem: Problem) -> str:
        namespace = problem.target[0]
        self.controllers.quota_blocked.pop(namespace, None)
        self.controllers.enqueue_namespace(namespace)
        return f"quota raised in {namespace}"

    def _fix_node_not_ready(self, problem: Problem) -> str:
        self.kubelet.report_ready(problem.target[1])
        return "kubelet Ready again"

    def _fix_node_lost(self, problem: Problem) -> str:
        self.kubelet.report_ready(problem.target[1])
        return "node back"

    def _fix_node_pressure(self, problem: Problem) -> str:
        self.kubelet.report_pressure(problem.target[1], str(problem.detail), active=False)
        return f"{problem.detail} gone"

    def _fix_cordon(self, problem: Problem) -> str:
        name = problem.target[1]
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return "node gone"
        set_unschedulable(node, unschedulable=False)
        updated = self.rt.store.update("nodes", node)
        self.rt.recorder.record(
            updated,
            reason="NodeSchedulable",
            message=f"Node {name} status is now: NodeSchedulable",
            component="kubelet",
            host=name,
        )
        return "uncordoned"
