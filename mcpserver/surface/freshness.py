"""How fresh the watch cache is: every answer's `freshness`, and /ready.

An answer is as good as a live LIST only while every kind behind it is
listed *by this process* and its watch is alive. So a kind is *stale*:

- until this process has listed it (or received the initial events of a
  streaming list). Rows restored from the state file are served meanwhile,
  and the reason says so, with the time the file last confirmed them: they
  may be minutes or days old, and deletions made while the agent was down
  are still in them;
- at once when its informer reports an error (a failing watch, a silent
  stream, a namespace it cannot list), until the next proof of life (a
  bookmark, a watch start, a list) clears it. Events during an error do not
  clear it: they prove that *a* stream is alive, not the failing one.

A quiet cluster is not stale: a healthy watch may carry no event for an
hour; `seconds_since_confirmed` (bookmarks count) tells how recently the
server proved the watch alive.

/ready is 503 until every watched kind is synced in this process, and while
a kind's error has lasted longer than the readiness tolerance
(`--stale-after`): a watch reconnect does not pull the agent out of service,
a watch that stays broken does. Answers say stale from the first second.

Reads the store's in-memory sync state only, so /ready and every answer pay
no I/O for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mcpserver.surface.answers import Freshness, KindFreshness
from store import Kind, SyncState

__all__ = ["compute_freshness", "iso", "readiness_details"]


def iso(seconds: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC with milliseconds; None stays None."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _age(now: float, then: float | None) -> float | None:
    return round(max(0.0, now - then), 3) if then is not None else None


def _unsynced_reason(state: SyncState) -> str | None:
    """Why a kind's rows are not this process's list yet; None once they are."""
    if state.synced:
        return None
    name = state.kind.value
    if state.restored_at is not None:
        return (
            f"{name}: restored from the state file (last confirmed {iso(state.restored_at)}), "
            "not yet re-listed"
        )
    if state.objects:
        return f"{name}: restored from the state file, not yet re-listed"
    return f"{name}: initial list not complete"


def _error_reason(state: SyncState, now: float) -> str | None:
    if state.error is None:
        return None
    failing = "watch failing" if state.synced else "cannot list"
    if state.error_since is None:
        return f"{state.kind.value}: {failing}: {state.error}"
    return (
        f"{state.kind.value}: {failing} since {iso(state.error_since)} "
        f"({_age(now, state.error_since):.0f} s): {state.error}"
    )


def _error_reasons(failing: Sequence[SyncState], now: float, *, suffix: str = "") -> list[str]:
    """One reason per distinct failure.

    A failure several kinds share (the API server unreachable) is said once,
    with no kind in front, so that an answer about any of those kinds carries
    it and nobody reads the same cause three times.
    """
    groups: dict[tuple[str | None, bool], list[SyncState]] = {}
    for state in failing:
        groups.setdefault((state.error, state.synced), []).append(state)
    reasons = []
    for (error, synced), states in groups.items():
        if len(states) == 1:
            reasons.append(f"{_error_reason(states[0], now)}{suffix}")
            continue
        names = ", ".join(state.kind.value for state in states)
        what = f"watches of {names} failing" if synced else f"cannot list {names}"
        starts = [state.error_since for state in states if state.error_since is not None]
        since = min(starts, default=None)
        when = f" since {iso(since)} ({_age(now, since):.0f} s)" if since is not None else ""
        reasons.append(f"{what}{when}: {error}{suffix}")
    return reasons


def compute_freshness(
    states: Mapping[Kind, SyncState],
    *,
    now: float,
    watched: Collection[Kind] = tuple(Kind),
) -> Freshness:
    kinds: dict[str, KindFreshness] = {}
    reasons: list[str] = []
    failing: list[SyncState] = []
    for kind in Kind:
        state = states.get(kind) or SyncState(kind=kind)
        if kind not in watched:
            kinds[kind.value] = KindFreshness(watched=False, synced=False, objects=0)
            continue
        last = max(
            (t for t in (state.last_event_at, state.last_list_at) if t is not None), default=None
        )
        kinds[kind.value] = KindFreshness(
            synced=state.synced,
            objects=state.objects,
            seconds_since_last_event=_age(now, last),
            seconds_since_confirmed=_age(now, state.confirmed_at),
            restored_at=None if state.synced else iso(state.restored_at),
            error=state.error,
            error_since=iso(state.error_since) if state.error is not None else None,
        )
        unsynced = _unsynced_reason(state)
        if unsynced is not None:
            reasons.append(unsynced)
        if state.error is not None:
            failing.append(state)
    reasons = _error_reasons(failing, now) + reasons  # the cause first, then what it left
    return Freshness(as_of=iso(now) or "", stale=bool(reasons), kinds=kinds, reasons=reasons)


def readiness_details(
    states: Mapping[Kind, SyncState],
    *,
    now: float,
    watched: Collection[Kind] = tuple(Kind),
    error_tolerance: float,
    store_healthy: bool,
    store_error: str | None,
) -> tuple[bool, dict[str, Any]]:
    """(ready, body) for /ready.

    Ready: every watched kind synced by this process, none failing for longer
    than `error_tolerance` seconds, and the store writable.
    """
    freshness = compute_freshness(states, now=now, watched=watched)
    reasons: list[str] = []
    too_long: list[SyncState] = []  # failing for longer than tolerated
    not_listed: list[SyncState] = []  # failing and not ready anyway: the error says why
    for kind in Kind:
        if kind not in watched:
            continue
        state = states.get(kind) or SyncState(kind=kind)
        unsynced = _unsynced_reason(state)
        if unsynced is not None:
            reasons.append(unsynced)
        if state.error is not None:
            failing_for = now - state.error_since if state.error_since is not None else None
            if failing_for is None or failing_for > error_tolerance:
                too_long.append(state)
            elif unsynced is not None:
                not_listed.append(state)
    tolerated = f" (longer than the {error_tolerance:g} s tolerated, --stale-after)"
    reasons = (
        _error_reasons(too_long, now, suffix=tolerated) + _error_reasons(not_listed, now) + reasons
    )
    if not store_healthy:
        reasons.append(f"store unavailable: {store_error or 'unknown error'}")
    body: dict[str, Any] = {
        "kinds": {k: v.model_dump() for k, v in freshness.kinds.items()},
        "store": {"healthy": store_healthy, "error": store_error},
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return not reasons, body
