"""The pod's row as the store keeps it, and what the writer remembers of each pod."""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import msgspec

from kinds.common import Condition
from kinds.spec import Signature

__all__ = ["ContainerRow", "PodRow", "PodState", "pod_state", "same_indexed"]


class ContainerRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One container of a pod: spec resources joined with its status."""

    name: str
    image: str = ""
    init: bool = False
    ready: bool = False
    started: bool = False
    restarts: int = 0
    state: str = "waiting"  # "waiting" | "running" | "terminated"
    waiting_reason: str | None = None  # CrashLoopBackOff, ImagePullBackOff, ...
    waiting_message: str | None = None
    terminated_reason: str | None = None  # reason of the *current* terminated state
    exit_code: int | None = None
    last_terminated_reason: str | None = None  # lastState.terminated.reason: OOMKilled, Error
    last_terminated_exit_code: int | None = None
    last_terminated_at: str | None = None  # lastState.terminated.finishedAt
    cpu_request_m: int | None = None
    cpu_limit_m: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None


class PodRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    uid: str
    namespace: str
    name: str
    resource_version: str
    created_at: str | None = None  # metadata.creationTimestamp
    labels: dict[str, str] = {}
    node: str | None = None  # spec.nodeName
    owner_kind: str | None = None  # the controller ownerReference
    owner_name: str | None = None
    deployment: str | None = None  # owning Deployment, through the ReplicaSet
    phase: str = "Pending"
    ready: bool = False
    status: str = "Pending"  # kubectl's STATUS column, e.g. CrashLoopBackOff, Terminating
    reason: str | None = None  # status.reason: Evicted, NodeLost, ...
    message: str | None = None
    unschedulable: bool = False  # PodScheduled=False with reason Unschedulable
    conditions: dict[str, Condition] = {}
    containers: tuple[ContainerRow, ...] = ()
    restarts: int = 0  # sum over app containers
    cpu_request_m: int = 0  # sums over app containers
    cpu_limit_m: int = 0
    memory_request_bytes: int = 0
    memory_limit_bytes: int = 0
    qos_class: str | None = None
    pod_ip: str | None = None
    host_ip: str | None = None
    start_time: str | None = None
    deletion_at: str | None = None  # metadata.deletionTimestamp: deletion has started
    obj: bytes = b"{}"


class PodState(NamedTuple):
    """What the writer remembers of a pod: its aggregate contribution, then identity and status.

    The first eleven fields are the aggregate contribution; `View` compares
    them to skip the (common) updates that change no sum.
    """

    namespace: str
    node: str | None
    deployment: str | None
    phase: str
    status: str
    ready: bool
    restarts: int
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_bytes: int
    memory_limit_bytes: int
    name: str
    signature: tuple[Any, ...]
    problem: int


_new_tuple = tuple.__new__
# One tuple per distinct container status, shared by every pod that has it.
_containers_seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_CONTAINERS_SEEN_MAX = 200_000


def pod_state(row: PodRow, sig: Signature, problem: int) -> PodState:
    """What the writer remembers of a pod; runs once per pod event, so it is kept lean."""
    intern = sys.intern
    containers = sig[5]
    cached = _containers_seen.get(containers)
    if cached is None:
        if len(_containers_seen) > _CONTAINERS_SEEN_MAX:
            _containers_seen.clear()
        _containers_seen[containers] = containers
    else:
        sig = (*sig[:5], cached)
    # tuple.__new__ skips the namedtuple's Python-level __new__.
    return _new_tuple(
        PodState,
        (
            intern(row.namespace),
            intern(row.node) if row.node else None,
            intern(row.deployment) if row.deployment else None,
            intern(row.phase),
            intern(row.status),
            row.ready,
            row.restarts,
            row.cpu_request_m,
            row.cpu_limit_m,
            row.memory_request_bytes,
            row.memory_limit_bytes,
            row.name,
            sig,
            problem,
        ),
    )


def same_indexed(old: PodState, new: PodState) -> bool:
    """Whether every indexed pod column keeps its value (then a narrow UPDATE will do)."""
    return (
        old.name == new.name
        and old.namespace == new.namespace
        and old.status == new.status
        and old.problem == new.problem
        and old.node == new.node
        and old.deployment == new.deployment
        and old.phase == new.phase
    )
