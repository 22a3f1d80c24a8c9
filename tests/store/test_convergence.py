"""Property: any sequence of deltas and relists leaves the store equal to a plain dict model.

The model applies each operation to a dict and derives the expected
transitions with the same pure rules (`store.transitions`), one operation at
a time. The writer batches, coalesces, relists and evicts; whatever it does,
its tables must equal the dict, its history must hold exactly the model's
transitions (none missing, none twice, in order), its subscribers must have
heard exactly that history, and its in-memory aggregates must equal sums
recomputed from scratch — also after reopening the file.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import (
    Condition,
    ContainerRow,
    Delta,
    DeploymentRow,
    Kind,
    NodeRow,
    PodRow,
    Row,
    StoreSettings,
    Transition,
    open_store,
)
from store.transitions import changes_between, deletion_change, first_sight_changes, signature

POD_UIDS = [f"pod-{i}" for i in range(6)]
DEPLOYMENT_UIDS = [f"dep-{i}" for i in range(3)]
NODE_UIDS = [f"node-{i}" for i in range(3)]


def _pod_name(uid: str) -> tuple[str, str]:
    i = int(uid.split("-")[1])
    return ("ns-a" if i % 2 else "ns-b"), f"p{i}"


@st.composite
def pod_rows(draw: st.DrawFn, uid: str | None = None) -> PodRow:
    uid = uid or draw(st.sampled_from(POD_UIDS))
    namespace, name = _pod_name(uid)
    phase = draw(
        st.sampled_from(["Pending", "Running", "Running", "Succeeded", "Failed", "Unknown"])
    )
    waiting = draw(
        st.sampled_from([None, None, "CrashLoopBackOff", "ImagePullBackOff", "ContainerCreating"])
    )
    last = draw(st.sampled_from([None, None, "OOMKilled", "Error", "Completed"]))
    restarts = draw(st.integers(0, 4))
    containers = [
        ContainerRow(
            name="app",
            restarts=restarts,
            waiting_reason=waiting,
            last_terminated_reason=last,
            ready=waiting is None,
        )
    ]
    if draw(st.booleans()):
        containers.append(
            ContainerRow(name="side", waiting_reason=draw(st.sampled_from([None, "ErrImagePull"])))
        )
    return PodRow(
        uid=uid,
        namespace=namespace,
        name=name,
        resource_version=str(draw(st.integers(1, 10**6))),
        labels={"app": draw(st.sampled_from(["a", "b"]))},
        node=draw(st.sampled_from([None, "n1", "n2"])),
        deployment=draw(st.sampled_from([None, "web", "api"])),
        phase=phase,
        ready=draw(st.booleans()),
        status=draw(
            st.sampled_from(["Running", "Pending", "CrashLoopBackOff", "Completed", "Terminating"])
        ),
        containers=tuple(containers),
        restarts=restarts,
        cpu_request_m=draw(st.sampled_from([0, 100, 250])),
        memory_request_bytes=draw(st.sampled_from([0, 2**20])),
        deletion_at=draw(st.sampled_from([None, None, "2024-05-01T10:00:00Z"])),
        obj=draw(st.binary(max_size=8)),
    )


@st.composite
def deployment_rows(draw: st.DrawFn) -> DeploymentRow:
    uid = draw(st.sampled_from(DEPLOYMENT_UIDS))
    replicas = draw(st.integers(0, 3))
    available = draw(st.integers(0, replicas))
    return DeploymentRow(
        uid=uid,
        namespace="ns-a",
        name=uid,
        resource_version=str(draw(st.integers(1, 10**6))),
        generation=draw(st.integers(1, 3)),
        observed_generation=draw(st.integers(1, 3)),
        paused=draw(st.booleans()),
        replicas=replicas,
        ready_replicas=available,
        available_replicas=available,
        updated_replicas=draw(st.integers(0, replicas)),
        conditions={
            "Available": Condition(status=draw(st.sampled_from(["True", "False"]))),
            "Progressing": Condition(status=draw(st.sampled_from(["True", "False"]))),
        },
        status=draw(st.sampled_from(["Available", "Progressing", "Unavailable"])),
    )


@st.composite
def node_rows(draw: st.DrawFn) -> NodeRow:
    uid = draw(st.sampled_from(NODE_UIDS))
    ready = draw(st.sampled_from(["True", "True", "False", "Unknown"]))
    return NodeRow(
        uid=uid,
        name=uid,
        resource_version=str(draw(st.integers(1, 10**6))),
        ready=ready,
        conditions={
            "Ready": Condition(status=ready),
            "MemoryPressure": Condition(status=draw(st.sampled_from(["False", "True"]))),
        },
        unschedulable=draw(st.booleans()),
        status="Ready" if ready == "True" else "NotReady",
        cpu_allocatable_m=draw(st.sampled_from([0, 200, 4000])),
        memory_allocatable_bytes=2**30,
    )


ROWS: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.POD: pod_rows(),
    Kind.DEPLOYMENT: deployment_rows(),
    Kind.NODE: node_rows(),
}
UIDS = {Kind.POD: POD_UIDS, Kind.DEPLOYMENT: DEPLOYMENT_UIDS, Kind.NODE: NODE_UIDS}


@st.composite
def operations(draw: st.DrawFn) -> tuple[Any, ...]:
    kind = draw(st.sampled_from([Kind.POD, Kind.POD, Kind.POD, Kind.DEPLOYMENT, Kind.NODE]))
    what = draw(
        st.sampled_from(["put", "put", "put", "put", "delete", "replace", "stream", "flush"])
    )
    if what == "put":
        return ("put", kind, draw(st.sampled_from(["ADDED", "MODIFIED"])), draw(ROWS[kind]))
    if what == "delete":
        uid = draw(st.sampled_from(UIDS[kind]))
        return ("delete", kind, uid)
    if what == "replace":
        rows = draw(st.lists(ROWS[kind], max_size=4, unique_by=lambda r: str(r.uid)))
        return ("replace", kind, rows, str(draw(st.integers(1, 99))))
    if what == "stream":
        # A streamed relist; `restart` lists some rows, then starts over (a 410 mid-list).
        rows = draw(st.lists(ROWS[kind], max_size=4, unique_by=lambda r: str(r.uid)))
        aborted = draw(st.lists(ROWS[kind], max_size=2, unique_by=lambda r: str(r.uid)))
        return ("stream", kind, rows, str(draw(st.integers(1, 99))), aborted)
    return ("flush",)


class Model:
    """The reference: dicts, and transitions from the pure rules, one operation at a time."""

    def __init__(self) -> None:
        self.objects: dict[Kind, dict[str, Row]] = {k: {} for k in Kind}
        self.expected: list[tuple[Any, ...]] = []

    def _emit(self, kind: Kind, row: Row, changes: Any) -> None:
        for c in changes:
            self.expected.append(
                (kind, row.uid, row.namespace, row.name, c.field, c.old, c.new, c.severity)
            )

    def upsert(self, kind: Kind, row: Row) -> None:
        held = self.objects[kind]
        for other in list(held.values()):
            if other.uid != row.uid and (other.namespace, other.name) == (row.namespace, row.name):
                self.delete(kind, other.uid)
        old = held.get(row.uid)
        sig = signature(kind, row)
        if old is None:
            self._emit(kind, row, first_sight_changes(kind, sig, row))
        else:
            self._emit(kind, row, changes_between(kind, signature(kind, old), sig, row))
        held[row.uid] = row

    def delete(self, kind: Kind, uid: str) -> None:
        old = self.objects[kind].pop(uid, None)
        if old is not None:
            self._emit(kind, old, [deletion_change(kind, old.status)])

    def replace(self, kind: Kind, rows: list[Row]) -> None:
        for row in rows:
            self.upsert(kind, row)
        keep = {r.uid for r in rows}
        for uid in [u for u in self.objects[kind] if u not in keep]:
            self.delete(kind, uid)


def _projection(t: Transition) -> tuple[Any, ...]:
    return (t.kind, t.uid, t.namespace, t.name, t.field, t.old, t.new, t.severity)


async def _all_rows(store: Any, kind: Kind) -> dict[str, Row]:
    out: dict[str, Row] = {}
    cursor = None
    while True:
        page = await store.reader.list_objects(kind, limit=2, cursor=cursor, include_obj=True)
        out.update({r.uid: r for r in page.items})
        cursor = page.next_cursor
        if cursor is None:
            return out


def _expected_totals(pods: dict[str, PodRow]) -> dict[str, Any]:
    live = [p for p in pods.values() if p.phase not in ("Succeeded", "Failed")]
    return {
        "pods": len(pods),
        "ready": sum(p.ready for p in pods.values()),
        "restarts": sum(p.restarts for p in pods.values()),
        "cpu_request_m": sum(p.cpu_request_m for p in live),
        "memory_request_bytes": sum(p.memory_request_bytes for p in live),
        "phases": dict(Counter(p.phase for p in pods.values())),
        "statuses": dict(Counter(p.status for p in pods.values())),
    }


def _view_totals(totals: Any) -> dict[str, Any]:
    d = totals.as_dict()
    return {
        k: d[k]
        for k in (
            "pods",
            "ready",
            "restarts",
            "cpu_request_m",
            "memory_request_bytes",
            "phases",
            "statuses",
        )
    }


def _check_view(store: Any, model: Model) -> None:
    view = store.view
    pods: dict[str, PodRow] = {
        u: p for u, p in model.objects[Kind.POD].items() if isinstance(p, PodRow)
    }
    assert _view_totals(view.cluster) == _expected_totals(pods)
    for ns in {p.namespace for p in pods.values()} | set(view.by_namespace):
        members = {u: p for u, p in pods.items() if p.namespace == ns}
        assert _view_totals(view.by_namespace[ns]) == _expected_totals(members)
    for node in {p.node for p in pods.values() if p.node} | set(view.by_node):
        members = {u: p for u, p in pods.items() if p.node == node}
        assert _view_totals(view.by_node[node]) == _expected_totals(members)
    assert view.node_statuses == dict(Counter(n.status for n in model.objects[Kind.NODE].values()))
    assert view.deployment_statuses == dict(
        Counter(d.status for d in model.objects[Kind.DEPLOYMENT].values())
    )
    for kind in Kind:
        assert view.objects(kind) == len(model.objects[kind])
        assert view.sync[kind].objects == len(model.objects[kind])


async def _run(ops: list[tuple[Any, ...]], batch_rows: int, directory: Path) -> None:
    model = Model()
    heard: list[Transition] = []
    store_settings = StoreSettings(batch_rows=batch_rows, batch_interval_s=0.002)
    path = directory / "state.db"
    async with open_store(path, settings=store_settings) as store:
        store.writer.subscribe(heard.extend)
        for op in ops:
            if op[0] == "put":
                _, kind, type_, row = op
                await store.writer.put(Delta(kind, type_, row))
                model.upsert(kind, row)
            elif op[0] == "delete":
                _, kind, uid = op
                template = next(iter(model.objects[kind].values()), None)
                row = model.objects[kind].get(uid) or template
                if row is None:
                    continue
                gone = (
                    row
                    if row.uid == uid
                    else type(row)(
                        uid=uid, namespace=row.namespace, name="gone", resource_version="1"
                    )
                )
                await store.writer.put(Delta(kind, "DELETED", gone))
                model.delete(kind, uid)
            elif op[0] == "replace":
                _, kind, rows, version = op
                await store.writer.replace(kind, rows, version)
                model.replace(kind, rows)
            elif op[0] == "stream":
                _, kind, rows, version, aborted = op
                await store.writer.replace_begin(kind)
                for row in aborted:  # a list that started over: these count as puts only
                    await store.writer.put(Delta(kind, "ADDED", row))
                    model.upsert(kind, row)
                if aborted:
                    await store.writer.replace_begin(kind)
                for row in rows:
                    await store.writer.put(Delta(kind, "ADDED", row))
                await store.writer.replace_end(kind, version)
                model.replace(kind, rows)
            else:
                await store.writer.flush()
        await store.writer.flush()

        for kind in Kind:
            assert await _all_rows(store, kind) == model.objects[kind], kind
        history = []
        before = None
        while True:
            page = await store.reader.history(limit=50, before_id=before)
            if not page:
                break
            history.extend(page)
            before = page[-1].id
        history.reverse()
        assert [_projection(t) for t in history] == model.expected
        assert heard == history  # subscribers heard exactly what history holds, ids included
        assert len({t.id for t in history}) == len(history)
        _check_view(store, model)

    async with open_store(path, settings=store_settings) as reopened:
        _check_view(reopened, model)
        for kind in Kind:
            assert await _all_rows(reopened, kind) == model.objects[kind]


@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(operations(), min_size=1, max_size=30), batch_rows=st.sampled_from([1, 3, 50]))
def test_store_converges_to_the_model(ops: list[tuple[Any, ...]], batch_rows: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        anyio.run(_run, ops, batch_rows, Path(directory))


def test_same_name_new_uid_evicts_the_old_object_with_a_deleted_transition(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_store(tmp_path / "s.db") as store:
            first = PodRow(
                uid="old",
                namespace="ns",
                name="web-0",
                resource_version="1",
                phase="Running",
                ready=True,
                status="Running",
            )
            second = PodRow(
                uid="new",
                namespace="ns",
                name="web-0",
                resource_version="9",
                phase="Running",
                ready=True,
                status="Running",
            )
            await store.writer.put(Delta(Kind.POD, "ADDED", first))
            got = await store.writer.apply([Delta(Kind.POD, "ADDED", second)])
            assert [(t.uid, t.field, t.old) for t in got] == [("old", "deleted", "Running")]
            page = await store.reader.list_pods()
            assert [p.uid for p in page.items] == ["new"]

    anyio.run(main)
