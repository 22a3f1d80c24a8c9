"""The simulated kube-controller-manager: the loops that make the objects consistent.

Deployment, ReplicaSet, garbage collector, node lifecycle (taints from
conditions, pods marked not ready, eviction after the NoExecute toleration)
and terminated-pod GC, each following the real controller's algorithm in
simplified form (the StatefulSet controller lives in `statefulsets.py`).
Their fidelity is what matters to the agent under test: a Deployment's
status (replicas, ready/available/updated/unavailable counts,
observedGeneration, the Available/Progressing/ReplicaFailure conditions with
their real reasons and messages) moves exactly when and how the deployment
controller would move it, so a health analyzer trained on this simulator
reads a real cluster the same way.

The controllers react to store changes through the cluster view, whoever made
them: the scenario engine, or a client over HTTP (`kubectl scale`, `kubectl
rollout undo`, `kubectl delete pod`). Work is queued by the listener and done
later in `process()`, never inside the store's callback.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .cluster_view import DeploymentFacts, Key, NodeFacts, PodFacts, ReplicaSetFacts
from .node_states import desired_taints, mark_node_unknown
from .objects import (
    Obj,
    PodBlueprint,
    make_replicaset,
    make_uid,
    pod_template_hash,
    random_suffix,
    resolve_fenceposts,
)
from .pod_states import mark_not_ready, mark_unknown, set_pod_condition
from .runtime import Runtime
from .statefulsets import StatefulSetController

__all__ = ["ControllerManager"]

_REVISION = "deployment.kubernetes.io/revision"
_BURST = 500
_TOLERATION_SECONDS = 300.0


def _replicas(rs: Obj) -> int:
    return int(rs["spec"].get("replicas", 1) or 0)


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(_REVISION) or 0)


def _by_creation(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"])


def _find(conditions: list[Obj], kind: str) -> Obj | None:
    for cond in conditions:
        if cond.get("type") == kind:
            return cond
    return None


def _deployment_condition(kind: str, status: str, reason: str, message: str, now: str) -> Obj:
    return {
        "lastTransitionTime": now,
        "lastUpdateTime": now,
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


def _set_condition(conditions: list[Obj], new: Obj) -> list[Obj]:
    """The deployment controller's SetDeploymentCondition: same status and reason is a no-op."""
    current = _find(conditions, new["type"])
    if (
        current is not None
        and current["status"] == new["status"]
        and current.get("reason") == new.get("reason")
    ):
        return conditions
    if current is not None and current["status"] == new["status"]:
        new = {**new, "lastTransitionTime": current["lastTransitionTime"]}
    return [c for c in conditions if c.get("type") != new["type"]] + [new]


def _deletion_rank(pods: list[PodFacts]) -> list[PodFacts]:
    """Pods in the order a ReplicaSet deletes them (ActivePodsWithRanks, simplified).

    Unscheduled before scheduled, Pending before Unknown before Running, not
    ready before ready, more restarts first, newer first.
    """
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}
    newest_first = sorted(pods, key=lambda p: (p.created, p.name), reverse=True)
    return sorted(
        newest_first,
        key=lambda p: (bool(p.node), phase_rank.get(p.phase, 0), p.ready, -p.restarts),
    )


