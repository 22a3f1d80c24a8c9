"""The single writer's memory of every object, and how a batch advances it.

Transitions are computed while a batch is prepared, from the state the
writer remembers of every object (`KindSpec.state`: the tracked
status signature plus the aggregate contribution, not the whole row), and
inserted into history in the same transaction as the rows (`store.batch`).
Preparing turns queued operations (`store.operations`) into that
transaction's statements, transitions and view changes, and advances the
memory as it goes; `load` rebuilds the memory from the tables when the file
is opened or the writer has to start over.

It is a module of its own because it decides what a batch means, while
`store.writer` decides when: the writer owns the queue, the connection and
the commit pipeline, and calls `prepare` once per batch. `prepare` and the
per-row methods it calls (`_upsert`, `_delete`, `_state`, `_record`) are the
writer's hot path, tuned for it: they run once per delta, so new per-row
work (another call, another attribute lookup) shows in ingest throughput.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import aiosqlite
import anyio
import anyio.lowlevel
import msgspec

from kinds.registry import STORED
from store.batch import Batch
from store.columns import TABLES
from store.health import Candidate, analyze_row
from store.model import (
    Delta,
    Kind,
    Row,
    Severity,
    SyncState,
    Transition,
)
from store.operations import Apply, Op, Put, PutMany, Replace, ReplaceBegin, ReplaceEnd, Sync
from store.settings import StoreSettings
from store.statements import NARROW_UPDATE, UPSERT_SYNC
from store.transitions import (
    Change,
    changes_between,
    deletion_change,
    first_sight_changes,
)
from store.view import Change as ViewChange
from store.view import State, View

__all__ = ["STRICT_ENV", "ObjectMemory", "restored_sync_states"]

# Set to 1, a row the store cannot handle raises instead of being logged and counted.
STRICT_ENV = "KUBE_WATCHCACHE_STRICT"

log = logging.getLogger("store")

_new_tuple = tuple.__new__
# Enum `.value` is a Python-level property; these run once per transition.
_KIND_TEXT = {k: k.value for k in Kind}
_SEVERITY_TEXT = {s: s.value for s in Severity}
# Rows prepared between two turns of the event loop, so a 150k relist never freezes it.
_CHUNK = 500


def _problem(candidates: tuple[Candidate, ...]) -> int:
    """The `problem` column: 1 + the worst severity rank among the candidates."""
    return max(c.finding.severity.rank for c in candidates) + 1


class ObjectMemory:
    """What the writer remembers of every object, advanced by `prepare`, rebuilt by `load`.

    Only the writer task uses it, one batch at a time.
    """

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self._states: dict[Kind, dict[str, State]] = {k: {} for k in Kind}
        self._names: dict[Kind, dict[tuple[str, str], str]] = {k: {} for k in Kind}
        self._candidates: dict[str, tuple[Candidate, ...]] = {}
        self._sync: dict[Kind, SyncState] = {k: SyncState(kind=k) for k in Kind}
        # Streamed relists under way: the uids put since `replace_begin`, per kind.
        self._relisting: dict[Kind, set[str]] = {}
        # Kinds whose events showed another history (see `_history_changed`): the sync
        # error that says so, standing until the kind is listed again.
        self._history_lost: dict[Kind, str] = {}
        # The same, newly found, for the writer to tell its listeners once the batch is out.
        self.history_changes: list[tuple[Kind, str]] = []
        self._next_id = 1
        # Rows `prepare` could not handle (a programming error, logged at error level):
        # counted, and raised instead when `strict` (the test suite sets it).
        self.dropped_rows = 0
        self.strict = os.environ.get(STRICT_ENV) == "1"
        # Bumped whenever memory is reloaded from the tables: a batch prepared
        # before that is stale and must be prepared again.
        self.generation = 0

    def objects(self, kind: Kind) -> int:
        return len(self._states[kind])

    async def prepare(self, ops: list[Op], *, started: float | None = None) -> Batch:
        """Turn queued operations into one transaction's statements, transitions and view changes.

        This advances the writer's memory of every object; the batch is then
        committed (retried until it is) before anything is published. Between
        chunks of rows it yields, so a 150k-row relist never freezes the loop.
        `started`: when a batch prepared again (see `store.writer.Writer.run`) was first
        prepared.
        """
        batch = self.begin(started=started)
        await self.add(batch, ops)
        return await self.finish(batch)

    def begin(self, *, started: float | None = None) -> Batch:
        """An empty batch for `add` to fill, against the memory as it is now."""
        return Batch(
            [],
            generation=self.generation,
            started=time.perf_counter() if started is None else started,
        )

    async def add(self, batch: Batch, ops: list[Op]) -> None:
        """Prepare `ops` into `batch`, after what it holds: as if they had come with it.

        The writer adds to the next batch as operations arrive while the one
        before it executes (`store.writer.Writer._prepare_during`), so that
        batch is ready the moment SQLite is free.
        """
        batch.ops.extend(ops)
        batch.now = time.time()
        touched = batch.touched
        counter = 0
        for op in ops:
            if isinstance(op, PutMany):
                relisting = self._relisting
                for delta in op.deltas:
                    kind = delta.kind
                    if delta.type == "DELETED":
                        if delta.row.uid in self._states[kind]:
                            self._delete(kind, delta.row.uid, batch)
                        else:
                            self._deleted_unknown(kind, delta.row, batch)
                    else:
                        self._upsert(kind, delta.row, batch, delta.type)
                    touched[kind] = True
                    if relisting:
                        seen_so_far = relisting.get(kind)
                        if seen_so_far is not None and delta.type != "DELETED":
                            seen_so_far.add(delta.row.uid)
                    counter += 1
                    if counter % _CHUNK == 0:
                        await anyio.lowlevel.checkpoint()
                continue
            if isinstance(op, Put):
                delta = op.delta
                self._delta(delta, batch)
                touched[delta.kind] = True
                if self._relisting:
                    seen_so_far = self._relisting.get(delta.kind)
                    if seen_so_far is not None and delta.type != "DELETED":
                        seen_so_far.add(delta.row.uid)
            elif isinstance(op, ReplaceBegin):
                self._relisting[op.kind] = set()
            elif isinstance(op, ReplaceEnd):
                streamed = self._relisting.pop(op.kind, None)
                if streamed is not None:
                    states = self._states[op.kind]
                    for uid in [u for u in states if u not in streamed]:
                        self._delete(op.kind, uid, batch)
                        counter += 1
                        if counter % _CHUNK == 0:
                            await anyio.lowlevel.checkpoint()
                self._update_sync(
                    op.kind, batch, resource_version=op.resource_version, synced=True, listed=True
                )
                touched[op.kind] = True
            elif isinstance(op, Replace):
                self._relisting.pop(op.kind, None)  # a whole list supersedes a streamed one
                seen: set[str] = set()
                for row in op.rows:
                    seen.add(row.uid)
                    self._upsert(op.kind, row, batch)
                    counter += 1
                    if counter % _CHUNK == 0:
                        await anyio.lowlevel.checkpoint()
                states = self._states[op.kind]
                for uid in [u for u in states if u not in seen]:
                    self._delete(op.kind, uid, batch)
                self._update_sync(
                    op.kind, batch, resource_version=op.resource_version, synced=True, listed=True
                )
                touched[op.kind] = True
            elif isinstance(op, Sync):
                self._update_sync(
                    op.kind,
                    batch,
                    resource_version=op.resource_version,
                    synced=op.synced,
                    listed=op.listed,
                    error=op.error,
                )
                touched.setdefault(op.kind, False)
            elif isinstance(op, Apply):
                start = len(batch.transitions)
                for delta in op.deltas:
                    self._delta(delta, batch)
                    touched[delta.kind] = True
                    seen_so_far = self._relisting.get(delta.kind)
                    if seen_so_far is not None and delta.type != "DELETED":
                        seen_so_far.add(delta.row.uid)
                op.result = batch.transitions[start:]
                batch.waiters.append(op)
            else:
                batch.waiters.append(op)
            counter += 1
            if counter % _CHUNK == 0:
                await anyio.lowlevel.checkpoint()

    async def finish(self, batch: Batch) -> Batch:
        """Close `batch`: record each touched kind's sync state, and seal its statements.

        Events prove a watch alive: a kind the batch holds events of is
        confirmed at the batch's time, once per batch, not once per event.
        They leave an error standing, though: in a namespace-list install one
        namespace's events say nothing of another one failing, and a stream
        that recovered says so itself (a bookmark, a watch start, a list).
        """
        for kind, had_events in batch.touched.items():
            current = batch.sync.get(kind, self._sync[kind])
            if had_events:
                updated = msgspec.structs.replace(
                    current,
                    objects=len(self._states[kind]),
                    last_event_at=batch.now,
                    confirmed_at=batch.now,
                )
            else:
                updated = msgspec.structs.replace(current, objects=len(self._states[kind]))
            self._sync[kind] = batch.sync[kind] = updated
        for s in batch.sync.values():
            batch.emit(
                UPSERT_SYNC,
                [
                    s.kind.value,
                    s.resource_version,
                    s.synced,
                    s.last_list_at,
                    s.last_event_at,
                    s.objects,
                    s.error,
                    s.confirmed_at,
                ],
            )
        await batch.seal()  # now, while the batch before it executes
        return batch

    def _update_sync(
        self,
        kind: Kind,
        batch: Batch,
        *,
        resource_version: str | None = None,
        synced: bool | None = None,
        listed: bool = False,
        error: str | None = None,
    ) -> None:
        """Advance one kind's sync state by what an informer reported.

        A resourceVersion (a bookmark, a watch start), a list, or a completed
        sync proves the watch alive (`confirmed_at`) and, without an error,
        clears the one before. An error starts `error_since` unless one is
        already standing. Synced here means synced by this process: the
        restored rows it was serving are replaced, `restored_at` is done.
        """
        s = batch.sync.get(kind, self._sync[kind])
        changes: dict[str, Any] = {}
        alive = resource_version is not None or listed or bool(synced)
        if self._history_lost:
            if listed:
                self._history_lost.pop(kind, None)
            elif error is None and kind in self._history_lost:
                alive = False  # a bookmark of the old stream proves nothing: the error stands
        if resource_version is not None:
            changes["resource_version"] = resource_version
        if synced is not None:
            changes["synced"] = synced
            if synced:
                changes["restored_at"] = None
        if listed:
            changes["last_list_at"] = batch.now
        if alive:
            changes["confirmed_at"] = batch.now
        if error is not None:
            changes["error"] = error
            if s.error is None or s.error_since is None:
                changes["error_since"] = batch.now
        elif alive:
            changes["error"] = None
            changes["error_since"] = None
        self._sync[kind] = batch.sync[kind] = msgspec.structs.replace(s, **changes)

    def _delta(self, delta: Delta, batch: Batch) -> None:
        if delta.type == "DELETED":
            if delta.row.uid in self._states[delta.kind]:
                self._delete(delta.kind, delta.row.uid, batch)
            else:
                self._deleted_unknown(delta.kind, delta.row, batch)
        else:
            self._upsert(delta.kind, delta.row, batch, delta.type)

    def _upsert(self, kind: Kind, row: Row, batch: Batch, type_: str = "ADDED") -> None:
        # The hot path of the writer: runs once per ADDED/MODIFIED and per relisted row.
        # `type_`: the event's type; a list's rows come as ADDED.
        table = TABLES[kind]
        spec = STORED[kind]
        states = self._states[kind]
        uid = row.uid
        try:
            candidates = analyze_row(kind, row, self.settings.health)
            problem = _problem(candidates) if candidates else 0
            params = table.params(row, problem)
            sig = spec.signature(row)
        except Exception:  # a bug in a kind's parts: loud, but one object must not stop the cluster
            self.dropped_rows += 1
            log.exception(
                "store: cannot store %s %s/%s (uid %s): a bug in its kind's module; "
                "the object is missing from answers until it changes",
                kind.value,
                row.namespace,
                row.name,
                uid,
            )
            if self.strict:
                raise
            return
        old = states.get(uid)
        if old is None or old.name != row.name or old.namespace != row.namespace:
            names = self._names[kind]
            key = (row.namespace, row.name)
            holder = names.get(key)
            if holder is not None and holder != uid:
                if type_ != "ADDED":
                    self._history_changed(kind, row, holder, type_, batch)
                # Same name, new uid: the old object is gone even if we missed its DELETED.
                self._delete(kind, holder, batch)
            if old is not None:
                names.pop((old.namespace, old.name), None)
            names[key] = uid
        if old is None:
            changes = first_sight_changes(kind, sig, row)
        elif old.signature == sig:
            changes = None
        else:
            changes = changes_between(kind, old.signature, sig, row)
        state = spec.state(row, sig, problem)
        states[uid] = state
        batch.emit(
            NARROW_UPDATE[kind]
            if old is not None and spec.same_indexed(old, state)
            else table.upsert_sql,
            params,
        )
        if changes:
            self._record(kind, uid, state, changes, batch)
        if candidates or uid in self._candidates:
            fixed = self._date(candidates, self._candidates.get(uid), batch.now)
            if fixed:
                self._candidates[uid] = fixed
            else:
                self._candidates.pop(uid, None)
            batch.candidates[uid] = fixed or None
        batch.changes.append(_new_tuple(ViewChange, (kind, uid, old, state)))

    def _deleted_unknown(self, kind: Kind, row: Row, batch: Batch) -> None:
        """A DELETED for a uid not held: nothing to delete, but it may show another history."""
        holder = self._names[kind].get((row.namespace, row.name))
        if holder is not None and holder != row.uid:
            self._history_changed(kind, row, holder, "DELETED", batch)

    def _history_changed(self, kind: Kind, row: Row, holder: str, type_: str, batch: Batch) -> None:
        """A MODIFIED or DELETED for a uid not held, while another uid holds its name.

        One history never sends that: a name deleted and created again comes
        as DELETED (old uid), then ADDED (new uid). So events were missed or
        the API server's history changed under the watch (an etcd restore, a
        new control plane behind the same address, whose resourceVersion
        passed ours before we reconnected: no 504, nothing went backwards).
        Every row of the kind may belong to the other history: the kind is
        stale at once, in this batch, and stays so until it is listed again;
        the writer's history listeners are told (the watcher relists).
        Rare by nature: only a new uid or an unknown DELETED gets here.
        """
        if kind in self._history_lost:
            return  # said once; the relist it asked for is under way
        error = (
            f"{type_} event for {_KIND_TEXT[kind]} {row.namespace}/{row.name} uid {row.uid} "
            f"while uid {holder} holds that name: the API server's history changed under "
            "the watch: relisting"
        )
        self._update_sync(kind, batch, error=error)
        self._history_lost[kind] = error
        self.history_changes.append((kind, error))

    def _delete(self, kind: Kind, uid: str, batch: Batch) -> None:
        old = self._states[kind].pop(uid)
        names = self._names[kind]
        if names.get((old.namespace, old.name)) == uid:
            del names[(old.namespace, old.name)]
        batch.emit(TABLES[kind].delete_sql, [uid])
        self._record(kind, uid, old, [deletion_change(kind, old.status)], batch)
        if self._candidates.pop(uid, None) is not None or uid in batch.candidates:
            batch.candidates[uid] = None
        batch.changes.append(ViewChange(kind, uid, old, None))

    def _record(
        self, kind: Kind, uid: str, state: State, changes: list[Change], batch: Batch
    ) -> None:
        # Where a pod ran and what owned it: history's context for "restarts by node".
        node = getattr(state, "node", None)
        deployment = getattr(state, "deployment", None)
        kind_text = _KIND_TEXT[kind]
        namespace, name = state.namespace, state.name
        for c in changes:
            tid = self._next_id
            self._next_id += 1
            t = Transition(
                at=batch.now,
                kind=kind,
                namespace=state.namespace,
                name=state.name,
                uid=uid,
                field=c.field,
                old=c.old,
                new=c.new,
                severity=c.severity,
                reason=c.reason,
                message=c.message,
                id=tid,
            )
            batch.transitions.append(t)
            batch.history.append(
                (
                    tid,
                    batch.now,
                    kind_text,
                    namespace,
                    name,
                    uid,
                    c.field,
                    c.old,
                    c.new,
                    _SEVERITY_TEXT[c.severity],
                    c.reason,
                    c.message,
                    node,
                    deployment,
                )
            )

    @staticmethod
    def _date(
        candidates: tuple[Candidate, ...], previous: tuple[Candidate, ...] | None, now: float
    ) -> tuple[Candidate, ...]:
        """Give every candidate its `since`: its own timestamp, else when history first saw it."""
        if not candidates:
            return ()
        before = {c.finding.check: c.finding.since for c in previous or ()}
        out = []
        for c in candidates:
            if not c.has_own_since or c.finding.since is None:
                since = before.get(c.finding.check) or now
                c = c._replace(finding=msgspec.structs.replace(c.finding, since=since))
            out.append(c)
        return tuple(out)

    async def load(self, conn: aiosqlite.Connection, view: View) -> None:
        """Rebuild the writer's memory and the view from the tables (at open, after a reset)."""
        now = time.time()
        self.generation += 1
        self._states = {k: {} for k in Kind}
        self._names = {k: {} for k in Kind}
        self._candidates = {}
        self._relisting = {}  # a streamed relist begun before a reset is void: its uids are gone
        self._history_lost = {}  # a reset relists every kind anyway
        self.history_changes = []
        view.clear()
        changes: list[ViewChange] = []
        problems: dict[str, tuple[Kind, tuple[Candidate, ...]]] = {}
        for kind, table in TABLES.items():
            spec = STORED[kind]
            states, names = self._states[kind], self._names[kind]
            async with conn.execute(f"SELECT {table.select_list_no_obj} FROM {table.table}") as cur:
                while True:
                    records = await cur.fetchmany(2000)
                    if not records:
                        break
                    for record in records:
                        row = table.row(record)
                        sig = spec.signature(row)
                        candidates = analyze_row(kind, row, self.settings.health)
                        problem = _problem(candidates) if candidates else 0
                        state = spec.state(row, sig, problem)
                        states[row.uid] = state
                        names[(row.namespace, row.name)] = row.uid
                        changes.append(ViewChange(kind, row.uid, None, state))
                        if candidates:
                            problems[row.uid] = (kind, candidates)
                    await anyio.lowlevel.checkpoint()
        await self._date_from_history(conn, problems, now)
        self._sync = await restored_sync_states(conn, self._states)
        async with conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'transitions'), 0), "
            "coalesce((SELECT max(id) FROM transitions), 0))"
        ) as cur:
            top = await cur.fetchone()
        self._next_id = int(top[0] if top and top[0] is not None else 0) + 1
        view.apply(changes, dict(self._candidates), dict(self._sync), now=now)

    async def _date_from_history(
        self,
        conn: aiosqlite.Connection,
        problems: dict[str, tuple[Kind, tuple[Candidate, ...]]],
        now: float,
    ) -> None:
        """`since` of reloaded candidates: the latest transition of their field in history.

        Looked up by kind, namespace and name (the index per-object history
        has) and then matched on uid, so an object that reuses a name is not
        dated from its predecessor's history.
        """
        keys = []
        for uid, (kind, _candidates) in problems.items():
            state = self._states[kind][uid]
            keys.append((_KIND_TEXT[kind], state.namespace, state.name, uid))
        latest: dict[tuple[str, str], float] = {}
        for i in range(0, len(keys), 200):
            chunk = keys[i : i + 200]
            values = ",".join(["(?,?,?,?)"] * len(chunk))
            async with conn.execute(
                f"SELECT t.uid, t.field, max(t.at) FROM (VALUES {values}) AS o "
                "JOIN transitions t ON t.kind = o.column1 AND t.namespace = o.column2 "
                "AND t.name = o.column3 AND t.uid = o.column4 GROUP BY t.uid, t.field",
                [v for key in chunk for v in key],
            ) as cur:
                for uid, field, at in await cur.fetchall():
                    latest[(uid, field)] = at
        for uid, (_kind, candidates) in problems.items():
            fixed = []
            for c in candidates:
                if not c.has_own_since or c.finding.since is None:
                    since = latest.get((uid, c.field or ""), now)
                    c = c._replace(finding=msgspec.structs.replace(c.finding, since=since))
                fixed.append(c)
            self._candidates[uid] = tuple(fixed)


