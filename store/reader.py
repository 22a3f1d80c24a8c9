"""Read access: lists, single objects, history, counts, health, and guarded SQL.

Readers use their own read-only connections (`mode=ro`, `query_only`), a
small pool separate from the writer's, so a slow query never holds up a
commit and no read can write. SQL work happens in the connections' threads;
cluster-wide answers (health report, summaries) come from the writer's
in-memory `View` and touch SQL only for history.

Lists are ordered by (namespace, name) and paginated with an opaque cursor
(the last key of the page), which stays correct while objects come and go —
unlike offsets. Problems-only lists are the exception: their set is the
objects with a current finding (`store.findings`, the same set the health
report counts), ranked worst and longest broken first, and paged by position.
Lists leave `obj` out (b"") unless `include_obj=True`; `get` always includes it.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import anyio
import msgspec

from kinds.registry import STORED
from store.columns import TABLES
from store.errors import InvalidQuery, StoreClosed, StoreError, StoreUnavailable
from store.findings import FindingSet, classify, rank_key
from store.guarded import GuardedPool, check_sql
from store.health import Finding, HealthReport, build_report, pod_restarts_rising
from store.model import DeploymentRow, Kind, NodeRow, PodRow, Row, Severity, SyncState, Transition
from store.selector import parse_selector
from store.settings import StoreSettings
from store.storage import connect_reader, translate
from store.view import View

__all__ = ["GroupCount", "HistorySummary", "ObjectHistory", "Page", "QueryResult", "Reader"]

R = TypeVar("R", PodRow, DeploymentRow, NodeRow)

MAX_LIMIT = 1000


class Page(msgspec.Struct, Generic[R], kw_only=True):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (None: the end).

    `total` is every match (all pages) where the list knows it without another
    query (problems-only lists), else None.
    """

    items: list[R]
    next_cursor: str | None = None
    total: int | None = None


class ObjectHistory(msgspec.Struct, kw_only=True):
    """One object's changes in a window: how many, when, which fields, and the latest."""

    kind: Kind
    namespace: str
    name: str
    changes: int
    first_at: float
    last_at: float
    worst_severity: Severity
    fields: list[str]
    latest: Transition


class HistorySummary(msgspec.Struct, kw_only=True):
    """A window of history at a glance: exact totals, and the objects that changed most."""

    total: int
    objects: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    by_field: dict[str, int]
    by_object: list[ObjectHistory]


class GroupCount(msgspec.Struct, kw_only=True):
    key: dict[str, Any]
    count: int


class QueryResult(msgspec.Struct, kw_only=True):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


_GROUPABLE: dict[Kind, frozenset[str]] = {kind: spec.filters for kind, spec in STORED.items()}

_SEVERITY_AT_LEAST = {s: [x.value for x in Severity if x.rank >= s.rank] for s in Severity}

_TRANSITION_COLUMNS = (
    "id, at, kind, namespace, name, uid, field, old, new, severity, reason, message"
)


def _encode_cursor(kind: Kind, namespace: str, name: str) -> str:
    raw = msgspec.json.encode([kind.value, namespace, name])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: Kind, cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        k, namespace, name = msgspec.json.decode(raw, type=tuple[str, str, str])
    except (ValueError, msgspec.DecodeError) as e:
        shown = repr(cursor) if len(cursor) <= 60 else f"{cursor[:60]!r}..."
        raise InvalidQuery(
            f"invalid cursor {shown}: pass back a next_cursor from a previous page"
        ) from e
    if k != kind.value:
        raise InvalidQuery(f"cursor belongs to a {k} list, not {kind.value}")
    return namespace, name


def _encode_rank_cursor(kind: Kind, offset: int) -> str:
    raw = msgspec.json.encode([kind.value, "problems", offset])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_rank_cursor(kind: Kind, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        k, what, offset = msgspec.json.decode(raw, type=tuple[str, str, int])
    except (ValueError, msgspec.DecodeError) as e:
        raise InvalidQuery(
            f"invalid cursor {cursor!r}: pass back a next_cursor from a previous page"
        ) from e
    if k != kind.value or what != "problems" or offset < 0:
        raise InvalidQuery(f"cursor {cursor!r} does not belong to a {kind.value} problems list")
    return offset


# Membership in a JSON array of uids: one parameter, however many problems there are.
_UID_IN = "uid IN (SELECT value FROM json_each(?))"


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _add_equals(where: list[str], params: list[Any], **columns: object) -> None:
    """`column = ?` for each filter given; None means "no filter on that column"."""
    for column, value in columns.items():
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)


