"""The simulated kube-scheduler: bind pending pods to nodes that fit, or say why none does.

It applies the default filters in their real order (NodeUnschedulable,
TaintToleration, NodeAffinity/nodeSelector, NodeResourcesFit) and scores the
feasible nodes by least allocated resources. Like the real scheduler on big
clusters it stops after finding enough feasible nodes (a smaller share than
percentageOfNodesToScore: this one runs in Python) and starts each search
where the previous one ended, so scheduling stays cheap with 5k nodes. A pod
that fits nowhere gets PodScheduled=False with reason Unschedulable and the
real "0/N nodes are available: ..." message. It is tried again when its
back-off (10s doubling to 5 minutes) runs out, or at once when something
that could help happens (queueing hints, simplified): any node change, or
freed resources for a pod that only lacked resources somewhere. A pod that
can never fit therefore does not cost a scan of the cluster at every change.
"""

from __future__ import annotations

from .cluster_view import Key, NodeFacts, PodFacts
from .objects import Obj
from .pod_states import mark_scheduled, mark_unschedulable
from .runtime import Runtime, status_body

__all__ = ["Scheduler"]

_RETRY_BATCH = 200
_RETRY_BACKOFF = 10.0
_RETRY_BACKOFF_MAX = 300.0


def _tolerates(tolerations: list[Obj], key: str, value: str, effect: str) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != effect:
            continue
        operator = toleration.get("operator", "Equal")
        t_key = toleration.get("key") or ""
        if operator == "Exists":
            if not t_key or t_key == key:
                return True
        elif t_key == key and (toleration.get("value") or "") == value:
            return True
    return False


def _schedulable_state(node: NodeFacts) -> tuple[object, ...]:
    return (node.unschedulable, node.taints, node.cpu, node.mem, node.pods, node.labels)


