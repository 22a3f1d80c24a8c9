"""Server-side printing: `Table` objects with kubectl's columns.

kubectl asks for `as=Table;g=meta.k8s.io` and prints whatever columns the
server returns; the Go MCP server prints nothing without them. The columns
and cell formats below follow the upstream printers (pods: READY is
ready/total, STATUS is the container-derived reason, RESTARTS carries the
"(5m ago)" suffix), so kubectl output looks like a real cluster's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceInfo
from .selectors import label_selector_string

__all__ = ["human_duration", "table_for", "table_rows"]

Column = tuple[str, str, str, int, str]  # name, type, format, priority, description
_NAME: Column = ("Name", "string", "name", 0, "Name must be unique within a namespace.")
_AGE: Column = ("Age", "string", "", 0, "CreationTimestamp of the object.")


def human_duration(seconds: float) -> str:
    """kubectl's age format: 45s, 3m12s, 5h, 2d3h, 400d..."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _age(value: Any, now: datetime) -> str:
    moment = _parse_time(value)
    return "<unknown>" if moment is None else human_duration((now - moment).total_seconds())


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _pod_status(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init_statuses = status.get("initContainerStatuses") or []
    init_total = len(_get(pod, "spec", "initContainers") or [])
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (
                term.get("reason")
                or (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode')}"
                )
            )
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{init_total}"
        return reason
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        wait, term = state.get("waiting"), state.get("terminated")
        if wait and wait.get("reason"):
            reason = wait["reason"]
        elif term and term.get("reason"):
            reason = term["reason"]
        elif term:
            reason = (
                f"Signal:{term['signal']}"
                if term.get("signal")
                else f"ExitCode:{term.get('exitCode')}"
            )
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
    if reason == "Completed" and has_running:
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        reason = "Running" if ready else "NotReady"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_row(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(_get(pod, "spec", "containers") or []) or len(statuses)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount") or 0) for cs in statuses)
    last: datetime | None = None
    for cs in statuses:
        finished = _parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        if finished and (last is None or finished > last):
            last = finished
    restart_cell = str(restarts)
    if restarts and last is not None:
        restart_cell += f" ({human_duration((now - last).total_seconds())} ago)"
    gates = _get(pod, "spec", "readinessGates") or []
    return [
        _meta(pod).get("name", ""),
        f"{ready}/{total}",
        _pod_status(pod),
        restart_cell,
        _age(_meta(pod).get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        _get(pod, "spec", "nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"0/{len(gates)}" if gates else "<none>",
    ]


def _containers(obj: Mapping[str, Any]) -> tuple[str, str]:
    containers = _get(obj, "spec", "template", "spec", "containers") or []
    return (
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
    )


def _deployment_row(dep: Mapping[str, Any], now: datetime) -> list[Any]:
    status = dep.get("status") or {}
    desired = _get(dep, "spec", "replicas")
    names, images = _containers(dep)
    return [
        _meta(dep).get("name", ""),
        f"{status.get('readyReplicas', 0)}/{1 if desired is None else desired}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        _age(_meta(dep).get("creationTimestamp"), now),
        names,
        images,
        label_selector_string(_get(dep, "spec", "selector")),
    ]


def _statefulset_row(sts: Mapping[str, Any], now: datetime) -> list[Any]:
    desired = _get(sts, "spec", "replicas")
    names, images = _containers(sts)
    return [
        _meta(sts).get("name", ""),
        f"{(sts.get('status') or {}).get('readyReplicas', 0)}/{1 if desired is None else desired}",
        _age(_meta(sts).get("creationTimestamp"), now),
        names,
        images,
    ]


def _replicaset_row(rs: Mapping[str, Any], now: datetime) -> list[Any]:
    status = rs.get("status") or {}
    names, images = _containers(rs)
    desired = _get(rs, "spec", "replicas")
    return [
        _meta(rs).get("name", ""),
        1 if desired is None else int(desired),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        _age(_meta(rs).get("creationTimestamp"), now),
        names,
        images,
        label_selector_string(_get(rs, "spec", "selector")),
    ]


def _node_row(node: Mapping[str, Any], now: datetime) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None:
        state = "Unknown"
    else:
        state = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if _get(node, "spec", "unschedulable"):
        state += ",SchedulingDisabled"
    labels = _meta(node).get("labels") or {}
    roles = sorted(
        {
            k.split("/", 1)[1]
            for k in labels
            if k.startswith("node-role.kubernetes.io/") and "/" in k
        }
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        _meta(node).get("name", ""),
        state,
        ",".join(r for r in roles if r) or "<none>",
        _age(_meta(node).get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace_row(ns: Mapping[str, Any], now: datetime) -> list[Any]:
    return [
        _meta(ns).get("name", ""),
        _get(ns, "status", "phase") or "",
        _age(_meta(ns).get("creationTimestamp"), now),
    ]


def _event_row(ev: Mapping[str, Any], now: datetime) -> list[Any]:
    last = ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    involved = ev.get("involvedObject") or {}
    return [
        _age(last, now),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        str(ev.get("message", "")).strip(),
    ]


def _lease_row(lease: Mapping[str, Any], now: datetime) -> list[Any]:
    return [
        _meta(lease).get("name", ""),
        _get(lease, "spec", "holderIdentity") or "<none>",
        _age(_meta(lease).get("creationTimestamp"), now),
    ]


def _generic_row(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_meta(obj).get("name", ""), _age(_meta(obj).get("creationTimestamp"), now)]


def _col(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> Column:
    return (name, kind, fmt, priority, name)


_PRINTERS: dict[str, tuple[list[Column], Callable[[Mapping[str, Any], datetime], list[Any]]]] = {
    "Pod": (
        [
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts"),
            _AGE,
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "Deployment": (
        [
            _NAME,
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _deployment_row,
    ),
    "StatefulSet": (
        [
            _NAME,
            _col("Ready"),
            _AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
        ],
        _statefulset_row,
    ),
    "ReplicaSet": (
        [
            _NAME,
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            _AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ],
        _replicaset_row,
    ),
    "Node": (
        [
            _NAME,
            _col("Status"),
            _col("Roles"),
            _AGE,
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        _node_row,
    ),
    "Namespace": ([_NAME, _col("Status"), _AGE], _namespace_row),
    "Event": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Message"),
        ],
        _event_row,
    ),
    "Lease": ([_NAME, _col("Holder"), _AGE], _lease_row),
}


def _row_object(obj: Mapping[str, Any], include: str, table_version: str) -> Any:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{table_version}",
        "metadata": dict(_meta(obj)),
    }


def table_rows(
    info: ResourceInfo,
    objs: list[Mapping[str, Any]],
    *,
    include_object: str = "Metadata",
    table_version: str = "v1",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The `rows` of a Table for these objects."""
    _, printer = _PRINTERS.get(info.kind, ([], _generic_row))
    moment = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for obj in objs:
        row: dict[str, Any] = {"cells": printer(obj, moment)}
        embedded = _row_object(obj, include_object, table_version)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return rows


def table_for(
    info: ResourceInfo,
    objs: list[Mapping[str, Any]],
    *,
    resource_version: str,
    continue_token: str | None = None,
    remaining: int | None = None,
    include_object: str = "Metadata",
    table_version: str = "v1",
    headers: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A complete `meta.k8s.io` Table; `headers=False` omits the column definitions."""
    columns, _ = _PRINTERS.get(info.kind, ([_NAME, _AGE], _generic_row))
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{table_version}",
        "metadata": meta,
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": d, "priority": p}
            for n, t, f, p, d in columns
        ]
        if headers
        else None,
        "rows": table_rows(
            info, objs, include_object=include_object, table_version=table_version, now=now
        ),
    }
    return table