class ControllerManager:
    """Deployment, ReplicaSet, GC, node lifecycle and pod GC controllers."""

    def __init__(self, rt: Runtime, *, terminated_pod_limit: int = 200) -> None:
        self.rt = rt
        self.terminated_pod_limit = terminated_pod_limit
        # Namespaces whose ResourceQuota is exhausted: pod creation fails there.
        self.quota_blocked: dict[str, None] = {}
        self._deployments: dict[Key, None] = {}
        self._replicasets: dict[Key, None] = {}
        self._nodes: dict[str, None] = {}
        self._orphaned_rs: dict[Key, str] = {}
        self._orphaned_pods: dict[Key, str] = {}
        self._blueprints: dict[str, PodBlueprint] = {}
        self._deadline_due: dict[Key, float] = {}
        self._ready_seen: dict[str, str] = {}
        self._node_epoch: dict[str, int] = {}
        self._terminated: dict[Key, None] = {}
        rt.view.subscribe(self._observe)
        self.statefulsets = StatefulSetController(rt)

    # -- reacting to the store ----------------------------------------------------------

    def _observe(self, resource: str, event_type: str, key: Key, old: Any, new: Any) -> None:
        if self.rt.quiet:
            return
        if resource == "pods":
            self._observe_pod(key, old, new)
        elif resource == "replicasets":
            self._observe_replicaset(key, old, new)
        elif resource == "deployments":
            self._observe_deployment(key, old, new)
        elif (
            resource == "nodes"
            and isinstance(new, NodeFacts)
            and (
                not isinstance(old, NodeFacts)
                or old.conditions != new.conditions
                or old.unschedulable != new.unschedulable
                or old.taints != new.taints
            )
        ):
            self._nodes[new.name] = None

    def _observe_pod(self, key: Key, old: PodFacts | None, new: PodFacts | None) -> None:
        pod = new or old
        if pod is None:
            return
        if pod.owner is not None and (
            old is None
            or new is None
            or (old.active, old.ready, old.phase) != (new.active, new.ready, new.phase)
        ):
            self._replicasets[pod.owner] = None
        if new is None:
            self._terminated.pop(key, None)
        elif new.terminal and (old is None or not old.terminal):
            self._terminated[key] = None

    def _observe_replicaset(
        self, key: Key, old: ReplicaSetFacts | None, new: ReplicaSetFacts | None
    ) -> None:
        if new is None:
            if old is not None:
                self._orphaned_pods[key] = old.uid
                self._blueprints.pop(old.uid, None)
                if old.owner is not None:
                    self._deployments[old.owner] = None
            return
        if old is None or old.replicas != new.replicas or old.generation != new.generation:
            self._replicasets[key] = None
        if new.owner is not None and (
            old is None
            or (old.status_replicas, old.ready, old.available, old.observed, old.replicas)
            != (new.status_replicas, new.ready, new.available, new.observed, new.replicas)
        ):
            self._deployments[new.owner] = None

    def _observe_deployment(
        self, key: Key, old: DeploymentFacts | None, new: DeploymentFacts | None
    ) -> None:
        if new is None:
            if old is not None:
                self._orphaned_rs[key] = old.uid
            self._deadline_due.pop(key, None)
            return
        if old is None or old.generation != new.generation or new.observed < new.generation:
            self._deployments[key] = None

    def process(self) -> bool:
        """Run every queued sync once; True if there was anything to do."""
        did = self._collect_garbage()
        while self._nodes:
            name = next(iter(self._nodes))
            del self._nodes[name]
            did = self._sync_node(name) or did
        while self._replicasets:
            key = next(iter(self._replicasets))
            del self._replicasets[key]
            did = self._sync_replicaset(key) or did
        while self._deployments:
            key = next(iter(self._deployments))
            del self._deployments[key]
            did = self._sync_deployment(key) or did
        did = self.statefulsets.process() or did
        return self._collect_terminated() or did

    def enqueue_replicaset(self, key: Key) -> None:
        self._replicasets[key] = None

    def enqueue_namespace(self, namespace: str) -> None:
        """Resync every ReplicaSet of a namespace (after its quota was raised)."""
        for key in self.rt.view.replicasets:
            if key[0] == namespace:
                self._replicasets[key] = None

    # -- garbage collection -------------------------------------------------------------

    def _collect_garbage(self) -> bool:
        rt = self.rt
        did = False
        while self._orphaned_rs:
            owner, uid = next(iter(self._orphaned_rs.items()))
            del self._orphaned_rs[owner]
            for key in list(rt.view.rs_by_owner.get(owner, {})):
                facts = rt.view.replicasets.get(key)
                if facts is not None and facts.owner_uid == uid:
                    rt.store.delete("replicasets", key[0], key[1])
                    did = True
        while self._orphaned_pods:
            owner, uid = next(iter(self._orphaned_pods.items()))
            del self._orphaned_pods[owner]
            for key in list(rt.view.pods_by_owner.get(owner, {})):
                pod = rt.view.pods.get(key)
                if pod is not None and pod.owner_uid == uid and not pod.deleting:
                    rt.delete_pod(key, grace=30)
                    did = True
        return did

    def _collect_terminated(self) -> bool:
        """The pod GC: beyond the limit, the oldest terminated pods are deleted."""
        did = False
        while len(self._terminated) > self.terminated_pod_limit:
            key = next(iter(self._terminated))
            del self._terminated[key]
            self.rt.store.delete("pods", key[0], key[1])
            did = True
        return did

    # -- replicasets ----------------------------------------------------------------------

    def _blueprint(self, rs: Obj) -> PodBlueprint:
        uid = rs["metadata"]["uid"]
        blueprint = self._blueprints.get(uid)
        if blueprint is None:
            blueprint = self._blueprints[uid] = PodBlueprint(rs)
        return blueprint

    def _sync_replicaset(self, key: Key) -> bool:
        rt = self.rt
        rs = rt.store.get("replicasets", *key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return False
        uid = rs["metadata"]["uid"]
        now = rt.now()

        def owned() -> list[PodFacts]:
            pods = (rt.view.pods.get(k) for k in rt.view.pods_by_owner.get(key, {}))
            return [p for p in pods if p is not None and p.owner_uid == uid and p.active]

        active = owned()
        desired = _replicas(rs)
        failure: str | None = None
        did = False
        if len(active) < desired:
            blueprint = self._blueprint(rs)
            for _ in range(min(desired - len(active), _BURST)):
                name = self._pod_name(key)
                if key[0] in self.quota_blocked:
                    failure = (
                        f'pods "{name}" is forbidden: exceeded quota: compute-resources, '
                        "requested: pods=1, used: pods=50, limited: pods=50"
                    )
                    rt.recorder.record(
                        rs,
                        reason="FailedCreate",
                        message=f"Error creating: {failure}",
                        component="replicaset-controller",
                        warning=True,
                    )
                    break
                pod = blueprint.new_pod(
                    name=name,
                    uid=make_uid(rt.rng),
                    created=now,
                    volume_suffix=random_suffix(rt.rng),
                )
                rt.store.create("pods", pod)
                rt.counters["pods_created"] += 1
                rt.recorder.record(
                    rs,
                    reason="SuccessfulCreate",
                    message=f"Created pod: {name}",
                    component="replicaset-controller",
                )
                did = True
        elif len(active) > desired:
            for pod_facts in _deletion_rank(active)[: len(active) - desired]:
                rt.delete_pod(pod_facts.key, grace=30)
                rt.recorder.record(
                    rs,
                    reason="SuccessfulDelete",
                    message=f"Deleted pod: {pod_facts.name}",
                    component="replicaset-controller",
                )
                did = True
        active = owned()
        ready = sum(1 for p in active if p.ready)
        status: Obj = {}
        if ready:
            status["availableReplicas"] = ready
        conditions = [
            c
            for c in (rs.get("status") or {}).get("conditions") or ()
            if c.get("type") != "ReplicaFailure"
        ]
        if failure is not None:
            previous = _find((rs.get("status") or {}).get("conditions") or [], "ReplicaFailure")
            conditions.append(
                {
                    "lastTransitionTime": previous["lastTransitionTime"] if previous else now,
                    "message": failure,
                    "reason": "FailedCreate",
                    "status": "True",
                    "type": "ReplicaFailure",
                }
            )
        if conditions:
            status["conditions"] = conditions
        if active:
            status["fullyLabeledReplicas"] = len(active)
        status["observedGeneration"] = int(rs["metadata"].get("generation") or 1)
        if ready:
            status["readyReplicas"] = ready
        status["replicas"] = len(active)
        if status != rs.get("status"):
            rs["status"] = status
            rt.store.update("replicasets", rs, subresource="status")
            did = True
        return did

    def _pod_name(self, rs_key: Key) -> str:
        while True:
            name = f"{rs_key[1]}-{random_suffix(self.rt.rng)}"
            if (rs_key[0], name) not in self.rt.view.pods:
                return name

    # -- deployments ----------------------------------------------------------------------

    def _sync_deployment(self, key: Key) -> bool:
        rt = self.rt
        d = rt.store.get("deployments", *key)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return False
        meta = d["metadata"]
        spec = d["spec"]
        old_status: Obj = d.get("status") or {}
        desired = int(spec.get("replicas", 1) or 0)
        uid = meta["uid"]
        now = rt.now()
        owned: list[Obj] = []
        for rs_key in list(rt.view.rs_by_owner.get(key, {})):
            facts = rt.view.replicasets.get(rs_key)
            if facts is None or facts.owner_uid != uid:
                continue
            rs = rt.store.get("replicasets", *rs_key)
            if rs is not None and not rs["metadata"].get("deletionTimestamp"):
                owned.append(rs)
        collisions = int(old_status.get("collisionCount") or 0)
        template = spec["template"]
        new_rs: Obj | None = None
        while True:
            template_hash = pod_template_hash(template, collisions)
            clash = next(
                (rs for rs in owned if rs["metadata"]["name"] == f"{meta['name']}-{template_hash}"),
                None,
            )
            if clash is None or _same_template(clash, template):
                new_rs = clash
                break
            collisions += 1
        old = sorted((rs for rs in owned if rs is not new_rs), key=_by_creation)
        max_old_revision = max((_revision(rs) for rs in old), default=0)
        surge, unavailable = resolve_fenceposts(spec.get("strategy") or {}, desired)
        unavailable = min(unavailable, desired)
        has_deadline = spec.get("progressDeadlineSeconds") is not None
        # The status conditions as this sync starts from (getNewReplicaSet may add one).
        base_conditions: list[Obj] = list(old_status.get("conditions") or [])
        paused = bool(spec.get("paused"))
        did = False
        if new_rs is None and not paused:
            current = sum(_replicas(rs) for rs in old)
            size = min(max(desired + surge - current, 0), desired)
            created = rt.store.create(
                "replicasets",
                make_replicaset(
                    deployment=d,
                    template_hash=template_hash,
                    replicas=size,
                    revision=max_old_revision + 1,
                    uid=make_uid(rt.rng),
                    created=now,
                ),
            )
            new_rs = created
            rt.counters["replicasets_created"] += 1
            rt.recorder.record(
                d,
                reason="ScalingReplicaSet",
                message=f"Scaled up replica set {created['metadata']['name']} from 0 to {size}",
                component="deployment-controller",
            )
            if has_deadline:
                base_conditions = _set_condition(
                    base_conditions,
                    _deployment_condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetCreated",
                        f'Created new replica set "{created["metadata"]["name"]}"',
                        now,
                    ),
                )
            did = True
        elif new_rs is not None and _revision(new_rs) <= max_old_revision:
            new_rs = self._set_revision(new_rs, max_old_revision + 1)
            did = True
        if new_rs is not None:
            wanted = str(_revision(new_rs))
            annotations = meta.get("annotations") or {}
            if annotations.get(_REVISION) != wanted:
                body = {
                    **d,
                    "metadata": {**meta, "annotations": {**annotations, _REVISION: wanted}},
                }
                d = rt.store.update("deployments", body)
                meta = d["metadata"]
                did = True
        rs_all: list[Obj] = [*old, new_rs] if new_rs is not None else list(old)
        scaled = False
        if new_rs is not None and not paused:
            rs_all, scaled = self._roll(d, new_rs, old, surge=surge, unavailable=unavailable)
            new_rs = rs_all[-1]
            old = rs_all[:-1]
            did = did or scaled
        status = self._deployment_status(
            d,
            rs_all,
            new_rs,
            base_conditions=base_conditions,
            collisions=collisions,
            unavailable=unavailable,
            now=now,
        )
        if not scaled and new_rs is not None and _complete(desired, status, meta):
            did = self._clean_history(d, old) or did
        if status != old_status:
            rt.store.update("deployments", {**d, "status": status}, subresource="status")
            did = True
        self._requeue_if_stuck(key, spec, status)
        return did

    def _set_revision(self, rs: Obj, revision: int) -> Obj:
        """A rollback reuses an old ReplicaSet: it becomes the newest revision."""
        meta = rs["metadata"]
        annotations = dict(meta.get("annotations") or {})
        old = annotations.get(_REVISION)
        annotations[_REVISION] = str(revision)
        if old:
            history = annotations.get("deployment.kubernetes.io/revision-history")
            annotations["deployment.kubernetes.io/revision-history"] = (
                f"{history},{old}" if history else old
            )
        return self.rt.store.update(
            "replicasets", {**rs, "metadata": {**meta, "annotations": annotations}}
        )

    def _scale(self, d: Obj, rs: Obj, size: int) -> Obj:
        """Set a ReplicaSet's replicas (and the annotations the controller keeps on it)."""
        before = _replicas(rs)
        desired = int(d["spec"].get("replicas", 1) or 0)
        surge, _ = resolve_fenceposts(d["spec"].get("strategy") or {}, desired)
        meta = rs["metadata"]
        annotations = {
            **(meta.get("annotations") or {}),
            "deployment.kubernetes.io/desired-replicas": str(desired),
            "deployment.kubernetes.io/max-replicas": str(desired + surge),
        }
        updated = self.rt.store.update(
            "replicasets",
            {
                **rs,
                "metadata": {**meta, "annotations": annotations},
                "spec": {**rs["spec"], "replicas": size},
            },
        )
        if size != before:
            direction = "up" if size > before else "down"
            self.rt.recorder.record(
                d,
                reason="ScalingReplicaSet",
                message=f"Scaled {direction} replica set {meta['name']} from {before} to {size}",
                component="deployment-controller",
            )
        return updated

    def _roll(
        self, d: Obj, new_rs: Obj, old: list[Obj], *, surge: int, unavailable: int
    ) -> tuple[list[Obj], bool]:
        """One pass of the RollingUpdate strategy; returns [*old, new] after scaling."""
        desired = int(d["spec"].get("replicas", 1) or 0)
        everything = [*old, new_rs]
        # reconcileNewReplicaSet
        new_size = _replicas(new_rs)
        if new_size > desired:
            return [*old, self._scale(d, new_rs, desired)], True
        if new_size < desired:
            current = sum(_replicas(rs) for rs in everything)
            if current < desired + surge:
                grow = min(desired + surge - current, desired - new_size)
                return [*old, self._scale(d, new_rs, new_size + grow)], True
        # reconcileOldReplicaSets
        if sum(_replicas(rs) for rs in old) == 0:
            return everything, self._sync_annotations(d, new_rs, old)
        min_available = desired - unavailable
        new_unavailable = _replicas(new_rs) - _available(new_rs)
        max_down = sum(_replicas(rs) for rs in everything) - min_available - new_unavailable
        if max_down <= 0:
            return everything, False
        scaled = False
        old = list(old)
        cleaned = 0
        for index, rs in enumerate(old):
            if cleaned >= max_down:
                break
            size = _replicas(rs)
            unhealthy = size - _available(rs)
            if size == 0 or unhealthy <= 0:
                continue
            down = min(max_down - cleaned, unhealthy)
            old[index] = self._scale(d, rs, size - down)
            cleaned += down
            scaled = True
        available = sum(_available(rs) for rs in [*old, new_rs])
        if available > min_available:
            budget = available - min_available
            done = 0
            for index, rs in enumerate(old):
                if done >= budget:
                    break
                size = _replicas(rs)
                if size == 0:
                    continue
                down = min(size, budget - done)
                old[index] = self._scale(d, rs, size - down)
                done += down
                scaled = True
        return [*old, new_rs], scaled

    def _sync_annotations(self, d: Obj, new_rs: Obj, old: list[Obj]) -> bool:
        """After `kubectl scale` the replica annotations follow, as the controller keeps them."""
        desired = str(int(d["spec"].get("replicas", 1) or 0))
        annotations = new_rs["metadata"].get("annotations") or {}
        if annotations.get("deployment.kubernetes.io/desired-replicas") == desired:
            return False
        self._scale(d, new_rs, _replicas(new_rs))
        return True

    def _deployment_status(
        self,
        d: Obj,
        rs_all: list[Obj],
        new_rs: Obj | None,
        *,
        base_conditions: list[Obj],
        collisions: int,
        unavailable: int,
        now: str,
    ) -> Obj:
        """calculateStatus + syncRolloutStatus of the deployment controller."""
        spec = d["spec"]
        meta = d["metadata"]
        old_status: Obj = d.get("status") or {}
        desired = int(spec.get("replicas", 1) or 0)

        def total(field: str) -> int:
            return sum(int((rs.get("status") or {}).get(field) or 0) for rs in rs_all)

        available = total("availableReplicas")
        counts = {
            "availableReplicas": available,
            "readyReplicas": total("readyReplicas"),
            "replicas": total("replicas"),
            "unavailableReplicas": max(sum(_replicas(rs) for rs in rs_all) - available, 0),
            "updatedReplicas": int(((new_rs or {}).get("status") or {}).get("replicas") or 0),
        }
        conditions = list(base_conditions)
        if available >= desired - unavailable:
            wanted = _deployment_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            wanted = _deployment_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        conditions = _set_condition(conditions, wanted)
        generation = int(meta.get("generation") or 1)
        current = _find(base_conditions, "Progressing")
        complete_before = (
            counts["replicas"] == counts["updatedReplicas"]
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if spec.get("progressDeadlineSeconds") is not None and not complete_before and new_rs:
            rs_name = new_rs["metadata"]["name"]
            progressing = _find(conditions, "Progressing")
            if (
                counts["updatedReplicas"] == desired
                and counts["replicas"] == desired
                and available == desired
            ):
                conditions = _set_condition(
                    conditions,
                    _deployment_condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        f'ReplicaSet "{rs_name}" has successfully progressed.',
                        now,
                    ),
                )
            elif _made_progress(old_status, counts):
                new = _deployment_condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    now,
                )
                if progressing is not None:
                    if progressing.get("status") == "True":
                        new["lastTransitionTime"] = progressing["lastTransitionTime"]
                    conditions = [c for c in conditions if c.get("type") != "Progressing"]
                conditions.append(new)
            elif self._timed_out(progressing, spec):
                conditions = _set_condition(
                    conditions,
                    _deployment_condition(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        now,
                    ),
                )
        failure = _replica_failure(rs_all, new_rs)
        if failure is not None:
            conditions = _set_condition(conditions, failure)
        else:
            conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
        status: Obj = {}
        if counts["availableReplicas"]:
            status["availableReplicas"] = counts["availableReplicas"]
        if collisions:
            status["collisionCount"] = collisions
        if conditions:
            status["conditions"] = conditions
        status["observedGeneration"] = generation
        for field in ("readyReplicas", "replicas", "unavailableReplicas", "updatedReplicas"):
            if counts[field]:
                status[field] = counts[field]
        return status

    def _timed_out(self, progressing: Obj | None, spec: Obj) -> bool:
        if progressing is None or progressing.get("reason") == "NewReplicaSetAvailable":
            return False
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return True
        updated = progressing.get("lastUpdateTime")
        if not updated:
            return False
        deadline = float(spec.get("progressDeadlineSeconds") or 0)
        return self.rt.clock.seconds_of(str(updated)) + deadline < self.rt.clock.seconds

    def _requeue_if_stuck(self, key: Key, spec: Obj, status: Obj) -> None:
        """Check again when the progress deadline of a rollout in flight passes."""
        progressing = _find(status.get("conditions") or [], "Progressing")
        if (
            progressing is None
            or progressing.get("status") != "True"
            or progressing.get("reason") == "NewReplicaSetAvailable"
            or spec.get("progressDeadlineSeconds") is None
        ):
            self._deadline_due.pop(key, None)
            return
        due = (
            self.rt.clock.seconds_of(str(progressing.get("lastUpdateTime")))
            + float(spec["progressDeadlineSeconds"])
            + 1.0
        )
        if self._deadline_due.get(key) == due:
            return
        self._deadline_due[key] = due
        self.rt.after(due - self.rt.clock.seconds, partial(self._deadline_passed, key, due))

    def _deadline_passed(self, key: Key, due: float) -> None:
        if self._deadline_due.get(key) == due:
            del self._deadline_due[key]
            self._deployments[key] = None

    def _clean_history(self, d: Obj, old: list[Obj]) -> bool:
        """Delete old, empty ReplicaSets beyond `revisionHistoryLimit`."""
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        cleanable = [
            rs
            for rs in old
            if _replicas(rs) == 0
            and not int((rs.get("status") or {}).get("replicas") or 0)
            and int((rs.get("status") or {}).get("observedGeneration") or 0)
            >= int(rs["metadata"].get("generation") or 1)
        ]
        excess = len(cleanable) - limit
        for rs in cleanable[: max(excess, 0)]:
            self.rt.store.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
        return excess > 0

    # -- nodes ---------------------------------------------------------------------------

    def _sync_node(self, name: str) -> bool:
        rt = self.rt
        facts = rt.view.nodes.get(name)
        node = rt.store.get("nodes", None, name)
        if facts is None or node is None:
            self._ready_seen.pop(name, None)
            return False
        now = rt.now()
        did = False
        taints = desired_taints(node, now=now)
        if taints != (node["spec"].get("taints") or []):
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)
            node = rt.store.update("nodes", node)
            did = True
        ready = facts.ready
        if ready != self._ready_seen.get(name, "True"):
            self._ready_seen[name] = ready
            epoch = self._node_epoch.get(name, 0) + 1
            self._node_epoch[name] = epoch
            if ready == "True":
                rt.recorder.record(
                    node,
                    reason="NodeReady",
                    message=f"Node {name} status is now: NodeReady",
                    component="kubelet",
                    host=name,
                )
            else:
                rt.recorder.record(
                    node,
                    reason="NodeNotReady",
                    message=f"Node {name} status is now: NodeNotReady",
                    component="node-controller",
                    warning=True,
                )
                self._mark_pods_not_ready(name, unknown=ready == "Unknown")
                rt.after(_TOLERATION_SECONDS, partial(self._evict_node, name, epoch))
            did = True
        return did

    def mark_node_unknown(self, name: str) -> Obj | None:
        """The node monitor noticed a kubelet stopped posting: conditions go Unknown."""
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return None
        mark_node_unknown(node, now=self.rt.now())
        return self.rt.store.update("nodes", node, subresource="status")

    def _mark_pods_not_ready(self, name: str, *, unknown: bool) -> None:
        rt = self.rt
        now = rt.now()
        for key in list(rt.view.pods_by_node.get(name, {})):
            facts = rt.view.pods.get(key)
            if facts is None or facts.terminal or (not unknown and not facts.ready):
                continue
            pod = rt.store.get("pods", *key)
            if pod is None:
                continue
            if unknown:
                mark_unknown(pod, now=now, node=name)
            else:
                mark_not_ready(pod, now=now)
            rt.store.update("pods", pod, subresource="status")

    def _evict_node(self, name: str, epoch: int) -> None:
        """The NoExecute toleration (300s) ran out: the taint manager deletes the pods."""
        rt = self.rt
        if self._node_epoch.get(name) != epoch:
            return
        facts = rt.view.nodes.get(name)
        if facts is None or facts.ready == "True":
            return
        now = rt.now()
        for key in list(rt.view.pods_by_node.get(name, {})):
            pod_facts = rt.view.pods.get(key)
            if pod_facts is None or pod_facts.deleting or pod_facts.terminal:
                continue
            pod = rt.store.get("pods", *key)
            if pod is None:
                continue
            set_pod_condition(
                pod,
                "DisruptionTarget",
                "True",
                now,
                reason="DeletionByTaintManager",
                message="Taint manager: deleting due to NoExecute taint",
            )
            updated = rt.store.update("pods", pod, subresource="status")
            rt.recorder.record(
                updated,
                reason="TaintManagerEviction",
                message=f"Marking for deletion Pod {key[0]}/{key[1]}",
                component="taint-eviction-controller",
            )
            rt.delete_pod(key, grace=30)
            rt.counters["pods_evicted_by_taint"] += 1


