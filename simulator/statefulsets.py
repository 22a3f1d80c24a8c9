"""The simulated StatefulSet controller, and StatefulSets as `kubectl apply` leaves them.

What a monitoring agent reads off a StatefulSet is how its pods move: they are
named by ordinal (`postgres-0` .. `postgres-N-1`), created one at a time in
order and only once the one before is Running and Ready (OrderedReady; all
at once with Parallel), removed from the highest ordinal down, and replaced on
a template change from the highest ordinal down to the partition, one at a
time, each only after the one above it is ready again (RollingUpdate; with
OnDelete nothing is replaced until someone deletes a pod). The status counts
(replicas, ready, available, current, updated) and the two revisions follow
the real controller's rules, so a rollout stuck on a pod that never becomes
ready shows as `currentRevision != updateRevision` with fewer updated
replicas, as it does on a real cluster.

Revisions are named `<set>-<hash of the template>`; the pods carry that name
in their `controller-revision-hash` label. The templates of earlier revisions
are remembered in memory (a real cluster keeps them in ControllerRevision
objects, which this simulator does not serve), so a pod below the partition
is recreated from its own revision's template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .cluster_view import Key, PodFacts, StatefulSetFacts
from .objects import (
    Obj,
    PodBlueprint,
    make_container,
    make_pod_template,
    make_uid,
    pod_template_hash,
    random_suffix,
)
from .runtime import Runtime

__all__ = [
    "SEEDED_SETS",
    "SeededSet",
    "StatefulSetController",
    "make_statefulset",
    "revision_blueprint",
    "revision_name",
    "seeded_template",
    "stamp_identity",
]

_REVISION_LABEL = "controller-revision-hash"
_POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
_POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_COMPONENT = "statefulset-controller"


@dataclass(frozen=True, slots=True)
class SeededSet:
    """A StatefulSet the scenario seeds, and what is wrong with it from the start."""

    name: str
    image: str
    port: int
    replicas: int = 3
    trouble: Literal["crash_loop", "stuck_rollout"] | None = None


# A healthy database; a cache whose last replica crash-loops (replicas not
# ready); a broker whose rollout is stuck on an image that cannot be pulled
# (currentRevision != updateRevision, one updated replica, not ready).
SEEDED_SETS = (
    SeededSet("postgres", "postgres:16.6", 5432),
    SeededSet("redis", "redis:7.4.1", 6379, trouble="crash_loop"),
    SeededSet("kafka", "bitnami/kafka:3.9.0", 9092, trouble="stuck_rollout"),
)


def seeded_template(seeded: SeededSet) -> Obj:
    """The pod template of a seeded set: one container, requests and a memory limit."""
    container = make_container(
        name=seeded.name,
        image=seeded.image,
        cpu_request="250m",
        memory_request="512Mi",
        cpu_limit=None,
        memory_limit="1Gi",
        port=seeded.port,
    )
    return make_pod_template(labels={"app": seeded.name}, containers=[container])


def revision_name(name: str, template: Obj, *, collision_count: int = 0) -> str:
    """The controller revision a template gets: `<set>-<hash>`, stable for equal templates."""
    return f"{name}-{pod_template_hash(template, collision_count)}"


def make_statefulset(
    *,
    namespace: str,
    name: str,
    uid: str,
    created: str,
    replicas: int,
    template: Obj,
    service_name: str | None = None,
    pod_management: str = "OrderedReady",
    update_strategy: Obj | None = None,
) -> Obj:
    """A StatefulSet as `kubectl apply` leaves it, before the controller has seen it."""
    labels = dict(template["metadata"]["labels"])
    strategy = (
        update_strategy
        if update_strategy is not None
        else {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "creationTimestamp": created,
            "generation": 1,
            "labels": labels,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "spec": {
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "podManagementPolicy": pod_management,
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": labels},
            "serviceName": service_name if service_name is not None else name,
            "template": template,
            "updateStrategy": strategy,
        },
        "status": {},
    }


def revision_blueprint(sts: Obj, *, revision: str, template: Obj) -> PodBlueprint:
    """What the pods of one revision share: the template, its labels plus the revision's."""
    template_meta = template.get("metadata") or {}
    labels = {**(template_meta.get("labels") or {}), _REVISION_LABEL: revision}
    owner = {
        "kind": "StatefulSet",
        "metadata": sts["metadata"],
        "spec": {
            "template": {"metadata": {**template_meta, "labels": labels}, "spec": template["spec"]}
        },
    }
    return PodBlueprint(owner)


def stamp_identity(pod: Obj, *, sts: Obj, blueprint: PodBlueprint, ordinal: int) -> None:
    """Give a pod made from `blueprint` its stable identity: ordinal labels, hostname."""
    name = pod["metadata"]["name"]
    pod["metadata"]["labels"] = {
        **blueprint.labels,
        _POD_INDEX_LABEL: str(ordinal),
        _POD_NAME_LABEL: name,
    }
    pod["spec"]["hostname"] = name
    service = sts["spec"].get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service


