"""The leader gate: a callback that leaves the process runs on the Lease holder only.

Every replica watches the cluster and computes the same transitions, so
callbacks that stay in the process (logs, MCP notifications) fire
everywhere, but a webhook would fire once per replica. The election itself
talks to the API server and lives with the connection
(`watcher.leader.LeaderElector`); this module only follows its verdict:
`subscribe_while_leading` subscribes the callback to the registry while
this replica leads and closes the subscription when it stops. It sees the
elector through `Leadership`, so dispatch needs nothing of the watcher.

The handover gap. Between the moment the old leader stops delivering and
the moment its successor subscribes, transitions happen that every replica
records but no replica sends: up to the lease's takeover bound after a
crash, the shutdown drain plus one retry period after a release. Given a
`replay` (the store's history since a time), the gate closes that gap: on
each acquisition the new leader queues, ahead of the live ones, the
transitions its own history recorded since the elector's `handover_since`
(less `replay_margin`) that the live subscription did not get, each once
(by history id). Replay is at-least-once: a transition the old leader sent
just before it stopped may be sent again by the new one (the margin trades
such duplicates for never losing one to clock or ingest skew between
replicas); history ids are per replica, so a receiver that must drop those
duplicates keys them on (uid, field, old, new) within a few seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from dispatch.callbacks import Callback, CallbackRegistry, Subscription
from store.model import Transition

__all__ = ["History", "Leadership", "subscribe_while_leading"]

log = logging.getLogger(__name__)

# The transitions recorded at or after a unix time, oldest first (the store's history).
History = Callable[[float], Awaitable[Sequence[Transition]]]


class Leadership(Protocol):
    """What the gate needs of an elector (`watcher.leader.LeaderElector` is one).

    `handover_since` is set by the elector at each acquisition: from when
    the previous holder may not have delivered (unix seconds), None when
    there was nobody before. `replayed` counts what the gate queued from
    handover gaps, kept beside the elector's other counters.
    """

    identity: str
    handover_since: float | None
    replayed: int

    @property
    def is_leader(self) -> bool: ...

    def on_change(self, listener: Callable[[bool], None]) -> None: ...


def subscribe_while_leading(
    elector: Leadership,
    registry: CallbackRegistry,
    callback: Callback,
    *,
    replay: History | None = None,
    replay_margin: float = 0.5,
    **subscribe: Any,
) -> Callable[[], Subscription | None]:
    """Subscribe `callback` to `registry` only while `elector` leads.

    `subscribe` holds `CallbackRegistry.subscribe`'s keyword arguments. A new
    subscription is made on each acquisition and closed on each loss, so a
    follower queues nothing for the sink; transitions already queued when
    leadership ends are still handed over (they were seen while leading).
    With `replay`, each acquisition also queues the handover gap from
    history (see the module docstring). Returns a function giving the
    current subscription (None while following).
    """
    current: Subscription | None = None

    def follow(leading: bool) -> None:
        nonlocal current
        if leading and current is None:
            sub = current = registry.subscribe(callback, **subscribe)
            since = elector.handover_since
            if replay is not None and since is not None:
                registry.start_soon(
                    functools.partial(
                        _replay_gap,
                        elector=elector,
                        registry=registry,
                        sub=sub,
                        history=replay,
                        since=since - replay_margin,
                    ),
                    name=f"handover replay for {sub.name}",
                )
        elif not leading and current is not None:
            current.close()
            current = None

    elector.on_change(follow)
    follow(elector.is_leader)
    return lambda: current


async def _replay_gap(
    *,
    elector: Leadership,
    registry: CallbackRegistry,
    sub: Subscription,
    history: History,
    since: float,
) -> None:
    """Queue for `sub` what history recorded since `since` and `sub` did not get live."""
    recorded = await history(since)
    # Everything `recorded` holds was published before the read returned: once it is
    # dispatched, `sub.first_offered` tells which of it the live subscription got.
    await registry.dispatched()
    queued = sub.replay(recorded)
    elector.replayed += queued
    log.info(
        "%s: %d transitions of the handover gap (since %s) queued for %s",
        elector.identity,
        queued,
        dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="milliseconds"),
        sub.name,
    )