def _history_where(
    *,
    since: float | None,
    until: float | None,
    kind: Kind | None,
    namespace: str | None,
    name: str | None,
    uid: str | None,
    field: str | None,
    min_severity: Severity | str | None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("kind", Kind(kind).value if kind is not None else None),
        ("namespace", namespace),
        ("name", name),
        ("uid", uid),
        ("field", field),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if until is not None:
        where.append("at < ?")
        params.append(until)
    if min_severity is not None:
        try:
            sev = Severity(min_severity)
        except ValueError as e:
            raise InvalidQuery(
                f"unknown severity {min_severity!r} (info, warning, critical)"
            ) from e
        if sev is not Severity.INFO:
            allowed = _SEVERITY_AT_LEAST[sev]
            where.append(f"severity IN ({','.join('?' * len(allowed))})")
            params += allowed
    return where, params


def _transition(r: Sequence[Any]) -> Transition:
    """A transitions row, selected as `_TRANSITION_COLUMNS`."""
    return Transition(
        id=r[0],
        at=r[1],
        kind=Kind(r[2]),
        namespace=r[3],
        name=r[4],
        uid=r[5],
        field=r[6],
        old=r[7],
        new=r[8],
        severity=Severity(r[9]),
        reason=r[10],
        message=r[11],
    )


def _field_family(field: str) -> str:
    """`container/web/waiting_reason` -> `container/*/waiting_reason`: counts per kind of field."""
    if field.startswith("container/"):
        return "container/*/" + field.rsplit("/", 1)[-1]
    return field


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    return limit


class Reader:
    """Everything the MCP server and the metrics read. Obtain it from `open_store`."""

    def __init__(
        self,
        *,
        path: Path,
        settings: StoreSettings,
        view: View,
        health: Callable[[], tuple[bool, str | None]],
    ) -> None:
        self.path = path
        self.settings = settings
        self.view = view
        self._health = health
        self._idle: list[aiosqlite.Connection] = []
        self._all: list[aiosqlite.Connection] = []
        self._slots = anyio.Semaphore(max(1, settings.read_connections))
        self._guarded = GuardedPool(path=path, settings=settings.query)
        self._closed = False
        self._generation = 0

    # --- connections -------------------------------------------------------------------------

    def invalidate(self) -> None:
        """The file was replaced (reset after corruption): reconnect on next use."""
        self._generation += 1
        self._guarded.generation += 1

    async def aclose(self) -> None:
        self._closed = True
        conns, self._all, self._idle = self._all, [], []
        self._guarded.close()
        for c in conns:
            with contextlib.suppress(Exception):
                await c.close()

    def _check_usable(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        self._check_usable()
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                candidate = self._idle.pop()
                if getattr(candidate, "_kwc_generation", None) == self._generation:
                    conn = candidate
                else:
                    self._all.remove(candidate)
                    await candidate.close()
            if conn is None:
                conn = await self._open_reader()
            try:
                yield conn
            except (sqlite3.Error, OSError) as e:
                raise translate(e, self.path) from e
            finally:
                self._idle.append(conn)

    async def _open_reader(self) -> aiosqlite.Connection:
        _healthy, error = self._health()
        try:
            conn = await connect_reader(self.path)
        except StoreError as e:
            raise StoreUnavailable(error or str(e)) from e
        conn._kwc_generation = self._generation  # type: ignore[attr-defined]
        self._all.append(conn)
        return conn

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._connection() as conn:
            return list(await conn.execute_fetchall(sql, params))

    # --- lists -------------------------------------------------------------------------------

    async def list_pods(
        self,
        *,
        namespace: str | None = None,
        node: str | None = None,
        phase: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        selector: str | None = None,
        deployment: str | None = None,
        owner_kind: str | None = None,
        owner_name: str | None = None,
        problems_only: bool = False,
        include_past: bool = False,
        limit: int = 100,
        cursor: str | None = None,
        include_obj: bool = False,
        now: float | None = None,
    ) -> Page[PodRow]:
        """Pods ordered by (namespace, name). `deployment` is the owning Deployment's name.

        `problems_only`: pods with a current finding (`store.findings`), worst
        and longest broken first; `include_past` adds pods with past ones.
        """
        where, params = self._filters(namespace=namespace, selector=selector, status=status)
        _add_equals(
            where,
            params,
            node=node,
            deployment=deployment,
            owner_kind=owner_kind,
            owner_name=owner_name,
        )
        if (phases := _as_list(phase)) is not None:
            where.append(f"phase IN ({','.join('?' * len(phases))})")
            params += phases
        if problems_only:
            return await self._list_problems(
                Kind.POD, where, params, limit, cursor, include_obj, now, include_past
            )
        return await self._list(Kind.POD, where, params, namespace, limit, cursor, include_obj)

    async def list_deployments(
        self,
        *,
        namespace: str | None = None,
        status: str | Sequence[str] | None = None,
        selector: str | None = None,
        problems_only: bool = False,
        limit: int = 100,
        cursor: str | None = None,
        include_obj: bool = False,
        now: float | None = None,
    ) -> Page[DeploymentRow]:
        """Deployments by (namespace, name); `list_objects` of the kind, typed."""
        return await self.list_objects(
            Kind.DEPLOYMENT,
            namespace=namespace,
            status=status,
            selector=selector,
            problems_only=problems_only,
            limit=limit,
            cursor=cursor,
            include_obj=include_obj,
            now=now,
        )

    async def list_nodes(
        self,
        *,
        status: str | Sequence[str] | None = None,
        ready: str | None = None,
        unschedulable: bool | None = None,
        selector: str | None = None,
        problems_only: bool = False,
        limit: int = 100,
        cursor: str | None = None,
        include_obj: bool = False,
        now: float | None = None,
    ) -> Page[NodeRow]:
        """Nodes by name; `ready` is the Ready condition ("True", "False", "Unknown")."""
        where, params = self._filters(namespace=None, selector=selector, status=status)
        _add_equals(
            where,
            params,
            ready=ready,
            unschedulable=None if unschedulable is None else int(unschedulable),
        )
        if problems_only:
            return await self._list_problems(
                Kind.NODE, where, params, limit, cursor, include_obj, now, False
            )
        return await self._list(Kind.NODE, where, params, None, limit, cursor, include_obj)

    async def list_objects(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        status: str | Sequence[str] | None = None,
        selector: str | None = None,
        problems_only: bool = False,
        limit: int = 100,
        cursor: str | None = None,
        include_obj: bool = False,
        now: float | None = None,
    ) -> Page[Any]:
        """Objects of any stored kind by (namespace, name); `problems_only` as in `list_pods`."""
        where, params = self._filters(namespace=namespace, selector=selector, status=status)
        if problems_only:
            return await self._list_problems(
                kind, where, params, limit, cursor, include_obj, now, False
            )
        return await self._list(kind, where, params, namespace, limit, cursor, include_obj)

    def _filters(
        self,
        *,
        namespace: str | None,
        selector: str | None,
        status: str | Sequence[str] | None,
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if namespace is not None:
            where.append("namespace = ?")
            params.append(namespace)
        if (statuses := _as_list(status)) is not None:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += statuses
        sel = parse_selector(selector)
        if sel.requirements:
            fragment, sel_params = sel.sql("labels")
            where.append(fragment)
            params += sel_params
        return where, params

    async def _list(
        self,
        kind: Kind,
        where: list[str],
        params: list[Any],
        namespace: str | None,
        limit: int,
        cursor: str | None,
        include_obj: bool,
    ) -> Page[Any]:
        _check_limit(limit)
        spec = TABLES[kind]
        if cursor:
            after_ns, after_name = _decode_cursor(kind, cursor)
            if namespace is not None:
                if after_ns != namespace:
                    raise InvalidQuery("cursor belongs to a list of another namespace")
                where.append("name > ?")
                params.append(after_name)
            else:
                where.append("(namespace, name) > (?, ?)")
                params += [after_ns, after_name]
        columns = spec.select_list if include_obj else spec.select_list_no_obj
        sql = (
            f"SELECT {columns} FROM {spec.table} WHERE {' AND '.join(where) or '1'} "
            f"ORDER BY namespace, name LIMIT ?"
        )
        records = await self._fetchall(sql, [*params, limit + 1])
        items = [spec.row(r) for r in records[:limit]]
        next_cursor = None
        if len(records) > limit:
            last = items[-1]
            next_cursor = _encode_cursor(kind, last.namespace, last.name)
        return Page(items=items, next_cursor=next_cursor)

    async def _problem_uids(
        self,
        kind: Kind,
        where: list[str],
        params: list[Any],
        now: float | None,
        include_past: bool,
    ) -> list[str]:
        """The uids matching the filters that have a current (or past) finding, worst first."""
        ranks = await self._problem_ranks(kind, now=now, include_past=include_past)
        if not ranks:
            return []
        spec = TABLES[kind]
        records = await self._fetchall(
            f"SELECT uid FROM {spec.table} WHERE {' AND '.join([*where, _UID_IN])}",
            [*params, msgspec.json.encode(list(ranks)).decode()],
        )
        uids = [r[0] for r in records]
        uids.sort(key=ranks.__getitem__)
        return uids

    async def _list_problems(
        self,
        kind: Kind,
        where: list[str],
        params: list[Any],
        limit: int,
        cursor: str | None,
        include_obj: bool,
        now: float | None,
        include_past: bool,
    ) -> Page[Any]:
        """Objects with findings, ranked as the health report ranks them; offset-paged.

        Ordered by their worst finding (severity, then how long broken), so
        the first page holds what is most broken; the set is exactly the one
        the health report counts (`finding_set`).
        """
        _check_limit(limit)
        offset = _decode_rank_cursor(kind, cursor) if cursor else 0
        uids = await self._problem_uids(kind, where, params, now, include_past)
        page = uids[offset : offset + limit]
        spec = TABLES[kind]
        columns = spec.select_list if include_obj else spec.select_list_no_obj
        records = (
            await self._fetchall(
                f"SELECT {columns} FROM {spec.table} WHERE {_UID_IN}",
                [msgspec.json.encode(page).decode()],
            )
            if page
            else []
        )
        rows = {row.uid: row for row in (spec.row(r) for r in records)}
        items = [rows[uid] for uid in page if uid in rows]
        more = offset + limit < len(uids)
        return Page(
            items=items,
            next_cursor=_encode_rank_cursor(kind, offset + limit) if more else None,
            total=len(uids),
        )

    # --- single objects ----------------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> Row | None:
        """One object with its `obj`; namespace "" for nodes. None if not held."""
        spec = TABLES[Kind(kind)]
        records = await self._fetchall(
            f"SELECT {spec.select_list} FROM {spec.table} WHERE namespace = ? AND name = ?",
            (namespace, name),
        )
        return spec.row(records[0]) if records else None

    async def get_pod(self, namespace: str, name: str) -> PodRow | None:
        return await self.get(Kind.POD, namespace, name)  # type: ignore[return-value]

    async def get_deployment(self, namespace: str, name: str) -> DeploymentRow | None:
        return await self.get(Kind.DEPLOYMENT, namespace, name)  # type: ignore[return-value]

    async def get_node(self, name: str) -> NodeRow | None:
        return await self.get(Kind.NODE, "", name)  # type: ignore[return-value]

    # --- history -----------------------------------------------------------------------------

    async def history(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        kind: Kind | None = None,
        namespace: str | None = None,
        name: str | None = None,
        uid: str | None = None,
        field: str | None = None,
        min_severity: Severity | str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Transition]:
        """Recorded transitions, newest first. Page back with `before_id` = the last id seen.

        Indexed: time, field, and kind + namespace + name. A `uid` alone is
        not (see `store.schema`): give the object's name with it.
        """
        _check_limit(limit)
        where, params = _history_where(
            since=since,
            until=until,
            kind=kind,
            namespace=namespace,
            name=name,
            uid=uid,
            field=field,
            min_severity=min_severity,
        )
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        records = await self._fetchall(
            f"SELECT {_TRANSITION_COLUMNS} FROM transitions WHERE {' AND '.join(where) or '1'} "
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [_transition(r) for r in records]

    async def history_summary(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        kind: Kind | None = None,
        namespace: str | None = None,
        name: str | None = None,
        field: str | None = None,
        min_severity: Severity | str | None = None,
        objects: int = 20,
    ) -> HistorySummary:
        """Totals over the whole window and the `objects` most telling objects in it.

        Objects rank by their worst change, then the most recent. Two
        grouping queries over the same indexed window (time, or kind +
        namespace + name, or field), so the cost follows the window's size,
        not history's.
        """
        _check_limit(objects)
        where, params = _history_where(
            since=since,
            until=until,
            kind=kind,
            namespace=namespace,
            name=name,
            uid=None,
            field=field,
            min_severity=min_severity,
        )
        condition = " AND ".join(where) or "1"
        # Read the window through the index that bounds it; left alone, the planner
        # walks the per-object index (whole history) to save the GROUP BY's sort.
        source = "transitions"
        if name is None and field is not None:
            source = "transitions INDEXED BY transitions_field"
        elif name is None and since is not None:
            source = "transitions INDEXED BY transitions_at"
        counts = await self._fetchall(
            f"SELECT kind, severity, field, count(*) FROM {source} WHERE {condition} "
            "GROUP BY kind, severity, field",
            params,
        )
        by_kind: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        by_field: Counter[str] = Counter()
        for k, severity, f, n in counts:
            by_kind[k] += n
            by_severity[severity] += n
            by_field[_field_family(f)] += n
        groups = await self._fetchall(
            "SELECT kind, namespace, name, count(*), min(at), max(at), max(id), "
            "max(CASE severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END), "
            f"count(*) OVER () FROM {source} WHERE {condition} "
            "GROUP BY kind, namespace, name ORDER BY 8 DESC, 7 DESC LIMIT ?",
            [*params, objects],
        )
        fields: dict[tuple[str, str, str], list[str]] = {}
        if groups:
            keys = msgspec.json.encode([[g[0], g[1], g[2]] for g in groups]).decode()
            for k, ns, n, f in await self._fetchall(
                "SELECT DISTINCT t.kind, t.namespace, t.name, t.field "
                "FROM json_each(?) AS o JOIN transitions t "
                "ON t.kind = json_extract(o.value, '$[0]') "
                "AND t.namespace = json_extract(o.value, '$[1]') "
                "AND t.name = json_extract(o.value, '$[2]') "
                # The window's conditions, on t (each starts with its column's name).
                f"WHERE {' AND '.join(f't.{w}' for w in where) or '1'}",
                [keys, *params],
            ):
                fields.setdefault((k, ns, n), []).append(f)
        latest = {
            r[0]: _transition(r)
            for r in await self._fetchall(
                f"SELECT {_TRANSITION_COLUMNS} FROM transitions "
                "WHERE id IN (SELECT value FROM json_each(?))",
                [msgspec.json.encode([g[6] for g in groups]).decode()],
            )
        }
        ranked = {s.rank: s for s in Severity}
        return HistorySummary(
            total=sum(by_kind.values()),
            objects=int(groups[0][8]) if groups else 0,
            by_kind=dict(by_kind.most_common()),
            by_severity={s.value: by_severity.get(s.value, 0) for s in reversed(Severity)},
            by_field=dict(by_field.most_common()),
            by_object=[
                ObjectHistory(
                    kind=Kind(k),
                    namespace=ns,
                    name=n,
                    changes=count,
                    first_at=first,
                    last_at=last,
                    worst_severity=ranked[worst],
                    fields=sorted(fields.get((k, ns, n), []))[:10],
                    latest=latest[last_id],
                )
                for k, ns, n, count, first, last, last_id, worst, _groups in groups
                if last_id in latest
            ],
        )

    async def restarts_since(self, since: float, *, by: str = "namespace") -> dict[Any, int]:
        """Container restarts recorded since `since`, summed by namespace, node, deployment or uid.

        Deployment keys are (namespace, deployment) pairs; `namespace_deployment`
        gives the same pairs including pods without a deployment (None), so
        one query serves both per-namespace and per-deployment sums.
        """
        group = {
            "namespace": "namespace",
            "node": "node",
            "deployment": "namespace, deployment",
            "namespace_deployment": "namespace, deployment",
            "uid": "uid",
        }.get(by)
        if group is None:
            raise InvalidQuery(
                f"cannot group restarts by {by!r} (namespace, node, deployment, uid)"
            )
        records = await self._fetchall(
            f"SELECT {group}, sum(CAST(new AS INTEGER) - CAST(old AS INTEGER)) FROM transitions "
            f"WHERE field = 'restarts' AND at >= ? GROUP BY {group}",
            (since,),
        )
        if by == "deployment":
            return {(r[0], r[1]): int(r[2]) for r in records if r[1] is not None}
        if by == "namespace_deployment":
            return {(r[0], r[1]): int(r[2]) for r in records}
        return {r[0]: int(r[1]) for r in records if r[0] is not None}

    # --- counts ------------------------------------------------------------------------------

    async def count(
        self,
        kind: Kind,
        *,
        group_by: str | Sequence[str] | None = None,
        namespace: str | None = None,
        status: str | Sequence[str] | None = None,
        selector: str | None = None,
        problems_only: bool = False,
        include_past: bool = False,
        now: float | None = None,
    ) -> list[GroupCount]:
        """Object counts, optionally grouped (e.g. `group_by=("namespace", "phase")`).

        For cluster-wide totals prefer `store.view` / the summaries, which do
        not scan; this runs SQL and suits filtered, ad-hoc questions.
        """
        kind = Kind(kind)
        columns = _as_list(group_by) or []
        bad = [c for c in columns if c not in _GROUPABLE[kind]]
        if bad:
            raise InvalidQuery(
                f"cannot group {kind.value} by {', '.join(bad)}; "
                f"choose from {', '.join(sorted(_GROUPABLE[kind]))}"
            )
        where, params = self._filters(namespace=namespace, selector=selector, status=status)
        if problems_only:
            ranks = await self._problem_ranks(kind, now=now, include_past=include_past)
            where.append(_UID_IN)
            params.append(msgspec.json.encode(list(ranks)).decode())
        spec = TABLES[kind]
        select = ", ".join([*columns, "count(*)"])
        sql = f"SELECT {select} FROM {spec.table} WHERE {' AND '.join(where) or '1'}"
        if columns:
            sql += f" GROUP BY {', '.join(columns)} ORDER BY count(*) DESC"
        records = await self._fetchall(sql, params)
        return [
            GroupCount(key=dict(zip(columns, r[:-1], strict=True)), count=r[-1]) for r in records
        ]

    # --- sync state --------------------------------------------------------------------------

    def sync_states(self) -> dict[Kind, SyncState]:
        """Committed sync state per kind, from memory (no I/O: safe in /ready and collectors)."""
        return dict(self.view.sync)

    async def sync_states_from_db(self) -> list[SyncState]:
        records = await self._fetchall(
            "SELECT kind, resource_version, synced, last_list_at, last_event_at, objects, error, "
            "confirmed_at FROM sync_state"
        )
        return [
            SyncState(
                kind=Kind(r[0]),
                resource_version=r[1],
                synced=bool(r[2]),
                last_list_at=r[3],
                last_event_at=r[4],
                objects=r[5],
                error=r[6],
                confirmed_at=r[7],
            )
            for r in records
            if r[0] in Kind._value2member_map_
        ]

    # --- health ------------------------------------------------------------------------------

    async def finding_set(
        self,
        *,
        now: float | None = None,
        kinds: Sequence[Kind] | None = None,
        include_past: bool = False,
    ) -> FindingSet:
        """Every object's findings at `now`, by tense: the one source of every answer's findings.

        Row findings come from the writer's in-memory candidates (cost follows
        the number of problems), node overcommit from the view, and, when past
        findings are asked for, rising restarts from history.
        """
        now = time.time() if now is None else now
        found = classify(
            (c for candidates in list(self.view.candidates.values()) for c in candidates), now
        )
        found.current.extend(self.view.overcommit_findings())
        if include_past and (kinds is None or Kind.POD in kinds):
            found.past.extend(await self._restarts_rising(now))
        return found

    async def object_findings(
        self, kind: Kind, uid: str, *, now: float | None = None
    ) -> FindingSet:
        """One object's findings, by the same rule as `finding_set` (and past ones too)."""
        now = time.time() if now is None else now
        found = classify(self.view.candidates.get(uid, ()), now)
        # The aggregate analyzers' findings about this object (node overcommit, rising restarts).
        found.current.extend(f for f in self.view.overcommit_findings() if f.uid == uid)
        found.past.extend(await self._restarts_rising(now, uid=uid))
        for fs in found:
            fs.sort(key=rank_key)
        return found

    async def health_report(
        self,
        *,
        limit: int = 100,
        min_severity: Severity | str = Severity.INFO,
        namespace: str | None = None,
        kinds: Sequence[Kind] | None = None,
        node: str | None = None,
        include_past: bool = False,
        group: bool = False,
        now: float | None = None,
    ) -> HealthReport:
        """Current findings ranked by severity, with counts; pending and past ones apart."""
        _check_limit(limit)
        try:
            floor = Severity(min_severity)
        except ValueError as e:
            raise InvalidQuery(f"unknown severity {min_severity!r}") from e
        now = time.time() if now is None else now
        found = await self.finding_set(now=now, kinds=kinds, include_past=include_past)
        return build_report(
            found,
            now=now,
            limit=limit,
            min_severity=floor,
            namespace=namespace,
            kinds=kinds,
            node=node,
            group=group,
        )

    async def _problem_ranks(
        self, kind: Kind, *, now: float | None, include_past: bool
    ) -> dict[str, tuple[Any, ...]]:
        """uid -> rank of its worst finding, for the objects of `kind` with a current one."""
        found = await self.finding_set(now=now, kinds=[kind], include_past=include_past)
        ranks: dict[str, tuple[Any, ...]] = {}
        for f in (*found.current, *(found.past if include_past else ())):
            if f.kind is kind:
                key = rank_key(f)
                if f.uid not in ranks or key < ranks[f.uid]:
                    ranks[f.uid] = key
        return ranks

    async def _restarts_rising(self, now: float, *, uid: str | None = None) -> list[Finding]:
        health = self.settings.health
        one = "AND t.uid = ? " if uid is not None else ""
        records = await self._fetchall(
            "SELECT t.uid, p.namespace, p.name, "
            "sum(CAST(t.new AS INTEGER) - CAST(t.old AS INTEGER)), min(t.at), p.restarts, "
            "p.node, p.deployment "
            "FROM transitions t JOIN pods p ON p.uid = t.uid "
            f"WHERE t.field = 'restarts' AND t.at >= ? {one}GROUP BY t.uid "
            "HAVING sum(CAST(t.new AS INTEGER) - CAST(t.old AS INTEGER)) >= ?",
            (
                now - health.restarts_window_s,
                *((uid,) if uid is not None else ()),
                health.restarts_rising_min,
            ),
        )
        out = []
        for uid_, namespace, name, count, first_at, restarts, node, deployment in records:
            f = pod_restarts_rising(
                namespace=namespace,
                name=name,
                uid=uid_,
                restarts_in_window=int(count),
                first_at=first_at,
                last_count=restarts,
                settings=health,
                node=node,
                deployment=deployment,
            )
            if f is not None:
                out.append(f)
        return out

    # --- guarded SQL -------------------------------------------------------------------------

    @property
    def queries_in_progress(self) -> int:
        """Guarded SQL queries now waiting for a connection or running."""
        return self._guarded.in_progress

    async def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] = (),
        *,
        max_rows: int = 500,
        timeout_s: float = 2.0,
        caller: str | None = None,
        arrived: float | None = None,
    ) -> QueryResult:
        """Run one read-only SELECT over the store's tables, capped in every dimension.

        See `store.guarded`: the connection is read-only, an authorizer admits
        only SELECT, the store's tables and an allow-list of functions (the
        rest is refused with InvalidQuery naming it); values, columns and the
        answer's bytes are capped by `settings.query` (QueryTooLarge); past
        `timeout_s` after `arrived` (`anyio.current_time()` when the call came;
        default now), waiting for a connection included, the query is
        interrupted with QueryTimeout. `caller` (a client's name) has at most
        `settings.query.per_caller` queries in progress (QueryBusy). BLOB
        values come back as text; `elapsed_ms` counts from `arrived`.
        """
        self._check_usable()
        sql = check_sql(sql)
        if not isinstance(max_rows, int) or not 1 <= max_rows <= 10_000:
            raise InvalidQuery("max_rows must be between 1 and 10000")
        if not (isinstance(timeout_s, int | float) and 0 < timeout_s <= 60):
            raise InvalidQuery("timeout_s must be in (0, 60]")
        arrived = anyio.current_time() if arrived is None else arrived
        result = await self._guarded.run(
            sql, params, max_rows=max_rows, timeout_s=timeout_s, arrived=arrived, caller=caller
        )
        return QueryResult(
            columns=result.columns,
            rows=result.rows,
            truncated=result.truncated,
            elapsed_ms=(anyio.current_time() - arrived) * 1000,
        )