def _ordinal(set_name: str, pod_name: str) -> int | None:
    prefix, _, number = pod_name.rpartition("-")
    if prefix != set_name or not number.isdigit():
        return None
    return int(number)


def _healthy(pod: PodFacts) -> bool:
    return pod.phase == "Running" and pod.ready and not pod.deleting


class _Plan:
    """What one sync reads from a StatefulSet's spec (ValueError when it cannot be read)."""

    __slots__ = ("ordered", "partition", "replicas", "rolling")

    def __init__(self, spec: Obj) -> None:
        template = spec.get("template")
        containers = (template.get("spec") or {}).get("containers") if template else None
        if not isinstance(containers, list) or not containers:
            raise ValueError("spec.template.spec.containers: Required value")
        try:
            self.replicas = int(spec.get("replicas", 1) or 0)
        except (TypeError, ValueError):
            raise ValueError("spec.replicas: must be an integer") from None
        self.ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy: Obj = spec.get("updateStrategy") or {}
        self.rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        rolling_update: Obj = strategy.get("rollingUpdate") or {}
        try:
            self.partition = int(rolling_update.get("partition") or 0) if self.rolling else 0
        except (TypeError, ValueError):
            raise ValueError(
                "spec.updateStrategy.rollingUpdate.partition: must be an integer"
            ) from None