async def restored_sync_states(
    conn: aiosqlite.Connection, states: dict[Kind, dict[str, State]]
) -> dict[Kind, SyncState]:
    """The sync state of a file just opened: what it holds, none of it synced by this process.

    A previous run's `synced` (and its error) described that run's watches,
    not this one's: serving them as they were would call a restored cache
    fresh before anything was listed. Every kind starts unsynced; one the
    file holds anything of (rows, or a sync state) is marked restored, dated
    by when the file last confirmed it.
    """
    async with conn.execute(
        "SELECT kind, resource_version, last_list_at, last_event_at, confirmed_at FROM sync_state"
    ) as cur:
        records = await cur.fetchall()
    restored: dict[Kind, SyncState] = {}
    for kind_text, resource_version, last_list_at, last_event_at, confirmed_at in records:
        if kind_text not in Kind._value2member_map_:
            continue
        kind = Kind(kind_text)
        if confirmed_at is None:  # a file written before confirmed_at was recorded
            confirmed_at = max(
                (t for t in (last_list_at, last_event_at) if t is not None), default=None
            )
        restored[kind] = SyncState(
            kind=kind,
            resource_version=resource_version,
            last_list_at=last_list_at,
            last_event_at=last_event_at,
            objects=len(states[kind]),
            confirmed_at=confirmed_at,
            restored_at=confirmed_at,
        )
    out: dict[Kind, SyncState] = {}
    for kind in Kind:
        out[kind] = restored.get(kind) or SyncState(kind=kind, objects=len(states[kind]))
    return out
