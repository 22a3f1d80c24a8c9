"""A pod's tracked status: what counts as a change, and how bad each value is.

The signature is a small tuple of exactly the fields DESIGN.md tracks for a
pod: `phase`, `ready`, `node`, `deletion_started`, `restarts` (news only
when it rises), and per container `container/<name>/waiting_reason` and
`container/<name>/last_terminated_reason`. Transitions (history, callbacks)
and health findings take their severity from the tables here, so a
CrashLoopBackOff is the same "critical" in a webhook payload, in
`recent_changes` and in the health report:

- container waiting reason: CrashLoopBackOff, CreateContainerConfigError,
  InvalidImageName, RunContainerError are critical (the container cannot run
  and will not recover without a change); ImagePullBackOff, ErrImagePull,
  CreateContainerError and reasons not listed are warnings (often transient:
  a registry hiccup, a slow volume); ContainerCreating, PodInitializing and
  none are info (start-up).
- last terminated reason: OOMKilled is critical (the workload exceeds its
  memory limit and is killed); Error and reasons not listed are warnings (a
  failed process: restarts will tell whether it persists); Completed and none
  are info.
- phase: Unknown is critical (the node stopped reporting); Failed is a
  warning (evictions included; the controller usually replaces the pod);
  Pending, Running and Succeeded are info.
- ready: False while Running and not terminating is a warning (serving
  capacity is reduced); otherwise info. Each restart count increase: warning.

Most watch events are pods, so two comparisons have fast paths
(`changes_same_containers`, `plainly_healthy`) that the generic route in
`store.transitions` must agree with (tests/kinds/test_pod_status.py).
"""

from __future__ import annotations

from typing import Any, Final

from kinds.common import Change, Severity
from kinds.pod.row import PodRow
from kinds.spec import Signature

__all__ = [
    "LAST_TERMINATED_SEVERITY",
    "POD_PHASE_SEVERITY",
    "WAITING_SEVERITY",
    "changes",
    "changes_same_containers",
    "explain",
    "fields",
    "last_terminated_severity",
    "phase_severity",
    "plainly_healthy",
    "severity",
    "signature",
    "waiting_severity",
]

INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL

WAITING_SEVERITY: Final[dict[str | None, Severity]] = {
    None: INFO,
    "ContainerCreating": INFO,
    "PodInitializing": INFO,
    "CrashLoopBackOff": CRITICAL,
    "CreateContainerConfigError": CRITICAL,
    "InvalidImageName": CRITICAL,
    "RunContainerError": CRITICAL,
    "ImagePullBackOff": WARNING,
    "ErrImagePull": WARNING,
    "CreateContainerError": WARNING,
}

LAST_TERMINATED_SEVERITY: Final[dict[str | None, Severity]] = {
    None: INFO,
    "Completed": INFO,
    "OOMKilled": CRITICAL,
    "Error": WARNING,
}

POD_PHASE_SEVERITY: Final[dict[str, Severity]] = {
    "Pending": INFO,
    "Running": INFO,
    "Succeeded": INFO,
    "Failed": WARNING,
    "Unknown": CRITICAL,
}


def waiting_severity(reason: str | None) -> Severity:
    """A container's waiting reason; reasons not in the table are warnings."""
    return WAITING_SEVERITY.get(reason, WARNING)


def last_terminated_severity(reason: str | None) -> Severity:
    """A container's last termination reason; reasons not in the table are warnings."""
    return LAST_TERMINATED_SEVERITY.get(reason, WARNING)


def phase_severity(phase: str) -> Severity:
    return POD_PHASE_SEVERITY.get(phase, WARNING)


def signature(row: PodRow) -> Signature:
    """The tracked status of one pod, as a hashable tuple."""
    return (
        row.phase,
        row.ready,
        row.node,
        row.deletion_at is not None,
        row.restarts,
        tuple([(c.name, c.waiting_reason, c.last_terminated_reason) for c in row.containers]),
    )


def fields(sig: Signature) -> dict[str, str | None]:
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


def severity(field: str, value: str | None, sig: Signature) -> Severity:
    """Severity of one field's value; depends on the signature only, never the full row."""
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


def explain(field: str, value: str | None, row: PodRow) -> tuple[str, str]:
    """The reason and message a transition carries: the pod's own words where it has them."""
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


_QUIET_PHASES = frozenset(p for p, s in POD_PHASE_SEVERITY.items() if s is Severity.INFO)


_QUIET_WAITING = frozenset(r for r, s in WAITING_SEVERITY.items() if s is Severity.INFO)


_QUIET_TERMINATED = frozenset(r for r, s in LAST_TERMINATED_SEVERITY.items() if s is Severity.INFO)


_FIELDS = ("phase", "ready", "node", "deletion_started", "restarts")


def _text(i: int, value: Any) -> str | None:
    """A pod signature's scalar `i` as `_fields` writes it."""
    if i == 1:
        return "True" if value else "False"
    if i == 3:
        return "true" if value else "false"
    if i == 4:
        return str(value)
    return value  # type: ignore[no-any-return]


def changes_same_containers(old: Signature, new: Signature, row: PodRow) -> list[Change]:
    """`changes_between` for the common pod update (a restart count, readiness).

    With the containers unchanged only the five scalars can differ. This is
    `_change` of each, in `_FIELDS` order, written out field by field:
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


def plainly_healthy(sig: Signature) -> bool:
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


def changes(old: Signature, new: Signature, row: PodRow) -> list[Change] | None:
    """The fast path when the containers kept their status; None sends the generic route."""
    if old[5] != new[5]:
        return None
    return changes_same_containers(old, new, row)