class StatefulSetController:
    """Creates, deletes and replaces the pods of every StatefulSet; keeps their status."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._queue: dict[Key, None] = {}
        self._orphaned: dict[Key, str] = {}
        # set uid -> revision name -> the pod template of that revision.
        self._revisions: dict[str, dict[str, Obj]] = {}
        self._blueprints: dict[tuple[str, str], PodBlueprint] = {}
        rt.view.subscribe(self._observe)

    # -- reacting to the store ----------------------------------------------------------

    def _observe(self, resource: str, event_type: str, key: Key, old: Any, new: Any) -> None:
        if self.rt.quiet:
            return
        if resource == "statefulsets":
            self._observe_set(key, old, new)
        elif resource == "pods":
            pod: PodFacts | None = new or old
            if pod is None or pod.set_owner is None:
                return
            if (
                old is None
                or new is None
                or (old.phase, old.ready, old.deleting) != (new.phase, new.ready, new.deleting)
            ):
                self._queue[pod.set_owner] = None

    def _observe_set(
        self, key: Key, old: StatefulSetFacts | None, new: StatefulSetFacts | None
    ) -> None:
        if new is None:
            if old is not None:
                self._orphaned[key] = old.uid
                self._forget(old.uid)
            return
        if (
            old is None
            or old.generation != new.generation
            or old.replicas != new.replicas
            or new.observed < new.generation
        ):
            self._queue[key] = None

    def _forget(self, uid: str) -> None:
        self._revisions.pop(uid, None)
        for blueprint_key in [k for k in self._blueprints if k[0] == uid]:
            del self._blueprints[blueprint_key]

    def enqueue(self, key: Key) -> None:
        self._queue[key] = None

    def enqueue_all(self) -> None:
        """Sync every set (after the scenario wrote them while the controllers were quiet)."""
        for key in self.rt.view.statefulsets:
            self._queue[key] = None

    def process(self) -> bool:
        """Run every queued sync once; True if there was anything to do."""
        did = self._collect_garbage()
        while self._queue:
            key = next(iter(self._queue))
            del self._queue[key]
            did = self._sync(key) or did
        return did

    def _collect_garbage(self) -> bool:
        """The garbage collector's part: a deleted set's pods go too."""
        did = False
        while self._orphaned:
            owner, uid = next(iter(self._orphaned.items()))
            del self._orphaned[owner]
            for key in list(self.rt.view.pods_by_statefulset.get(owner, {})):
                pod = self.rt.view.pods.get(key)
                if pod is not None and pod.set_owner_uid == uid and not pod.deleting:
                    self.rt.delete_pod(key, grace=30)
                    did = True
        return did

    # -- one set ------------------------------------------------------------------------

    def _sync(self, key: Key) -> bool:
        rt = self.rt
        sts = rt.store.get("statefulsets", *key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return False
        try:
            plan = _Plan(sts.get("spec") or {})
        except ValueError as e:
            # The real API server refuses such a set; this one stores what it is
            # given, so the controller leaves it alone instead of failing on it.
            rt.counters["statefulsets_unusable"] += 1
            rt.recorder.record(
                sts, reason="FailedSync", message=str(e), component=_COMPONENT, warning=True
            )
            return False
        uid = sts["metadata"]["uid"]
        old_status: Obj = sts.get("status") or {}
        collisions = int(old_status.get("collisionCount") or 0)
        update_revision = revision_name(key[1], sts["spec"]["template"], collision_count=collisions)
        revisions = self._revisions.setdefault(uid, {})
        revisions[update_revision] = sts["spec"]["template"]
        current_revision = str(old_status.get("currentRevision") or update_revision)
        did = self._reconcile(
            sts, plan, update_revision=update_revision, current_revision=current_revision
        )
        status = self._status(
            sts,
            plan,
            update_revision=update_revision,
            current_revision=current_revision,
            collisions=collisions,
        )
        if status != old_status:
            sts["status"] = status
            rt.store.update("statefulsets", sts, subresource="status")
            did = True
        return did

    def _members(self, sts: Obj) -> dict[int, PodFacts]:
        """The set's pods by ordinal (those it owns, whatever their state)."""
        meta = sts["metadata"]
        key = (meta["namespace"], meta["name"])
        view = self.rt.view
        members: dict[int, PodFacts] = {}
        for pod_key in view.pods_by_statefulset.get(key, {}):
            pod = view.pods.get(pod_key)
            if pod is None or pod.set_owner_uid != meta["uid"]:
                continue
            ordinal = _ordinal(meta["name"], pod.name)
            if ordinal is not None:
                members[ordinal] = pod
        return members

    def _reconcile(
        self, sts: Obj, plan: _Plan, *, update_revision: str, current_revision: str
    ) -> bool:
        """The pod work of one sync: create or replace in order, scale down, roll."""
        members = self._members(sts)
        did = False
        all_healthy = True
        for ordinal in range(plan.replicas):
            pod = members.get(ordinal)
            if pod is None:
                below_partition = plan.rolling and ordinal < plan.partition
                revision = current_revision if below_partition else update_revision
                self._create(sts, ordinal, revision=revision, fallback=update_revision)
                did = True
            elif pod.terminal and not pod.deleting:
                # A Failed (say, evicted) pod is deleted and made again.
                self._delete(sts, pod)
                did = True
            elif _healthy(pod):
                continue
            all_healthy = False
            if plan.ordered:
                return did
        for ordinal in sorted((o for o in members if o >= plan.replicas), reverse=True):
            pod = members[ordinal]
            if not pod.deleting:
                self._delete(sts, pod)
                did = True
            if plan.ordered:
                return did
        if not plan.rolling or not all_healthy:
            return did
        for ordinal in range(plan.replicas - 1, plan.partition - 1, -1):
            pod = members[ordinal]
            if pod.revision != update_revision:
                self._delete(sts, pod)
                return True
            if not _healthy(pod):
                return did
        return did

    def _blueprint(self, sts: Obj, revision: str, template: Obj) -> PodBlueprint:
        uid = sts["metadata"]["uid"]
        blueprint = self._blueprints.get((uid, revision))
        if blueprint is None:
            blueprint = revision_blueprint(sts, revision=revision, template=template)
            self._blueprints[(uid, revision)] = blueprint
        return blueprint

    def _create(self, sts: Obj, ordinal: int, *, revision: str, fallback: str) -> None:
        rt = self.rt
        meta = sts["metadata"]
        revisions = self._revisions.get(meta["uid"], {})
        if revision not in revisions:
            revision = fallback  # the template of an unknown revision is lost: use the new one
        name = f"{meta['name']}-{ordinal}"
        if (meta["namespace"], name) in rt.view.pods:
            return  # a pod of an earlier set of this name is still going away
        blueprint = self._blueprint(sts, revision, revisions[revision])
        pod = blueprint.new_pod(
            name=name,
            uid=make_uid(rt.rng),
            created=rt.now(),
            volume_suffix=random_suffix(rt.rng),
        )
        stamp_identity(pod, sts=sts, blueprint=blueprint, ordinal=ordinal)
        rt.store.create("pods", pod)
        rt.counters["pods_created"] += 1
        rt.recorder.record(
            sts,
            reason="SuccessfulCreate",
            message=f"create Pod {name} in StatefulSet {meta['name']} successful",
            component=_COMPONENT,
        )

    def _delete(self, sts: Obj, pod: PodFacts) -> None:
        self.rt.delete_pod(pod.key, grace=30)
        self.rt.recorder.record(
            sts,
            reason="SuccessfulDelete",
            message=f"delete Pod {pod.name} in StatefulSet {sts['metadata']['name']} successful",
            component=_COMPONENT,
        )

    def _status(
        self,
        sts: Obj,
        plan: _Plan,
        *,
        update_revision: str,
        current_revision: str,
        collisions: int,
    ) -> Obj:
        """The counts over the set's pods, as the controller's status update writes them."""
        members = list(self._members(sts).values())
        replicas = len(members)
        ready = sum(1 for p in members if p.phase == "Running" and p.ready)
        current = sum(1 for p in members if not p.deleting and p.revision == current_revision)
        updated = sum(1 for p in members if not p.deleting and p.revision == update_revision)
        if (
            plan.rolling
            and updated == replicas == plan.replicas
            and ready == replicas
            and current_revision != update_revision
        ):
            # The rollout is complete: the update revision becomes the current one.
            current_revision, current = update_revision, updated
        status: Obj = {
            "availableReplicas": ready,
            "collisionCount": collisions,
            "currentRevision": current_revision,
            "observedGeneration": int(sts["metadata"].get("generation") or 1),
            "replicas": replicas,
            "updateRevision": update_revision,
        }
        if current:
            status["currentReplicas"] = current
        if ready:
            status["readyReplicas"] = ready
        if updated:
            status["updatedReplicas"] = updated
        return status