class Scheduler:
    """Binds unscheduled pods; keeps the unschedulable ones for a later retry."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._queue: dict[Key, None] = {}
        # Unschedulable pods: when each may be tried again, and how often it failed.
        self._unschedulable: dict[Key, float] = {}
        self._failures: dict[Key, int] = {}
        # Pods that only lacked resources on some node: freed resources may help.
        self._resource_bound: dict[Key, bool] = {}
        self._nodes_changed = False
        self._resources_freed = False
        self._names: list[str] | None = None
        self._next_start = 0
        rt.view.subscribe(self._observe)

    @property
    def pending(self) -> int:
        """Pods waiting for a node that fits."""
        return len(self._unschedulable)

    def _observe(self, resource: str, event_type: str, key: Key, old: object, new: object) -> None:
        if self.rt.quiet:
            return
        if resource == "pods":
            before = old if isinstance(old, PodFacts) else None
            after = new if isinstance(new, PodFacts) else None
            if after is None or after.node or not after.active:
                self._queue.pop(key, None)
                self._unschedulable.pop(key, None)
                self._failures.pop(key, None)
                self._resource_bound.pop(key, None)
                if (
                    before is not None
                    and before.holds_resources
                    and (after is None or not after.holds_resources)
                ):
                    self._resources_freed = True
                return
            if key not in self._unschedulable:
                self._queue[key] = None
        elif resource == "nodes":
            if old is None or new is None:
                self._names = None
            if isinstance(new, NodeFacts) and (
                not isinstance(old, NodeFacts) or _schedulable_state(old) != _schedulable_state(new)
            ):
                self._nodes_changed = True

    def enqueue(self, key: Key) -> None:
        """Schedule this pod at the next `process()` (pods created while quiet)."""
        self._queue[key] = None

    def process(self) -> bool:
        """Schedule every queued pod; True if there was anything to do."""
        if self._unschedulable:
            now = self.rt.clock.seconds
            everything, freed = self._nodes_changed, self._resources_freed
            due = [
                key
                for key, at in self._unschedulable.items()
                if at <= now or everything or (freed and self._resource_bound.get(key))
            ]
            for key in due[:_RETRY_BATCH]:
                del self._unschedulable[key]
                self._queue[key] = None
        self._nodes_changed = self._resources_freed = False
        did = False
        while self._queue:
            key = next(iter(self._queue))
            del self._queue[key]
            did = self._schedule(key) or did
        return did

    def _schedule(self, key: Key) -> bool:
        rt = self.rt
        facts = rt.view.pods.get(key)
        if facts is None or facts.node or not facts.active:
            return False
        pod = rt.store.get("pods", key[0], key[1])
        if pod is None:
            return False
        node, message, resource_bound = self._pick(pod, facts)
        now = rt.now()
        if node is not None:
            pod["spec"]["nodeName"] = node
            rt.store.update("pods", pod)
            status = pod["status"]
            mark_scheduled(pod, now=now)
            bound = rt.store.update("pods", status_body(pod, status), subresource="status")
            rt.counters["pods_scheduled"] += 1
            rt.recorder.record(
                bound,
                reason="Scheduled",
                message=f"Successfully assigned {key[0]}/{key[1]} to {node}",
                component="default-scheduler",
            )
            return True
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        backoff = min(_RETRY_BACKOFF * 2 ** (failures - 1), _RETRY_BACKOFF_MAX)
        self._unschedulable[key] = rt.clock.seconds + backoff
        self._resource_bound[key] = resource_bound
        mark_unschedulable(pod, now=now, message=message)
        updated = rt.store.update("pods", pod, subresource="status")
        rt.counters["pods_unschedulable"] += 1
        rt.recorder.record(
            updated,
            reason="FailedScheduling",
            message=message,
            component="default-scheduler",
            warning=True,
        )
        return True

    def _node_names(self) -> list[str]:
        if self._names is None:
            self._names = list(self.rt.view.nodes)
        return self._names

    def _pick(self, pod: Obj, facts: PodFacts) -> tuple[str | None, str, bool]:
        """The best node, or None with the failure message and whether resources were short."""
        view = self.rt.view
        names = self._node_names()
        total = len(names)
        if total == 0:
            return None, "no nodes available to schedule pods", False
        spec = pod["spec"]
        selector: dict[str, str] = spec.get("nodeSelector") or {}
        tolerations: list[Obj] = spec.get("tolerations") or []
        to_find = min(total, max(50, total // 20))
        start = self._next_start % total
        feasible: list[NodeFacts] = []
        reasons: dict[str, int] = {}
        preemption: dict[str, int] = {}
        checked = 0
        for offset in range(total):
            node = view.nodes.get(names[(start + offset) % total])
            checked += 1
            if node is None:
                continue
            failed, resource_only = self._filter(node, facts, selector, tolerations)
            if not failed:
                feasible.append(node)
                if len(feasible) >= to_find:
                    break
                continue
            for reason in failed:
                reasons[reason] = reasons.get(reason, 0) + 1
            verdict = (
                "No preemption victims found for incoming pod"
                if resource_only
                else "Preemption is not helpful for scheduling"
            )
            preemption[verdict] = preemption.get(verdict, 0) + 1
        self._next_start = (start + checked) % total
        if feasible:
            best = max(feasible, key=lambda node: self._score(node, facts))
            return best.name, "", False
        summary = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        helps = ", ".join(sorted(f"{count} {reason}" for reason, count in preemption.items()))
        message = (
            f"0/{total} nodes are available: {summary}. "
            f"preemption: 0/{total} nodes are available: {helps}."
        )
        return None, message, "No preemption victims found for incoming pod" in preemption

    def _filter(
        self, node: NodeFacts, pod: PodFacts, selector: dict[str, str], tolerations: list[Obj]
    ) -> tuple[list[str], bool]:
        """Why `pod` cannot go to `node` (empty: it fits), and whether freeing resources
        there could help (not when the pod is larger than the whole node)."""
        if node.unschedulable and not _tolerates(
            tolerations, "node.kubernetes.io/unschedulable", "", "NoSchedule"
        ):
            return ["node(s) were unschedulable"], False
        for key, value, effect in node.taints:
            if effect in ("NoSchedule", "NoExecute") and not _tolerates(
                tolerations, key, value, effect
            ):
                return [f"node(s) had untolerated taint {{{key}: {value}}}"], False
        for label, wanted in selector.items():
            if node.labels.get(label) != wanted:
                return ["node(s) didn't match Pod's node affinity/selector"], False
        used = self.rt.view.usage.get(node.name) or (0, 0, 0)
        short = []
        if used[2] + 1 > node.pods:
            short.append("Too many pods")
        if pod.cpu and used[0] + pod.cpu > node.cpu:
            short.append("Insufficient cpu")
        if pod.mem and used[1] + pod.mem > node.mem:
            short.append("Insufficient memory")
        return short, pod.cpu <= node.cpu and pod.mem <= node.mem

    def _score(self, node: NodeFacts, pod: PodFacts) -> float:
        used = self.rt.view.usage.get(node.name) or (0, 0, 0)
        cpu_free = (node.cpu - used[0] - pod.cpu) / node.cpu if node.cpu else 0.0
        mem_free = (node.mem - used[1] - pod.mem) / node.mem if node.mem else 0.0
        return cpu_free + mem_free
