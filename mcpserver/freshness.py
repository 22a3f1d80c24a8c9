"""How fresh the watch cache is: every answer's `freshness`, and /ready.

An answer is only as good as the watches behind it. A kind that has not
finished its first list is *stale* (the cache is incomplete). A kind whose
watch is failing (the informer reported an error and nothing has arrived for
`stale_after` seconds) is *stale* too: its rows may be out of date. A quiet
cluster is not stale: a healthy watch may carry no event for an hour, and
bookmarks clear the error without counting as events.

Reads the store's in-memory sync state only, so /ready and every answer pay
no I/O for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from mcpserver.answers import Freshness, KindFreshness
from store import Kind, SyncState

__all__ = ["compute_freshness", "iso", "readiness_details"]


def iso(seconds: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC with milliseconds; None stays None."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compute_freshness(
    states: Mapping[Kind, SyncState],
    *,
    now: float,
    stale_after: float,
    watched: Collection[Kind] = tuple(Kind),
) -> Freshness:
    kinds: dict[str, KindFreshness] = {}
    reasons: list[str] = []
    for kind in Kind:
        state = states.get(kind) or SyncState(kind=kind)
        if kind not in watched:
            kinds[kind.value] = KindFreshness(watched=False, synced=False, objects=0)
            continue
        last = max(
            (t for t in (state.last_event_at, state.last_list_at) if t is not None), default=None
        )
        since_last = round(now - last, 3) if last is not None else None
        kinds[kind.value] = KindFreshness(
            synced=state.synced,
            objects=state.objects,
            seconds_since_last_event=since_last,
            error=state.error,
        )
        if not state.synced:
            reasons.append(f"{kind.value}: initial list not complete")
        elif state.error is not None and (since_last is None or since_last > stale_after):
            reasons.append(f"{kind.value}: watch failing ({state.error})")
    return Freshness(as_of=iso(now) or "", stale=bool(reasons), kinds=kinds, reasons=reasons)


def readiness_details(
    freshness: Freshness, *, store_healthy: bool, store_error: str | None
) -> tuple[bool, dict[str, Any]]:
    """(ready, body) for /ready: every kind synced and fresh, and the store writable."""
    reasons = list(freshness.reasons)
    if not store_healthy:
        reasons.append(f"store unavailable: {store_error or 'unknown error'}")
    body: dict[str, Any] = {
        "kinds": {k: v.model_dump() for k, v in freshness.kinds.items()},
        "store": {"healthy": store_healthy, "error": store_error},
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return not reasons, body
