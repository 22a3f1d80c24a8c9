"""The shared context of the simulated control plane and kubelets.

The controllers, the scheduler and the kubelets all need the same few things:
the store to write to, the view to read from, virtual time and timers, the
seeded random source, the event recorder. Bundling them in one object keeps
their constructors short and makes the single source of randomness and time
explicit: everything that must be reproducible draws from here.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from .cluster_view import ClusterView, Key
from .event_recorder import EventRecorder
from .objects import Obj
from .storage import ObjectStore
from .virtual_clock import SimClock, TimerQueue

__all__ = ["Runtime", "Timer", "status_body"]

Timer = Callable[[], None]


class Runtime:
    """Store, view, clock, timers, randomness and counters of one simulated cluster."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        clock: SimClock,
        rng: random.Random,
        view: ClusterView,
        recorder: EventRecorder,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.view = view
        self.recorder = recorder
        self.timers: TimerQueue[Timer] = TimerQueue()
        self.counters: Counter[str] = Counter()
        # While set, components keep their facts current but queue no work:
        # `Scenario.populate()` writes a settled cluster and needs no reactions.
        self.quiet = False

    def now(self) -> str:
        return self.clock.stamp()

    def after(self, seconds: float, timer: Timer) -> None:
        """Run `timer` once virtual time has moved `seconds` further."""
        self.timers.schedule(self.clock.seconds + max(0.0, seconds), timer)

    def delete_pod(self, key: Key, *, grace: int) -> None:
        """Delete a pod as a controller or user does: a DELETE with a grace period.

        The store applies the API's rules: a pod running on a node is only
        marked (Terminating) and the kubelet removes it once its containers
        stopped; anything else goes at once.
        """
        facts = self.view.pods.get(key)
        if facts is None or facts.deleting:
            return
        self.counters["pods_deleted"] += 1
        self.store.delete("pods", key[0], key[1], grace_period_seconds=grace)

    def remove_pod(self, key: Key) -> None:
        """The kubelet's final DELETE (grace 0) once a terminating pod's containers stopped."""
        self.store.delete("pods", key[0], key[1], grace_period_seconds=0)


def status_body(obj: Obj, status: Obj) -> Obj:
    """A minimal body for a /status write: the object's identity and the new status.

    Used right after a write to the main resource: the dict passed to that
    write now belongs to the store's event, so the next write must not reuse it.
    """
    meta = obj["metadata"]
    return {
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        "status": status,
    }
