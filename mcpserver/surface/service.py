"""The answers behind every tool, resource and prompt, read from the store and nothing else.

No method here reaches the API server: lists and objects come from the
store's read-only connections, cluster-wide numbers from its in-memory view.
Each answer is bounded (`limit`, at most `MAX_LIMIT` items, with a cursor for
the next page) and carries `freshness`. Bad arguments raise `InvalidArgument`
and unknown objects `NotFound`, with messages meant for the client.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from pydantic import BaseModel

from kinds import STORED
from mcpserver.arguments import shown
from mcpserver.durations import parse_since
from mcpserver.errors import InvalidArgument, NotFound
from mcpserver.surface.answers import (
    ClusterHealth,
    ContainerItem,
    DeploymentDetail,
    DeploymentList,
    Freshness,
    MetricSummary,
    NodeDetail,
    NodeItem,
    NodeList,
    ObjectDetail,
    ObjectList,
    PodDetail,
    PodList,
    QueryAnswer,
    RecentChanges,
)
from mcpserver.surface.freshness import compute_freshness, iso
from mcpserver.surface.headline import HealthScope, judge_headline
from mcpserver.surface.items import (
    age,
    cause_item,
    change_item,
    conditions,
    deployment_item,
    finding_item,
    node_problems,
    object_changes,
    pod_item,
    pod_reason,
    report_item,
    rollout_in_progress,
    row_fields,
)
from mcpserver.surface.redact import redact_env_values
from store import (
    InvalidQuery,
    Kind,
    NodeRow,
    PodRow,
    QueryTimeout,
    Severity,
    Store,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)

__all__ = ["DEFAULT_LIMIT", "HEALTH_LIMIT", "MAX_LIMIT", "ClusterAnswers"]

DEFAULT_LIMIT = 50
HEALTH_LIMIT = 20  # findings carry evidence: 20 of them are a screenful, and ~15 kB
PENDING_LIMIT = 10  # pending findings shown in cluster_health (all are counted)
MORE_CAUSES = 100  # causes past the page, listed compactly so the page accounts for them
MAX_LIMIT = 200
DETAIL_PODS = 20  # pods listed inside get_deployment / get_node
DETAIL_CHANGES = 10  # recent changes inside the get_* answers
CHANGE_OBJECTS = 20  # objects summarized in recent_changes (the window's totals are exact)
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
SEVERITIES = tuple(s.value for s in Severity)
# A kind by its name, its plural or its singular resource name, any case: Pod, pods, pod.
KINDS = {
    **{k.value.lower(): k for k in Kind},
    **{spec.name: kind for kind, spec in STORED.items()},
}
_decode_obj = msgspec.json.Decoder(dict[str, Any])


def _dumped(items: Iterable[BaseModel]) -> list[dict[str, Any]]:
    """Answer parts as plain data: the generic answers publish no schema for each part."""
    return [item.model_dump(mode="json") for item in items]


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _check_name(what: str, value: str) -> str:
    if not value or not value.strip():
        raise InvalidArgument(f"{what} must not be empty")
    if len(value) > 253:
        raise InvalidArgument(f"{what} is longer than 253 characters")
    return value


def _severity(value: str | None) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        raise InvalidArgument(
            f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)}"
        ) from None


def _kind(value: str | None) -> Kind | None:
    if value is None:
        return None
    return _required_kind(value)


def _required_kind(value: str) -> Kind:
    kind = KINDS.get(value.lower()) or KINDS.get(value.lower().rstrip("s"))
    if kind is None:
        names = ", ".join(k.value for k in Kind)
        raise InvalidArgument(f"unknown kind {shown(value)}; use one of {names}")
    return kind


# Digits a numeric cursor may have: every offset or id fits, and so does SQLite's INTEGER.
_CURSOR_DIGITS = 18


def _cursor_number(cursor: str) -> int:
    """The number in a numeric cursor (ASCII digits only, not too many of them)."""
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > _CURSOR_DIGITS:
        raise InvalidArgument(
            f"invalid cursor {shown(cursor)}: pass back a next_cursor from a previous answer"
        )
    return int(cursor)


def _offset_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.startswith("o"):
        raise InvalidArgument(
            f"invalid cursor {shown(cursor)}: pass back a next_cursor from a previous answer"
        )
    return _cursor_number(cursor[1:])


class ClusterAnswers:
    """Reads the store and shapes answers; shared by tools, resources and prompts."""

    def __init__(
        self,
        store: Store,
        *,
        stale_after: float = 120.0,
        reveal_env_values: bool = False,
        watched: Collection[Kind] = tuple(Kind),
        clock: Callable[[], float] = time.time,
        query_max_rows: int = 1000,
        query_timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.reader = store.reader
        self.view = store.view
        self.stale_after = stale_after
        self.reveal_env_values = reveal_env_values
        self.watched = frozenset(watched)
        self.clock = clock
        self.query_max_rows = query_max_rows
        self.query_timeout = query_timeout

    def freshness(self, now: float | None = None, *, since: Freshness | None = None) -> Freshness:
        """How fresh the store is now; with `since` (taken before a read), an answer's freshness.

        A read can straddle a commit: rows read before a relist replaced
        them, sync state read after it cleared the error. Such an answer
        must not call those rows fresh, so an answer is stale if the store
        was stale when its read began or is when it ends.
        """
        current = compute_freshness(
            self.reader.sync_states(),
            now=self.clock() if now is None else now,
            watched=self.watched,
        )
        if since is not None and since.stale and not current.stale:
            return since
        return current

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Store failures as client-facing messages: bad input stays bad input."""
        try:
            yield
        except QueryTimeout as exc:
            raise InvalidArgument(str(exc)) from None
        except InvalidQuery as exc:
            raise InvalidArgument(str(exc)) from None
        except (StoreUnavailable, StoreClosed) as exc:
            raise InvalidArgument(f"the watch cache is unavailable right now: {exc}") from None
        except StoreError as exc:
            raise InvalidArgument(f"the watch cache could not answer: {exc}") from None

    # --- cluster health --------------------------------------------------------------------

    async def cluster_health(
        self,
        *,
        namespace: str | None = None,
        kind: str | None = None,
        node: str | None = None,
        min_severity: str | None = None,
        include_past: bool = False,
        group: bool = True,
        limit: int = HEALTH_LIMIT,
        cursor: str | None = None,
    ) -> ClusterHealth:
        _check_limit(limit)
        offset = _offset_cursor(cursor)
        floor = _severity(min_severity) or Severity.INFO
        kinds = [k] if (k := _kind(kind)) is not None else None
        if node is not None:
            _check_name("node", node)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        window = min(offset + limit + MORE_CAUSES, 1000)
        async with self._reading():
            report = await self.reader.health_report(
                limit=window,
                min_severity=floor,
                namespace=namespace,
                kinds=kinds,
                node=node,
                include_past=include_past,
                group=group,
                now=now,
            )
        page = report.items[offset : offset + limit]
        more = report.items_total > offset + len(page) and offset + len(page) < 1000
        tail = [
            *report.items[offset + limit :],
            *report.pending[PENDING_LIMIT:],
        ][:MORE_CAUSES]
        freshness = self.freshness(now, since=before)
        headline = judge_headline(
            report=report,
            freshness=freshness,
            scope=HealthScope(namespace=namespace, kinds=kinds, node=node),
            watched=self.watched,
            view=self.view,
        )
        return ClusterHealth(
            freshness=freshness,
            status=headline.status,
            headline=headline.text,
            unknown_reasons=headline.unknown_reasons,
            total_findings=report.total,
            objects_with_findings=report.objects,
            counts_by_severity=report.counts_by_severity,
            counts_by_kind=report.counts_by_kind,
            counts_by_check=report.counts_by_check,
            findings=[report_item(item, now) for item in page],
            truncated=more,
            next_cursor=f"o{offset + len(page)}" if more else None,
            more_causes=[cause_item(item) for item in tail],
            pending_total=report.pending_total,
            pending_by_check=report.pending_by_check,
            pending=[report_item(item, now) for item in report.pending[:PENDING_LIMIT]],
            past_total=report.past_total,
            past_by_check=report.past_by_check,
            past=[finding_item(f, now) for f in report.past[:limit]] if include_past else [],
            cluster=self._cluster_counts(),
        )

    def _cluster_counts(self) -> dict[str, Any]:
        view = self.view
        return {
            "pods": view.cluster.pods,
            "pods_by_phase": dict(view.cluster.phases),
            "nodes": len(view.nodes),
            "nodes_by_status": dict(view.node_statuses),
            "deployments": len(view.deployments),
            "deployments_by_status": dict(view.deployment_statuses),
        }

    # --- pods ------------------------------------------------------------------------------

    async def list_pods(
        self,
        *,
        namespace: str | None = None,
        node: str | None = None,
        phase: str | None = None,
        status: str | None = None,
        deployment: str | None = None,
        label_selector: str | None = None,
        problems_only: bool = False,
        include_past: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> PodList:
        _check_limit(limit)
        if phase is not None and phase not in PHASES:
            raise InvalidArgument(f"unknown phase {phase!r}; use one of {', '.join(PHASES)}")
        if deployment is not None and namespace is None:
            raise InvalidArgument("deployment needs namespace: deployment names are per namespace")
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            page = await self.reader.list_pods(
                namespace=namespace,
                node=node,
                phase=phase,
                status=status,
                deployment=deployment,
                selector=label_selector or None,
                problems_only=problems_only or include_past,
                include_past=include_past,
                limit=limit,
                cursor=cursor or None,
                now=now,
            )
            total = page.total
            if total is None:
                total = await self._pod_total(
                    namespace=namespace,
                    node=node,
                    phase=phase,
                    status=status,
                    deployment=deployment,
                    label_selector=label_selector,
                )
        items = [pod_item(row, now) for row in page.items]
        return PodList(
            freshness=self.freshness(now, since=before),
            total=total if total is not None else len(items),
            items=items,
            next_cursor=page.next_cursor,
        )

    async def _pod_total(
        self,
        *,
        namespace: str | None,
        node: str | None,
        phase: str | None,
        status: str | None,
        deployment: str | None,
        label_selector: str | None,
    ) -> int | None:
        """How many pods match, from the in-memory sums when the filter allows, else one COUNT."""
        view = self.view
        simple = not (status or label_selector)
        if simple and node is None and deployment is None:
            totals = view.cluster if namespace is None else view.by_namespace.get(namespace)
            if totals is None:
                return 0
            return totals.phases.get(phase, 0) if phase else totals.pods
        if (
            simple
            and phase is None
            and namespace is None
            and deployment is None
            and node is not None
        ):
            node_totals = view.by_node.get(node)
            return node_totals.pods if node_totals else 0
        if simple and phase is None and node is None and deployment is not None and namespace:
            dep_totals = view.by_deployment.get((namespace, deployment))
            return dep_totals.pods if dep_totals else 0
        if node is None and deployment is None and phase is None:
            counts = await self.reader.count(
                Kind.POD, namespace=namespace, status=status, selector=label_selector or None
            )
            return sum(c.count for c in counts)
        return None

    async def get_pod(self, namespace: str, name: str) -> PodDetail:
        _check_name("namespace", namespace)
        _check_name("name", name)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            row = await self.reader.get_pod(namespace, name)
            if row is None:
                raise NotFound(f"pod {namespace}/{name} is not in the watch cache")
            found = await self.reader.object_findings(Kind.POD, row.uid, now=now)
            changes = await self.reader.history(
                kind=Kind.POD, namespace=namespace, name=name, limit=DETAIL_CHANGES
            )
        spec: dict[str, Any] | None = None
        redacted = 0
        if row.obj and row.obj != b"{}":
            try:
                obj = _decode_obj.decode(row.obj)
            except msgspec.DecodeError:
                obj = {}
            raw_spec = obj.get("spec")
            spec = raw_spec if isinstance(raw_spec, dict) else None
            if spec is not None and not self.reveal_env_values:
                redacted = redact_env_values(spec)
        return PodDetail(
            freshness=self.freshness(now, since=before),
            pod={
                **row_fields(row, drop=("containers", "conditions")),
                "age_seconds": age(row.created_at, now),
                "reason_summary": pod_reason(row),
            },
            containers=[ContainerItem(**msgspec.to_builtins(c)) for c in row.containers],
            conditions=conditions(row.conditions),
            findings=[finding_item(f, now) for f in found.current],
            pending_findings=[finding_item(f, now) for f in found.pending],
            past_findings=[finding_item(f, now) for f in found.past],
            recent_changes=[change_item(t) for t in changes],
            spec=spec,
            redacted_values=redacted,
        )

    async def _pods_problems_first(
        self,
        *,
        namespace: str | None,
        node: str | None,
        deployment: str | None,
        limit: int,
        owner: tuple[str, str] | None = None,
    ) -> list[PodRow]:
        owner_kind, owner_name = owner or (None, None)
        problems = await self.reader.list_pods(
            namespace=namespace,
            node=node,
            deployment=deployment,
            owner_kind=owner_kind,
            owner_name=owner_name,
            problems_only=True,
            limit=limit,
            now=self.clock(),
        )
        rows = list(problems.items)
        if len(rows) < limit:
            seen = {(r.namespace, r.name) for r in rows}
            rest = await self.reader.list_pods(
                namespace=namespace,
                node=node,
                deployment=deployment,
                owner_kind=owner_kind,
                owner_name=owner_name,
                limit=limit,
            )
            rows += [r for r in rest.items if (r.namespace, r.name) not in seen][
                : limit - len(rows)
            ]
        return rows

    # --- any kind --------------------------------------------------------------------------

    async def list_objects(
        self,
        *,
        kind: str,
        namespace: str | None = None,
        status: str | None = None,
        label_selector: str | None = None,
        problems_only: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> ObjectList:
        """Objects of any stored kind, each line as its kind module renders it (`KindSpec.item`)."""
        which = _required_kind(kind)
        _check_limit(limit)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        item = STORED[which].item
        assert item is not None  # every stored kind has one (tests/kinds/test_registry.py)
        async with self._reading():
            page = await self.reader.list_objects(
                which,
                namespace=namespace,
                status=status,
                selector=label_selector or None,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor or None,
                now=now,
            )
            if page.total is not None:
                total = page.total
            elif not (status or label_selector):
                total = (
                    self.view.namespaces[which].get(namespace, 0)
                    if namespace
                    else self.view.counts[which]
                )
            else:
                counts = await self.reader.count(
                    which, namespace=namespace, status=status, selector=label_selector or None
                )
                total = sum(c.count for c in counts)
        return ObjectList(
            freshness=self.freshness(now, since=before),
            kind=which.value,
            total=total,
            items=[item(r, now) for r in page.items],
            next_cursor=page.next_cursor,
        )

    async def get_object(self, kind: str, namespace: str, name: str) -> ObjectDetail:
        """One object of any stored kind: its columns, conditions, findings, changes, its pods."""
        which = _required_kind(kind)
        namespaced = STORED[which].resource.namespaced
        if namespaced:
            _check_name("namespace", namespace)
        _check_name("name", name)
        namespace = namespace if namespaced else ""
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            row = await self.reader.get(which, namespace, name)
            if row is None:
                shown_name = f"{namespace}/{name}" if namespaced else name
                raise NotFound(f"{which.value} {shown_name} is not in the watch cache")
            found = await self.reader.object_findings(which, row.uid, now=now)
            changes = await self.reader.history(
                kind=which, namespace=namespace, name=name, limit=DETAIL_CHANGES
            )
            pods = await self._pods_problems_first(
                namespace=namespace or None,
                node=None,
                deployment=None,
                owner=(which.value, name),
                limit=DETAIL_PODS,
            )
            pods_total = len(pods)
            if pods_total == DETAIL_PODS:
                counts = await self.reader.count(
                    Kind.POD, group_by=("owner_kind", "owner_name"), namespace=namespace or None
                )
                pods_total = sum(
                    c.count
                    for c in counts
                    if c.key == {"owner_kind": which.value, "owner_name": name}
                )
        return ObjectDetail(
            freshness=self.freshness(now, since=before),
            kind=which.value,
            object={
                **row_fields(row, drop=("conditions",)),
                "age_seconds": age(getattr(row, "created_at", None), now),
            },
            conditions=_dumped(conditions(getattr(row, "conditions", {}))),
            findings=_dumped(finding_item(f, now) for f in found.current),
            pending_findings=_dumped(finding_item(f, now) for f in found.pending),
            pods_total=pods_total,
            pods=_dumped(pod_item(p, now) for p in pods),
            recent_changes=_dumped(change_item(t) for t in changes),
        )

    # --- deployments -----------------------------------------------------------------------

    async def list_deployments(
        self,
        *,
        namespace: str | None = None,
        status: str | None = None,
        label_selector: str | None = None,
        problems_only: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> DeploymentList:
        _check_limit(limit)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            page = await self.reader.list_deployments(
                namespace=namespace,
                status=status,
                selector=label_selector or None,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor or None,
                now=now,
            )
            if page.total is not None:
                total = page.total
            elif not (namespace or status or label_selector):
                total = len(self.view.deployments)
            else:
                counts = await self.reader.count(
                    Kind.DEPLOYMENT,
                    namespace=namespace,
                    status=status,
                    selector=label_selector or None,
                )
                total = sum(c.count for c in counts)
        return DeploymentList(
            freshness=self.freshness(now, since=before),
            total=total,
            items=[deployment_item(r, now) for r in page.items],
            next_cursor=page.next_cursor,
        )

    async def get_deployment(self, namespace: str, name: str) -> DeploymentDetail:
        _check_name("namespace", namespace)
        _check_name("name", name)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            row = await self.reader.get_deployment(namespace, name)
            if row is None:
                raise NotFound(f"deployment {namespace}/{name} is not in the watch cache")
            pods = await self._pods_problems_first(
                namespace=namespace, node=None, deployment=name, limit=DETAIL_PODS
            )
            found = await self.reader.object_findings(Kind.DEPLOYMENT, row.uid, now=now)
            changes = await self.reader.history(
                kind=Kind.DEPLOYMENT, namespace=namespace, name=name, limit=DETAIL_CHANGES
            )
        totals = self.view.by_deployment.get((namespace, name))
        return DeploymentDetail(
            freshness=self.freshness(now, since=before),
            deployment={
                **row_fields(row, drop=("conditions",)),
                "rollout_in_progress": rollout_in_progress(row),
                "age_seconds": age(row.created_at, now),
            },
            conditions=conditions(row.conditions),
            findings=[finding_item(f, now) for f in found.current],
            pending_findings=[finding_item(f, now) for f in found.pending],
            pods_total=totals.pods if totals else len(pods),
            pods=[pod_item(p, now) for p in pods],
            recent_changes=[change_item(t) for t in changes],
        )

    # --- nodes -----------------------------------------------------------------------------

    def _node_item(self, row: NodeRow) -> NodeItem:
        totals = self.view.by_node.get(row.name)
        return NodeItem(
            name=row.name,
            status=row.status,
            ready=row.ready,
            unschedulable=row.unschedulable,
            roles=list(row.roles),
            pods=totals.pods if totals else 0,
            cpu_requested_m=totals.cpu_request_m if totals else 0,
            cpu_allocatable_m=row.cpu_allocatable_m,
            memory_requested_bytes=totals.memory_request_bytes if totals else 0,
            memory_allocatable_bytes=row.memory_allocatable_bytes,
            problems=node_problems(row),
        )

    async def list_nodes(
        self,
        *,
        status: str | None = None,
        label_selector: str | None = None,
        problems_only: bool = False,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> NodeList:
        _check_limit(limit)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            page = await self.reader.list_nodes(
                status=status,
                selector=label_selector or None,
                problems_only=problems_only,
                limit=limit,
                cursor=cursor or None,
                now=now,
            )
            if page.total is not None:
                total = page.total
            elif not (status or label_selector):
                total = len(self.view.nodes)
            else:
                counts = await self.reader.count(
                    Kind.NODE, status=status, selector=label_selector or None
                )
                total = sum(c.count for c in counts)
        return NodeList(
            freshness=self.freshness(now, since=before),
            total=total,
            items=[self._node_item(r) for r in page.items],
            next_cursor=page.next_cursor,
        )

    async def get_node(self, name: str) -> NodeDetail:
        _check_name("name", name)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            row = await self.reader.get_node(name)
            if row is None:
                raise NotFound(f"node {name} is not in the watch cache")
            pods = await self._pods_problems_first(
                namespace=None, node=name, deployment=None, limit=DETAIL_PODS
            )
            found = await self.reader.object_findings(Kind.NODE, row.uid, now=now)
            changes = await self.reader.history(
                kind=Kind.NODE, namespace="", name=name, limit=DETAIL_CHANGES
            )
        totals = self.view.by_node.get(name)
        requested = {
            "cpu_m": totals.cpu_request_m if totals else 0,
            "memory_bytes": totals.memory_request_bytes if totals else 0,
            "cpu_limit_m": totals.cpu_limit_m if totals else 0,
            "memory_limit_bytes": totals.memory_limit_bytes if totals else 0,
            "pods": totals.pods if totals else 0,
        }
        allocatable = {
            "cpu_m": row.cpu_allocatable_m,
            "memory_bytes": row.memory_allocatable_bytes,
            "pods": row.pods_allocatable,
        }
        pct_of_allocatable = {
            key: round(100 * requested[key] / allocatable[key], 1) if allocatable[key] > 0 else None
            for key in ("cpu_m", "memory_bytes", "pods")
        }
        return NodeDetail(
            freshness=self.freshness(now, since=before),
            node=row_fields(row, drop=("conditions", "taints")),
            conditions=conditions(row.conditions),
            taints=[msgspec.to_builtins(t) for t in row.taints],
            capacity={
                "cpu_m": row.cpu_capacity_m,
                "memory_bytes": row.memory_capacity_bytes,
                "pods": row.pods_capacity,
            },
            allocatable=allocatable,
            requested=requested,
            cpu_requested_pct_of_allocatable=pct_of_allocatable["cpu_m"],
            memory_requested_pct_of_allocatable=pct_of_allocatable["memory_bytes"],
            pods_pct_of_allocatable=pct_of_allocatable["pods"],
            findings=[finding_item(f, now) for f in found.current],
            pending_findings=[finding_item(f, now) for f in found.pending],
            pods_total=totals.pods if totals else len(pods),
            pods=[pod_item(p, now) for p in pods],
            recent_changes=[change_item(t) for t in changes],
        )

    # --- history ---------------------------------------------------------------------------

    async def recent_changes(
        self,
        *,
        since: str = "1h",
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        min_severity: str | None = None,
        field: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> RecentChanges:
        _check_limit(limit)
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        start = parse_since(since, now=now)
        if start > now:
            raise InvalidArgument(f"since {shown(since)} is in the future")
        before_id = None
        if cursor:
            before_id = _cursor_number(cursor)
        filters: dict[str, Any] = {
            "since": start,
            "kind": _kind(kind),
            "namespace": namespace,
            "name": name,
            "field": field,
            "min_severity": _severity(min_severity),
        }
        async with self._reading():
            changes = await self.reader.history(**filters, before_id=before_id, limit=limit + 1)
            summary = await self.reader.history_summary(**filters, objects=CHANGE_OBJECTS)
        page = changes[:limit]
        next_cursor = str(page[-1].id) if len(changes) > limit and page[-1].id else None
        return RecentChanges(
            freshness=self.freshness(now, since=before),
            since=iso(start) or "",
            total=summary.total,
            objects=summary.objects,
            by_kind=summary.by_kind,
            by_severity=summary.by_severity,
            by_field=summary.by_field,
            by_object=[object_changes(o) for o in summary.by_object],
            items=[change_item(t) for t in page],
            next_cursor=next_cursor,
        )

    # --- summaries -------------------------------------------------------------------------

    async def metric_summary(
        self,
        *,
        by: str = "namespace",
        sort: str | None = None,
        top: int = 10,
        namespace: str | None = None,
    ) -> MetricSummary:
        if not 1 <= top <= MAX_LIMIT:
            raise InvalidArgument(f"top must be between 1 and {MAX_LIMIT}, got {top}")
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            groups: Sequence[Any]
            if by == "namespace":
                sort = sort or "pods"
                groups = await self.store.namespace_summaries(
                    namespace=namespace, sort_by=sort, limit=top, now=now
                )
                total = len(self.view.by_namespace)
            elif by == "node":
                if namespace is not None:
                    raise InvalidArgument(
                        "namespace does not apply to by=node (nodes are cluster-wide)"
                    )
                sort = sort or "cpu_requested_pct"
                groups = await self.store.node_summaries(sort_by=sort, limit=top, now=now)
                total = len(self.view.nodes)
            elif by == "deployment":
                sort = sort or "unavailable"
                groups = await self.store.deployment_summaries(
                    namespace=namespace, sort_by=sort, limit=top, now=now
                )
                total = len(self.view.deployments)
            else:
                raise InvalidArgument(f"unknown grouping {by!r}; use namespace, node or deployment")
        return MetricSummary(
            freshness=self.freshness(now, since=before),
            by=by,
            sort=sort,
            groups_total=total,
            cluster=self.view.cluster.as_dict(),
            groups=[msgspec.to_builtins(g) for g in groups],
        )

    # --- guarded SQL -----------------------------------------------------------------------

    async def query(
        self,
        sql: str,
        *,
        max_rows: int = DEFAULT_LIMIT,
        timeout_s: float = 2.0,
        client: str | None = None,
        arrived: float | None = None,
    ) -> QueryAnswer:
        """Guarded SQL for `client`; `timeout_s` counts from `arrived` (`anyio.current_time()`)."""
        if not 1 <= max_rows <= self.query_max_rows:
            raise InvalidArgument(
                f"max_rows must be between 1 and {self.query_max_rows}, got {max_rows}"
            )
        if not 0 < timeout_s <= self.query_timeout:
            raise InvalidArgument(
                f"timeout_s must be in (0, {self.query_timeout:g}], got {timeout_s}"
            )
        now = self.clock()
        before = self.freshness(now)  # an answer read while stale stays stale
        async with self._reading():
            result = await self.reader.query(
                sql, max_rows=max_rows, timeout_s=timeout_s, caller=client, arrived=arrived
            )
        return QueryAnswer(
            freshness=self.freshness(now, since=before),
            columns=result.columns,
            rows=result.rows,
            row_count=len(result.rows),
            truncated=result.truncated,
            elapsed_ms=round(result.elapsed_ms, 2),
        )
