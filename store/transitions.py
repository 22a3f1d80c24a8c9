"""What counts as a status change, per kind, and how bad the new value is.

Each kind reduces a row to a *signature*: a small tuple of exactly the fields
DESIGN.md tracks ("What counts as a status change"). The writer keeps the
signature of every object it holds, so deciding that a MODIFIED event changed
nothing that matters is one tuple comparison; only when signatures differ are
they expanded into named fields and compared one by one.

Field names, as they appear in `Transition.field`:

- Pod: `phase`, `ready`, `node`, `deletion_started`, `restarts` (increases
  only), `container/<name>/waiting_reason`,
  `container/<name>/last_terminated_reason`.
- Deployment: `condition/Available`, `condition/Progressing`,
  `condition/ReplicaFailure`, `replicas/ready`, `replicas/available`,
  `replicas/updated` (values `"have/desired"`), `rollout` (`complete`,
  `progressing`, `paused`).
- Node: `condition/Ready`, `condition/MemoryPressure`,
  `condition/DiskPressure`, `condition/PIDPressure`,
  `condition/NetworkUnavailable`, `unschedulable`.
- Any kind: `deleted` (old: the last derived status, new: None).

A first sighting records only the fields whose value is abnormal (warning or
critical), so listing 150k healthy pods writes no history; restart counts are
never recorded on first sight (those restarts happened before we looked).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from store.model import DeploymentRow, Kind, NodeRow, PodRow, Row, Severity
from store.severity import (
    LAST_TERMINATED_SEVERITY,
    POD_PHASE_SEVERITY,
    WAITING_SEVERITY,
    condition_severity,
    deletion_severity,
    last_terminated_severity,
    phase_severity,
    replicas_severity,
    waiting_severity,
)

__all__ = [
    "Change",
    "changes_between",
    "deletion_change",
    "deployment_rollout",
    "first_sight_changes",
    "rollout_progressing",
    "signature",
]

Signature = tuple[Any, ...]

_QUIET_PHASES = frozenset(p for p, s in POD_PHASE_SEVERITY.items() if s is Severity.INFO)
_QUIET_WAITING = frozenset(r for r, s in WAITING_SEVERITY.items() if s is Severity.INFO)
_QUIET_TERMINATED = frozenset(r for r, s in LAST_TERMINATED_SEVERITY.items() if s is Severity.INFO)

_DEPLOYMENT_CONDITIONS = ("Available", "Progressing", "ReplicaFailure")
_NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


class Change(NamedTuple):
    """One changed field; the writer stamps time and identity to make a Transition."""

    field: str
    old: str | None
    new: str | None
    severity: Severity
    reason: str
    message: str


def rollout_progressing(
    *,
    generation: int,
    observed_generation: int,
    replicas: int,
    status_replicas: int,
    updated_replicas: int,
    available_replicas: int,
    progressing_reason: str | None,
) -> bool:
    """Whether a rollout is under way: the one definition every answer and status uses.

    `kubectl rollout status`'s rules: the controller has not observed the
    latest generation, fewer updated replicas than desired, old replicas still
    around, or updated replicas not all available. The last one only while the
    rollout is still going (Progressing reason other than NewReplicaSetAvailable):
    a pod that dies after the rollout completed is not a rollout but an
    unavailable replica, which `store.health` reports as such.
    """
    return (
        observed_generation < generation
        or updated_replicas < replicas
        or status_replicas > updated_replicas
        or (
            available_replicas < updated_replicas and progressing_reason != "NewReplicaSetAvailable"
        )
    )


def deployment_rollout(row: DeploymentRow) -> str:
    """The rollout in one word: `paused`, `progressing` (`rollout_progressing`), `complete`."""
    if row.paused:
        return "paused"
    progressing = row.conditions.get("Progressing")
    if rollout_progressing(
        generation=row.generation,
        observed_generation=row.observed_generation,
        replicas=row.replicas,
        status_replicas=row.status_replicas,
        updated_replicas=row.updated_replicas,
        available_replicas=row.available_replicas,
        progressing_reason=progressing.reason if progressing is not None else None,
    ):
        return "progressing"
    return "complete"


def _cond(conditions: dict[str, Any], name: str) -> str | None:
    c = conditions.get(name)
    return c.status if c is not None else None


def signature(kind: Kind, row: Row) -> Signature:
    """The tracked status of one row, as a hashable tuple."""
    if kind is Kind.POD:
        assert isinstance(row, PodRow)
        return (
            row.phase,
            row.ready,
            row.node,
            row.deletion_at is not None,
            row.restarts,
            tuple([(c.name, c.waiting_reason, c.last_terminated_reason) for c in row.containers]),
        )
    if kind is Kind.DEPLOYMENT:
        assert isinstance(row, DeploymentRow)
        conds = row.conditions
        want = row.replicas
        return (
            _cond(conds, "Available"),
            _cond(conds, "Progressing"),
            _cond(conds, "ReplicaFailure"),
            f"{row.ready_replicas}/{want}",
            f"{row.available_replicas}/{want}",
            f"{row.updated_replicas}/{want}",
            deployment_rollout(row),
        )
    assert isinstance(row, NodeRow)
    conds = row.conditions
    ready = _cond(conds, "Ready") or row.ready
    return (
        ready,
        _cond(conds, "MemoryPressure"),
        _cond(conds, "DiskPressure"),
        _cond(conds, "PIDPressure"),
        _cond(conds, "NetworkUnavailable"),
        row.unschedulable,
    )


def _fields(kind: Kind, sig: Signature) -> dict[str, str | None]:
    if kind is Kind.POD:
        phase, ready, node, deleting, restarts, containers = sig
        out: dict[str, str | None] = {
            "phase": phase,
            "ready": "True" if ready else "False",
            "node": node,
            "deletion_started": "true" if deleting else "false",
            "restarts": str(restarts),
        }
        for name, waiting, last_terminated in containers:
            out[f"container/{name}/waiting_reason"] = waiting
            out[f"container/{name}/last_terminated_reason"] = last_terminated
        return out
    if kind is Kind.DEPLOYMENT:
        out = {f"condition/{c}": sig[i] for i, c in enumerate(_DEPLOYMENT_CONDITIONS)}
        out["replicas/ready"] = sig[3]
        out["replicas/available"] = sig[4]
        out["replicas/updated"] = sig[5]
        out["rollout"] = sig[6]
        return out
    out = {f"condition/{c}": sig[i] for i, c in enumerate(_NODE_CONDITIONS)}
    out["unschedulable"] = "true" if sig[5] else "false"
    return out


def _severity(kind: Kind, field: str, value: str | None, sig: Signature) -> Severity:
    """Severity of one field's value; depends on the signature only, never the full row."""
    if kind is Kind.POD:
        if field.startswith("container/"):
            if field.endswith("/waiting_reason"):
                return waiting_severity(value)
            return last_terminated_severity(value)
        if field == "phase":
            return phase_severity(value or "")
        if field == "ready":
            running = sig[0] == "Running" and not sig[3]
            return Severity.WARNING if value == "False" and running else Severity.INFO
        if field == "restarts":
            return Severity.WARNING
        return Severity.INFO
    if field.startswith("condition/"):
        return condition_severity(kind, field[len("condition/") :], value)
    if field in ("replicas/ready", "replicas/available"):
        return replicas_severity(value)
    if field == "unschedulable":
        return Severity.WARNING if value == "true" else Severity.INFO
    return Severity.INFO


