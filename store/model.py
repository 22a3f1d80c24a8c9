"""The contracts between the watcher, the store and everything that reads it.

The watcher turns Kubernetes objects into *rows* (one struct per kind) and
hands them to the store as *deltas*; the store compares each new row with the
one it holds, records *transitions* in its history in the same transaction,
and hands them to whoever listens. These types are that vocabulary. They live
in `store` because the store is the bottom layer: the watcher and the MCP
server both import it, it imports neither.

Rows are flat on purpose: every field here is something a query filters on, a
health analyzer reads, or a Prometheus gauge exposes. Everything else about an
object stays in `obj`, the trimmed object (no `managedFields`) as compact JSON
bytes, enough for a "describe".

The rows themselves are each kind's (`kinds.<kind>`); this module names
them for the store's callers.

Units are canonical integers so that sums and comparisons are exact: CPU in
millicores (rounded up, as the API server does), memory in bytes.

Rows, deltas and transitions are `gc=False`: frozen, made of strings,
numbers and dicts of those, they can never close a reference cycle, and
thousands of them wait in the writer's queue at any time. Tracked, they made
the cyclic collector run every few dozen watch events and walk all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, TypeAlias

import msgspec

from kinds.common import Condition, Severity, Taint
from kinds.deployment import DeploymentRow
from kinds.names import Kind
from kinds.node import NodeRow
from kinds.pod import ContainerRow, PodRow
from kinds.registry import STORED
from kinds.spec import Row

__all__ = [
    "ROW_TYPES",
    "ClusterIdentity",
    "Condition",
    "ContainerRow",
    "Delta",
    "DeltaSink",
    "DeploymentRow",
    "EventType",
    "Kind",
    "NodeRow",
    "PodRow",
    "Row",
    "Severity",
    "SyncState",
    "Taint",
    "Transition",
]

EventType: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED"]


# Row types by kind, to check what a caller hands the store.
ROW_TYPES: dict[Kind, type] = {
    kind: spec.row_type for kind, spec in STORED.items() if spec.row_type is not None
}


class Delta(msgspec.Struct, frozen=True, gc=False):
    """One watch event, normalized: the store's unit of input."""

    kind: Kind
    type: EventType
    row: Row


class Transition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One status change of one object, as recorded in history.

    `field` names what changed (for example `phase`, `ready`,
    `container/web/waiting_reason`, `condition/Ready`, `deleted`); `old` and
    `new` are its values as text (None when absent). `id` is the history row
    id, assigned by the store when it records the transition.
    """

    at: float  # unix seconds, when the store saw the change
    kind: Kind
    namespace: str  # "" for cluster-scoped objects
    name: str
    uid: str
    field: str
    old: str | None
    new: str | None
    severity: Severity
    reason: str = ""
    message: str = ""
    id: int | None = None


class SyncState(msgspec.Struct, frozen=True, kw_only=True):
    """Where one kind's informer stands; `/ready` and every answer's freshness use it.

    Freshness belongs to the running process: `synced` means *this* process
    listed the kind (or received the initial events of a streaming list). A
    kind whose rows were restored from the state file starts unsynced, with
    `restored_at` the time the file last confirmed them, and stays so until
    the first list completes. `confirmed_at` is the last proof that the
    kind's watch is alive (an event, a bookmark, a list, a watch start);
    `error_since` is when the current `error` began (None without one).
    """

    kind: Kind
    resource_version: str | None = None
    synced: bool = False
    last_list_at: float | None = None
    last_event_at: float | None = None
    objects: int = 0
    error: str | None = None
    confirmed_at: float | None = None
    restored_at: float | None = None
    error_since: float | None = None


class ClusterIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Which cluster a state file caches, as read from its API server.

    `uid` is the `kube-system` namespace's uid, what many tools use as a
    cluster ID: it survives API server restarts, address changes and
    certificate rotation, and differs between clusters. A Role-limited
    install that cannot read that namespace has only `server`, the API
    server's URL: weaker (two clusters behind one address look alike, one
    cluster moved to a new address looks new), so it decides only when one
    side lacks a uid.
    """

    server: str
    uid: str | None = None

    @property
    def source(self) -> str:
        return "kube-system namespace uid" if self.uid else "API server URL"

    def describe(self) -> str:
        """For log lines: which cluster, and what the identity rests on."""
        if self.uid:
            return f"cluster {self.uid} (kube-system namespace uid, API server {self.server})"
        return f"cluster at {self.server} (API server URL; kube-system namespace not readable)"

    def same_cluster(self, other: ClusterIdentity) -> bool:
        if self.uid and other.uid:
            return self.uid == other.uid
        return self.server == other.server


class DeltaSink(Protocol):
    """What an informer writes into. The store's writer implements it.

    `put` may wait (backpressure) but never for a commit: batching is the
    writer's business. `replace` is a relist: the rows are the complete set of
    one kind, objects the store holds but the list lacks are deleted (and emit
    transitions). `sync` records informer progress in order with the deltas.

    A relist can also be *streamed*, so that a 150k-object list is never held
    whole: `replace_begin(kind)`, then `put` an ADDED delta for every listed
    row (page by page, as they arrive), then `replace_end(kind,
    resource_version)`, at which objects of that kind not put since the begin
    are deleted (with their `deleted` transitions) and the kind is marked
    synced. Readers during a streamed relist may see a mix of old and new rows
    (each row is consistent; the set is complete only after the end). A second
    `replace_begin` before the end (a list restarted after a 410) starts the
    count of seen objects over.
    """

    async def put(self, delta: Delta) -> None: ...

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        """As `put` of each, in order, in one hand-over: an informer passes what one
        network read (or one list page) brought, instead of awaiting per event."""

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None: ...

    async def replace_begin(self, kind: Kind) -> None: ...

    async def replace_end(self, kind: Kind, resource_version: str) -> None: ...

    async def sync(
        self,
        kind: Kind,
        *,
        resource_version: str | None = None,
        synced: bool | None = None,
        listed: bool = False,
        error: str | None = None,
    ) -> None: ...
