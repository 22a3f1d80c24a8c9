"""core/v1 Events for the notable things the simulated components do.

`kubectl describe` and `kubectl get events` are how people see why a pod is
pending or a rollout stalled, so the controllers and kubelets here post the
same Events the real ones do (Scheduled, FailedScheduling, BackOff, Failed,
Evicted, ScalingReplicaSet, NodeNotReady...). Like client-go's recorder,
repeats of the same event are folded into one object whose `count` rises.
Events expire after an hour (the API server's default TTL) and their number
is capped, so a long churn run does not grow without bound.
"""

from __future__ import annotations

import random
from collections import OrderedDict

from .errors import NotFound
from .objects import Obj, make_event, make_uid
from .storage import ObjectStore
from .virtual_clock import SimClock

__all__ = ["EventRecorder"]

_EventKey = tuple[str, str, str, str, str]  # namespace, kind, name, reason, message


class EventRecorder:
    """Posts Events to the store, aggregating repeats and expiring old ones."""

    def __init__(
        self,
        store: ObjectStore,
        clock: SimClock,
        *,
        rng: random.Random,
        enabled: bool = True,
        limit: int = 2000,
        ttl: float = 3600.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng
        self.enabled = enabled
        self._limit = limit
        self._ttl = ttl
        # Live events, oldest first: key -> (namespace, name, created at).
        self._live: OrderedDict[_EventKey, tuple[str, str, float]] = OrderedDict()
        self._seq = 0
        self.posted = 0

    def record(
        self,
        involved: Obj,
        *,
        reason: str,
        message: str,
        component: str,
        warning: bool = False,
        host: str | None = None,
        field_path: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        self._expire()
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        key: _EventKey = (namespace, involved["kind"], meta["name"], reason, message)
        now = self._clock.stamp()
        self.posted += 1
        known = self._live.get(key)
        if known is not None:
            current = self._store.get("events", known[0], known[1])
            if current is not None:
                current["count"] = int(current.get("count") or 1) + 1
                current["lastTimestamp"] = now
                try:
                    self._store.update("events", current)
                except NotFound:
                    pass
                else:
                    return
            del self._live[key]
        self._seq += 1
        nanos = int(self._clock().timestamp()) * 1_000_000_000 + self._seq
        name = f"{meta['name']}.{nanos:x}"
        event = make_event(
            name=name,
            involved=involved,
            reason=reason,
            message=message,
            warning=warning,
            component=component,
            host=host,
            now=now,
            field_path=field_path,
        )
        event["metadata"]["uid"] = make_uid(self._rng)
        self._store.create("events", event)
        self._live[key] = (namespace, name, self._clock.seconds)

    def _expire(self) -> None:
        cutoff = self._clock.seconds - self._ttl
        while self._live:
            key, (namespace, name, created) = next(iter(self._live.items()))
            if created > cutoff and len(self._live) < self._limit:
                break
            del self._live[key]
            self._store.delete("events", namespace, name)
