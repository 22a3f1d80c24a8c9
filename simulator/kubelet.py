"""Every node's kubelet at once: starting pods, running containers, failing them.

A pod bound to a node goes ContainerCreating, then its containers run. What
happens next depends on the container's *fate*, decided by the world the
scenario set up: an image that does not exist fails with ErrImagePull then
ImagePullBackOff; a ConfigMap that does not exist gives
CreateContainerConfigError; a crashing app exits with Error (or is
OOMKilled), restarts at once the first time and then backs off 10s, 20s, 40s
... up to 5 minutes, each restart raising `restartCount`; everything else runs
and is ready. Fates are re-read at every step, so fixing the world (rolling
back, pushing the image, clearing a fault) heals pods the way it would.

Each pod has at most one pending timer, tagged with an epoch: any newer
decision about the pod bumps the epoch and the older timer does nothing.
Pods of a node that is down make no progress until it is back.
"""

from __future__ import annotations

from functools import partial

from .cluster_view import Key, NodeFacts, PodFacts
from .node_states import heartbeat, mark_node_not_ready, mark_node_ready, set_pressure
from .objects import Obj, container_id, node_pod_cidr_prefix
from .pod_states import (
    back_off_container,
    container_status,
    fail_container_config,
    fail_image_pull,
    mark_container_creating,
    mark_evicted,
    mark_sandbox_ready,
    mark_stopped_for_deletion,
    refresh_pod,
    set_container_ready,
    start_container,
    terminate_container,
)
from .runtime import Runtime

__all__ = ["FATES", "Kubelet"]

# What a container does when started: run and be ready, or fail in one of these ways.
FATES = ("ok", "crash", "oom", "pull", "config")
_MAX_BACKOFF = 300