def _explain(kind: Kind, field: str, value: str | None, row: Row) -> tuple[str, str]:
    """The reason and message a transition carries: the object's own words where it has them."""
    if kind is Kind.POD:
        assert isinstance(row, PodRow)
        if field.startswith("container/"):
            name = field.split("/", 2)[1]
            for c in row.containers:
                if c.name == name:
                    if field.endswith("/waiting_reason"):
                        return c.waiting_reason or "", c.waiting_message or ""
                    code = c.last_terminated_exit_code
                    return (
                        c.last_terminated_reason or "",
                        "" if code is None else f"exit code {code}",
                    )
            return "", "container gone"
        if field == "phase":
            return row.reason or "", row.message or ""
        if field == "ready":
            cond = row.conditions.get("Ready")
            return (cond.reason or "", cond.message or "") if cond else ("", "")
        if field == "restarts":
            reasons = [c.last_terminated_reason for c in row.containers if c.last_terminated_reason]
            return (reasons[0] if reasons else "", "")
        if field == "node":
            return ("Scheduled" if value else ""), ""
        return "", ""
    if field.startswith("condition/"):
        assert isinstance(row, DeploymentRow | NodeRow)
        cond = row.conditions.get(field[len("condition/") :])
        return (cond.reason or "", cond.message or "") if cond else ("", "")
    if field == "unschedulable":
        return ("Cordoned" if value == "true" else "Uncordoned"), ""
    return "", ""


def changes_between(kind: Kind, old: Signature, new: Signature, row: Row) -> list[Change]:
    """Every tracked field that differs between two signatures of one object."""
    if old == new:
        return []
    if kind is Kind.POD and old[5] == new[5]:
        return _pod_changes_same_containers(old, new, row)
    before, after = _fields(kind, old), _fields(kind, new)
    out: list[Change] = []
    for field, value in after.items():
        prev = before.get(field)
        if prev != value:
            change = _change(kind, field, prev, value, new, row)
            if change is not None:
                out.append(change)
    for field, prev in before.items():
        if field not in after and prev is not None:
            out.append(Change(field, prev, None, Severity.INFO, "", "container gone"))
    return out