def _same_template(rs: Obj, template: Obj) -> bool:
    """EqualIgnoreHash: the ReplicaSet's template is the deployment's plus the hash label."""
    rs_template = rs["spec"]["template"]
    labels = dict(rs_template["metadata"].get("labels") or {})
    labels.pop("pod-template-hash", None)
    mine = {**rs_template, "metadata": {**rs_template["metadata"], "labels": labels}}
    theirs_meta = dict(template.get("metadata") or {})
    theirs_meta["labels"] = dict(theirs_meta.get("labels") or {})
    return bool(mine == {**template, "metadata": theirs_meta})


def _made_progress(old_status: Obj, counts: dict[str, int]) -> bool:
    """DeploymentProgressing: more updated/ready/available pods, or fewer old ones."""
    old_updated = int(old_status.get("updatedReplicas") or 0)
    old_old = int(old_status.get("replicas") or 0) - old_updated
    new_old = counts["replicas"] - counts["updatedReplicas"]
    return (
        counts["updatedReplicas"] > old_updated
        or new_old < old_old
        or counts["readyReplicas"] > int(old_status.get("readyReplicas") or 0)
        or counts["availableReplicas"] > int(old_status.get("availableReplicas") or 0)
    )


def _complete(desired: int, status: Obj, meta: Obj) -> bool:
    return (
        int(status.get("updatedReplicas") or 0) == desired
        and int(status.get("replicas") or 0) == desired
        and int(status.get("availableReplicas") or 0) == desired
        and int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 1)
    )


def _replica_failure(rs_all: list[Obj], new_rs: Obj | None) -> Obj | None:
    """The first ReplicaFailure of the new ReplicaSet (then the old ones), for the deployment."""
    ordered = ([new_rs] if new_rs is not None else []) + [rs for rs in rs_all if rs is not new_rs]
    for rs in ordered:
        for cond in (rs.get("status") or {}).get("conditions") or ():
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                return {
                    "lastTransitionTime": cond.get("lastTransitionTime"),
                    "lastUpdateTime": cond.get("lastTransitionTime"),
                    "message": cond.get("message", ""),
                    "reason": cond.get("reason", "FailedCreate"),
                    "status": "True",
                    "type": "ReplicaFailure",
                }
    return None