class Kubelet:
    """The kubelets of all nodes, driven by store changes and virtual-time timers."""

    def __init__(self, rt: Runtime, *, status_interval: float = 300.0) -> None:
        self.rt = rt
        self.status_interval = status_interval
        # The world the containers run in; the scenario changes it.
        self.pod_faults: dict[Key, str] = {}
        self.image_faults: dict[str, str] = {}
        self.missing_configmaps: dict[tuple[str, str], None] = {}
        # Kubelets that stopped reporting (their node goes Unknown).
        self.lost_nodes: dict[str, None] = {}
        self._epochs: dict[Key, int] = {}
        self._epoch_seq = 0
        self._crash_streak: dict[Key, int] = {}
        self._pull_backoff: dict[Key, int] = {}
        self._ip_cursor: dict[str, int] = {}
        self._to_start: dict[Key, None] = {}
        self._to_stop: dict[Key, None] = {}
        self._to_resync: dict[str, None] = {}
        rt.view.subscribe(self._observe)

    # -- reacting to the store ----------------------------------------------------------

    def _observe(self, resource: str, event_type: str, key: Key, old: object, new: object) -> None:
        if self.rt.quiet:
            return
        if resource == "pods":
            before = old if isinstance(old, PodFacts) else None
            after = new if isinstance(new, PodFacts) else None
            if after is None:
                self._forget(key)
                return
            if after.node and after.active and (before is None or not before.node):
                self._to_start[key] = None
            if after.deleting and after.node and (before is None or not before.deleting):
                self._to_stop[key] = None
        elif (
            resource == "nodes"
            and isinstance(new, NodeFacts)
            and new.ready == "True"
            and isinstance(old, NodeFacts)
            and old.ready != "True"
        ):
            self._to_resync[new.name] = None

    def _forget(self, key: Key) -> None:
        self._epochs.pop(key, None)
        self._crash_streak.pop(key, None)
        self._pull_backoff.pop(key, None)
        self.pod_faults.pop(key, None)
        self._to_start.pop(key, None)
        self._to_stop.pop(key, None)

    def process(self) -> bool:
        """Handle newly bound, newly deleted and recovered-node pods; True if any."""
        did = False
        while self._to_start:
            key = next(iter(self._to_start))
            del self._to_start[key]
            did = self._start(key) or did
        while self._to_stop:
            key = next(iter(self._to_stop))
            del self._to_stop[key]
            did = self._stop(key) or did
        while self._to_resync:
            node = next(iter(self._to_resync))
            del self._to_resync[node]
            for key in list(self.rt.view.pods_by_node.get(node, {})):
                facts = self.rt.view.pods.get(key)
                if facts is None or facts.terminal:
                    continue
                if facts.deleting:
                    self._stop(key)
                else:
                    self._schedule_sync(key, self.rt.rng.uniform(0.5, 2.0))
                did = True
        return did

    # -- pod lifecycle ------------------------------------------------------------------

    def _node_up(self, name: str) -> NodeFacts | None:
        node = self.rt.view.nodes.get(name)
        if node is None or node.ready != "True" or name in self.lost_nodes:
            return None
        return node

    def _start(self, key: Key) -> bool:
        rt = self.rt
        facts = rt.view.pods.get(key)
        if facts is None or not facts.active or not facts.node:
            return False
        node = self._node_up(facts.node)
        if node is None:
            return False
        pod = rt.store.get("pods", *key)
        if pod is None:
            return False
        if not pod["status"].get("containerStatuses"):
            mark_container_creating(pod, host_ip=node.host_ip, now=rt.now())
            rt.store.update("pods", pod, subresource="status")
        self._schedule_sync(key, rt.rng.uniform(1.0, 4.0))
        return True

    def _next_epoch(self, key: Key) -> int:
        """A fresh epoch for the pod's next timer: unique, so no stale timer ever matches."""
        self._epoch_seq += 1
        self._epochs[key] = self._epoch_seq
        return self._epoch_seq

    def _schedule_sync(self, key: Key, delay: float) -> None:
        self.rt.after(delay, partial(self._fire, key, self._next_epoch(key), None))

    def _schedule_crash(self, key: Key, delay: float, reason: str) -> None:
        self.rt.after(delay, partial(self._fire, key, self._next_epoch(key), reason))

    def _fire(self, key: Key, epoch: int, crash_reason: str | None) -> None:
        if self._epochs.get(key) != epoch:
            return
        if crash_reason is None:
            self.sync(key)
        else:
            self.kill(key, reason=crash_reason)

    def fate(self, pod: Obj, container: Obj, *, main: bool) -> str:
        """What starting `container` leads to, given the world as it is now."""
        meta = pod["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        if main:
            fault = self.pod_faults.get(key)
            if fault is not None:
                return fault
        image_fault = self.image_faults.get(container["image"])
        if image_fault is not None:
            return image_fault
        for source in container.get("envFrom") or ():
            ref = (source.get("configMapRef") or {}).get("name")
            if ref and (key[0], ref) in self.missing_configmaps:
                return "config"
        return "ok"

    def sync(self, key: Key) -> None:
        """One kubelet sync of a pod: move each container one step toward its fate."""
        rt = self.rt
        facts = rt.view.pods.get(key)
        if facts is None or not facts.active or not facts.node:
            return
        node = self._node_up(facts.node)
        if node is None:
            return
        pod = rt.store.get("pods", *key)
        if pod is None:
            return
        now = rt.now()
        status = pod["status"]
        if not status.get("containerStatuses"):
            mark_container_creating(pod, host_ip=node.host_ip, now=now)
        if not status.get("podIP"):
            mark_sandbox_ready(pod, pod_ip=self.allocate_ip(node), now=now)
        if status.get("reason") == "NodeLost":
            status.pop("reason", None)
            status.pop("message", None)
        next_step: tuple[float, str | None] | None = None
        events: list[tuple[str, str, bool, str]] = []
        for index, container in enumerate(pod["spec"]["containers"]):
            fate = self.fate(pod, container, main=index == 0)
            step = self._step_container(
                pod, container, fate, main=index == 0, now=now, events=events
            )
            if step is not None and (next_step is None or step[0] < next_step[0]):
                next_step = step
        refresh_pod(pod, now)
        updated = rt.store.update("pods", pod, subresource="status")
        for reason, message, warning, name in events:
            rt.recorder.record(
                updated,
                reason=reason,
                message=message,
                component="kubelet",
                host=facts.node,
                warning=warning,
                field_path=f"spec.containers{{{name}}}",
            )
        if next_step is not None:
            delay, crash = next_step
            if crash is None:
                self._schedule_sync(key, delay)
            else:
                self._schedule_crash(key, delay, crash)
        else:
            self._epochs.pop(key, None)

    def _step_container(
        self,
        pod: Obj,
        container: Obj,
        fate: str,
        *,
        main: bool,
        now: str,
        events: list[tuple[str, str, bool, str]],
    ) -> tuple[float, str | None] | None:
        """Advance one container; the next timer it needs (delay, crash reason or None)."""
        rt = self.rt
        meta = pod["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        name = container["name"]
        cs = container_status(pod, name)
        state = cs.get("state") or {}
        ever_started = bool(cs.get("containerID"))
        crashing = fate in ("crash", "oom")
        if "running" in state:
            if crashing:
                if cs.get("ready"):
                    set_container_ready(pod, name, ready=False, now=now)
                return rt.rng.uniform(3.0, 12.0), "OOMKilled" if fate == "oom" else "Error"
            if not cs.get("ready"):
                set_container_ready(pod, name, ready=True, now=now)
            if main:
                self._crash_streak.pop(key, None)
            return None
        waiting = state.get("waiting") or {}
        if "terminated" in state:
            delay = self._crash_delay(key) if main else 0
            if delay > 0:
                back_off_container(pod, name, now=now, delay=delay)
                events.append(
                    (
                        "BackOff",
                        f"Back-off restarting failed container {name} in pod "
                        f"{meta['name']}_{key[0]}({meta.get('uid', '')})",
                        True,
                        name,
                    )
                )
                return float(delay), None
        elif not ever_started and fate == "pull":
            if waiting.get("reason") == "ErrImagePull":
                backoff = self._pull_backoff.get(key, 5) * 2
                self._pull_backoff[key] = min(backoff, _MAX_BACKOFF)
                fail_image_pull(pod, name, now=now, back_off=True)
                events.append(
                    ("BackOff", f'Back-off pulling image "{container["image"]}"', False, name)
                )
                return float(self._pull_backoff[key]), None
            fail_image_pull(pod, name, now=now, back_off=False)
            events.append(
                (
                    "Failed",
                    f'Failed to pull image "{container["image"]}": '
                    + str(container_status(pod, name)["state"]["waiting"]["message"]),
                    True,
                    name,
                )
            )
            return rt.rng.uniform(1.0, 3.0), None
        elif not ever_started and fate == "config":
            missing = self._missing_config(pod, container)
            message = f'configmap "{missing}" not found'
            if waiting.get("reason") != "CreateContainerConfigError":
                events.append(("Failed", f"Error: {message}", True, name))
            fail_container_config(pod, name, now=now, message=message)
            backoff = min(self._pull_backoff.get(key, 5) * 2, _MAX_BACKOFF)
            self._pull_backoff[key] = backoff
            return float(backoff), None
        start_container(pod, name, now=now, container_id=container_id(rt.rng), ready=not crashing)
        self._pull_backoff.pop(key, None)
        if crashing:
            return rt.rng.uniform(3.0, 12.0), "OOMKilled" if fate == "oom" else "Error"
        if main:
            self._crash_streak.pop(key, None)
        return None

    def _crash_delay(self, key: Key) -> int:
        """Restart back-off: the first restart is immediate, then 10s doubling to 5 min."""
        streak = self._crash_streak.get(key, 0)
        if streak <= 1:
            return 0
        return int(min(10 * 2 ** (streak - 2), _MAX_BACKOFF))

    def _missing_config(self, pod: Obj, container: Obj) -> str:
        namespace = pod["metadata"].get("namespace") or ""
        for source in container.get("envFrom") or ():
            ref = (source.get("configMapRef") or {}).get("name")
            if ref and (namespace, ref) in self.missing_configmaps:
                return str(ref)
        return ""

    def allocate_ip(self, node: NodeFacts) -> str:
        """The next pod IP from the node's pod CIDR."""
        prefix = node.pod_cidr.rsplit(".", 1)[0] if node.pod_cidr else node_pod_cidr_prefix(0)
        cursor = self._ip_cursor.get(node.name, 1) % 253 + 1
        self._ip_cursor[node.name] = cursor
        return f"{prefix}.{cursor + 1}"

    def kill(self, key: Key, *, reason: str = "Error") -> bool:
        """The main container exits now (`Error` exit 1 or `OOMKilled` exit 137).

        The next sync restarts it, at once if this is the first crash in a row,
        after a back-off otherwise; whether it then keeps running depends on
        its fate.
        """
        rt = self.rt
        facts = rt.view.pods.get(key)
        if facts is None or not facts.active or not facts.node or self._node_up(facts.node) is None:
            return False
        pod = rt.store.get("pods", *key)
        if pod is None:
            return False
        name = pod["spec"]["containers"][0]["name"]
        try:
            cs = container_status(pod, name)
        except KeyError:
            return False
        if "running" not in (cs.get("state") or {}):
            return False
        now = rt.now()
        terminate_container(
            pod, name, now=now, reason=reason, exit_code=137 if reason == "OOMKilled" else 1
        )
        rt.store.update("pods", pod, subresource="status")
        self._crash_streak[key] = self._crash_streak.get(key, 0) + 1
        rt.counters["containers_crashed" if reason != "OOMKilled" else "containers_oom_killed"] += 1
        self._schedule_sync(key, 1.0)
        return True

    # -- deletion -----------------------------------------------------------------------

    def _stop(self, key: Key) -> bool:
        """A bound pod is being deleted: stop its containers, then remove it."""
        facts = self.rt.view.pods.get(key)
        if facts is None or not facts.node:
            return False
        if self._node_up(facts.node) is None and facts.node in self.lost_nodes:
            return False  # nobody can confirm the containers stopped: stays Terminating
        epoch = self._next_epoch(key)
        self.rt.after(self.rt.rng.uniform(0.5, 3.0), partial(self._finish_deletion, key, epoch))
        return True

    def _finish_deletion(self, key: Key, epoch: int) -> None:
        if self._epochs.get(key) != epoch:
            return
        rt = self.rt
        pod = rt.store.get("pods", *key)
        if pod is None:
            return
        if not pod["metadata"].get("deletionTimestamp"):
            return
        mark_stopped_for_deletion(pod, now=rt.now())
        rt.store.update("pods", pod, subresource="status")
        rt.remove_pod(key)

    # -- node level: status reports and evictions ----------------------------------------

    def start_heartbeats(self, names: list[str]) -> None:
        """Schedule every node's periodic status report, spread over one interval."""
        if self.status_interval <= 0:
            return
        for name in names:
            self.rt.after(
                self.rt.rng.uniform(0.0, self.status_interval), partial(self._heartbeat, name)
            )

    def _heartbeat(self, name: str) -> None:
        rt = self.rt
        if name not in rt.view.nodes:
            return
        rt.after(self.status_interval * rt.rng.uniform(0.9, 1.1), partial(self._heartbeat, name))
        if name in self.lost_nodes:
            return
        node = rt.store.get("nodes", None, name)
        if node is None:
            return
        heartbeat(node, now=rt.now())
        rt.store.update("nodes", node, subresource="status")
        rt.counters["node_heartbeats"] += 1

    def report_ready(self, name: str) -> Obj | None:
        """The kubelet (back) up and healthy: it reports every condition healthy."""
        self.lost_nodes.pop(name, None)
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return None
        mark_node_ready(node, now=self.rt.now())
        return self.rt.store.update("nodes", node, subresource="status")

    def report_not_ready(self, name: str) -> Obj | None:
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return None
        mark_node_not_ready(node, now=self.rt.now())
        return self.rt.store.update("nodes", node, subresource="status")

    def stop_reporting(self, name: str) -> None:
        """The kubelet (or its whole machine) is gone: no status, no pod progress."""
        self.lost_nodes[name] = None

    def report_pressure(self, name: str, kind: str, *, active: bool) -> Obj | None:
        node = self.rt.store.get("nodes", None, name)
        if node is None:
            return None
        set_pressure(node, kind, active=active, now=self.rt.now())
        return self.rt.store.update("nodes", node, subresource="status")

    def evict(self, key: Key, *, resource: str) -> bool:
        """Evict a pod under node pressure: phase Failed, reason Evicted."""
        rt = self.rt
        facts = rt.view.pods.get(key)
        if facts is None or not facts.active or not facts.node:
            return False
        pod = rt.store.get("pods", *key)
        if pod is None:
            return False
        main = pod["spec"]["containers"][0]
        requests = (main.get("resources") or {}).get("requests") or {}
        if resource == "memory":
            message = (
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                f"{rt.rng.randint(40, 99) * 1024}Ki. Container {main['name']} was using "
                f"{rt.rng.randint(300, 900)}Mi, request is {requests.get('memory', '0')}, "
                "has larger consumption of its request. "
            )
        else:
            message = (
                "The node was low on resource: ephemeral-storage. Threshold quantity: "
                f"10Gi, available: {rt.rng.randint(2, 9)}Gi. "
            )
        now = rt.now()
        mark_evicted(pod, now=now, message=message)
        updated = rt.store.update("pods", pod, subresource="status")
        self._epochs.pop(key, None)
        rt.counters["pods_evicted"] += 1
        rt.recorder.record(
            updated,
            reason="Evicted",
            message=message,
            component="kubelet",
            host=facts.node,
            warning=True,
        )
        return True