_POD_FIELDS = ("phase", "ready", "node", "deletion_started", "restarts")


def _pod_text(i: int, value: Any) -> str | None:
    """A pod signature's scalar `i` as `_fields` writes it."""
    if i == 1:
        return "True" if value else "False"
    if i == 3:
        return "true" if value else "false"
    if i == 4:
        return str(value)
    return value  # type: ignore[no-any-return]


def _pod_changes_same_containers(old: Signature, new: Signature, row: Row) -> list[Change]:
    """`changes_between` for the common pod update (a restart count, readiness).

    With the containers unchanged only the five scalars can differ. This is
    `_change` of each, in `_POD_FIELDS` order, written out field by field:
    it runs for most watch events, and the generic path (field names,
    `_explain` and `_severity` matching on them) cost more than the rest of
    the event. tests/store/test_transitions.py checks both paths agree.
    """
    assert isinstance(row, PodRow)
    out: list[Change] = []
    if old[0] != new[0]:
        value = new[0]
        out.append(
            Change(
                "phase",
                old[0],
                value,
                phase_severity(value or ""),
                row.reason or "",
                row.message or "",
            )
        )
    if old[1] != new[1]:
        value = "True" if new[1] else "False"
        cond = row.conditions.get("Ready")
        running = new[0] == "Running" and not new[3]
        out.append(
            Change(
                "ready",
                "True" if old[1] else "False",
                value,
                Severity.WARNING if value == "False" and running else Severity.INFO,
                (cond.reason or "") if cond else "",
                (cond.message or "") if cond else "",
            )
        )
    if old[2] != new[2]:
        out.append(Change("node", old[2], new[2], Severity.INFO, "Scheduled" if new[2] else "", ""))
    if old[3] != new[3]:
        out.append(
            Change(
                "deletion_started",
                "true" if old[3] else "false",
                "true" if new[3] else "false",
                Severity.INFO,
                "",
                "",
            )
        )
    if old[4] != new[4] and int(new[4]) > int(old[4]):
        prev, value = str(old[4]), str(new[4])
        reason = ""
        for c in row.containers:
            if c.last_terminated_reason:
                reason = c.last_terminated_reason
                break
        out.append(
            Change(
                "restarts",
                prev,
                value,
                Severity.WARNING,
                reason,
                f"restart count {prev} -> {value}",
            )
        )
    return out


def _pod_changes_generic(old: Signature, new: Signature, row: Row) -> list[Change]:
    """The same as `_pod_changes_same_containers`, by the generic route (for tests)."""
    out: list[Change] = []
    for i, field in enumerate(_POD_FIELDS):
        if old[i] != new[i]:
            change = _change(Kind.POD, field, _pod_text(i, old[i]), _pod_text(i, new[i]), new, row)
            if change is not None:
                out.append(change)
    return out


def _change(
    kind: Kind, field: str, prev: str | None, value: str | None, new: Signature, row: Row
) -> Change | None:
    """The Change of one field whose text differs, or None if it is not news."""
    if field == "restarts" and int(value or 0) <= int(prev or 0):
        return None
    reason, message = _explain(kind, field, value, row)
    if field == "restarts":
        message = f"restart count {prev} -> {value}"
    return Change(field, prev, value, _severity(kind, field, value, new), reason, message)


def _pod_plainly_healthy(sig: Signature) -> bool:
    """The common case of an initial list, decided without building field names."""
    phase, ready, _node, deleting, _restarts, containers = sig
    if phase not in _QUIET_PHASES:
        return False
    if not ready and phase == "Running" and not deleting:
        return False
    for _name, waiting, last_terminated in containers:
        if waiting not in _QUIET_WAITING or last_terminated not in _QUIET_TERMINATED:
            return False
    return True


def first_sight_changes(kind: Kind, new: Signature, row: Row) -> list[Change]:
    """An object seen for the first time: only its abnormal values are news."""
    if kind is Kind.POD and _pod_plainly_healthy(new):
        return []
    out: list[Change] = []
    for field, value in _fields(kind, new).items():
        if field == "restarts" or value is None:
            continue
        severity = _severity(kind, field, value, new)
        if severity is not Severity.INFO:
            reason, message = _explain(kind, field, value, row)
            out.append(Change(field, None, value, severity, reason, message))
    return out


def deletion_change(kind: Kind, last_status: str | None) -> Change:
    return Change("deleted", last_status, None, deletion_severity(kind), "Deleted", "")
