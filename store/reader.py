"""Read access: lists, single objects, history, counts, health, and guarded SQL.

Readers use their own read-only connections (`mode=ro`, `query_only`), a
small pool separate from the writer's, so a slow query never holds up a
commit and no read can write. SQL work happens in the connections' threads;
cluster-wide answers (health report, summaries) come from the writer's
in-memory `View` and touch SQL only for history.

Lists are ordered by (namespace, name) and paginated with an opaque cursor
(the last key of the page), which stays correct while objects come and go —
unlike offsets. Lists leave `obj` out (b"") unless `include_obj=True`; `get`
always includes it.
"""

from __future__ import annotations

import base64
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite
import anyio
import msgspec

from store.columns import TABLES
from store.errors import InvalidQuery, StoreClosed, StoreError, StoreUnavailable
from store.guarded import GuardedPool, check_sql
from store.health import Finding, HealthReport, build_report, is_active, pod_restarts_rising
from store.model import DeploymentRow, Kind, NodeRow, PodRow, Row, Severity, SyncState, Transition
from store.selector import parse_selector
from store.settings import StoreSettings
from store.storage import connect_reader, translate
from store.view import View

__all__ = ["GroupCount", "Page", "QueryResult", "Reader"]

R = TypeVar("R", PodRow, DeploymentRow, NodeRow)

MAX_LIMIT = 1000


class Page(msgspec.Struct, Generic[R], kw_only=True):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (None: the end)."""

    items: list[R]
    next_cursor: str | None = None


class GroupCount(msgspec.Struct, kw_only=True):
    key: dict[str, Any]
    count: int


class QueryResult(msgspec.Struct, kw_only=True):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


_GROUPABLE: dict[Kind, frozenset[str]] = {
    Kind.POD: frozenset(
        {
            "namespace",
            "node",
            "phase",
            "status",
            "deployment",
            "ready",
            "qos_class",
            "owner_kind",
            "reason",
        }
    ),
    Kind.DEPLOYMENT: frozenset({"namespace", "status", "paused", "strategy"}),
    Kind.NODE: frozenset({"status", "ready", "unschedulable", "kubelet_version"}),
}

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
        raise InvalidQuery(
            f"invalid cursor {cursor!r}: pass back a next_cursor from a previous page"
        ) from e
    if k != kind.value:
        raise InvalidQuery(f"cursor belongs to a {k} list, not {kind.value}")
    return namespace, name


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
        limit: int = 100,
        cursor: str | None = None,
        include_obj: bool = False,
    ) -> Page[PodRow]:
        """Pods ordered by (namespace, name). `deployment` is the owning Deployment's name."""
        where, params = self._filters(
            namespace=namespace, selector=selector, status=status, problems_only=problems_only
        )
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
    ) -> Page[DeploymentRow]:
        where, params = self._filters(
            namespace=namespace, selector=selector, status=status, problems_only=problems_only
        )
        return await self._list(
            Kind.DEPLOYMENT, where, params, namespace, limit, cursor, include_obj
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
    ) -> Page[NodeRow]:
        """Nodes by name; `ready` is the Ready condition ("True", "False", "Unknown")."""
        where, params = self._filters(
            namespace=None, selector=selector, status=status, problems_only=problems_only
        )
        _add_equals(
            where,
            params,
            ready=ready,
            unschedulable=None if unschedulable is None else int(unschedulable),
        )
        return await self._list(Kind.NODE, where, params, None, limit, cursor, include_obj)

    def _filters(
        self,
        *,
        namespace: str | None,
        selector: str | None,
        status: str | Sequence[str] | None,
        problems_only: bool,
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if namespace is not None:
            where.append("namespace = ?")
            params.append(namespace)
        if (statuses := _as_list(status)) is not None:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += statuses
        if problems_only:
            where.append("problem > 0")
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
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
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
        records = await self._fetchall(
            f"SELECT {_TRANSITION_COLUMNS} FROM transitions WHERE {' AND '.join(where) or '1'} "
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [
            Transition(
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
            for r in records
        ]

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
        where, params = self._filters(
            namespace=namespace, selector=selector, status=status, problems_only=problems_only
        )
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
            "SELECT kind, resource_version, synced, last_list_at, last_event_at, objects, error "
            "FROM sync_state"
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
            )
            for r in records
            if r[0] in Kind._value2member_map_
        ]

    # --- health ------------------------------------------------------------------------------

    async def health_report(
        self,
        *,
        limit: int = 100,
        min_severity: Severity | str = Severity.INFO,
        namespace: str | None = None,
        kinds: Sequence[Kind] | None = None,
        now: float | None = None,
    ) -> HealthReport:
        """Active findings ranked by severity, with counts; cost follows problems, not pods."""
        _check_limit(limit)
        try:
            floor = Severity(min_severity)
        except ValueError as e:
            raise InvalidQuery(f"unknown severity {min_severity!r}") from e
        now = time.time() if now is None else now
        findings: list[Finding] = [
            c.finding
            for candidates in list(self.view.candidates.values())
            for c in candidates
            if is_active(c, c.finding.since, now)
        ]
        findings.extend(self.view.overcommit_findings())
        if kinds is None or Kind.POD in kinds:
            findings.extend(await self._restarts_rising(now))
        return build_report(
            findings, now=now, limit=limit, min_severity=floor, namespace=namespace, kinds=kinds
        )

    async def _restarts_rising(self, now: float) -> list[Finding]:
        health = self.settings.health
        records = await self._fetchall(
            "SELECT t.uid, p.namespace, p.name, "
            "sum(CAST(t.new AS INTEGER) - CAST(t.old AS INTEGER)), min(t.at), p.restarts "
            "FROM transitions t JOIN pods p ON p.uid = t.uid "
            "WHERE t.field = 'restarts' AND t.at >= ? GROUP BY t.uid "
            "HAVING sum(CAST(t.new AS INTEGER) - CAST(t.old AS INTEGER)) >= ?",
            (now - health.restarts_window_s, health.restarts_rising_min),
        )
        out = []
        for uid, namespace, name, count, first_at, restarts in records:
            f = pod_restarts_rising(
                namespace=namespace,
                name=name,
                uid=uid,
                restarts_in_window=int(count),
                first_at=first_at,
                last_count=restarts,
                settings=health,
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
