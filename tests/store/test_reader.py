"""Reads: filters, cursor pagination, history, counts, sync state, guarded SQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from store import (
    Delta,
    InvalidQuery,
    InvalidSelector,
    Kind,
    QueryTimeout,
    Severity,
    Store,
    open_store,
)

from .factories import container, crash_looping, deployment, evolve, node, node_conditions, pod

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(tmp_path / "state.db") as s:
        rows = [
            Delta(Kind.NODE, "ADDED", node("node-a")),
            Delta(
                Kind.NODE,
                "ADDED",
                node("node-b", conditions=node_conditions(Ready="False"), status="NotReady"),
            ),
            Delta(Kind.DEPLOYMENT, "ADDED", deployment("web")),
            Delta(Kind.DEPLOYMENT, "ADDED", deployment("api", namespace="core")),
        ]
        for i in range(12):
            rows.append(
                Delta(
                    Kind.POD,
                    "ADDED",
                    pod(
                        f"web-{i:02d}",
                        node="node-a" if i % 2 else "node-b",
                        labels={"app": "web", "track": "canary" if i < 3 else "stable"},
                    ),
                )
            )
        rows.append(
            Delta(
                Kind.POD,
                "ADDED",
                pod("api-0", namespace="core", deployment="api", labels={"app": "api"}),
            )
        )
        rows.append(
            Delta(
                Kind.POD,
                "ADDED",
                pod(
                    "job-0",
                    phase="Succeeded",
                    ready=False,
                    status="Completed",
                    deployment=None,
                    owner_kind="Job",
                    labels={},
                ),
            )
        )
        await s.writer.apply(rows)
        yield s


async def test_list_filters(store: Store) -> None:
    r = store.reader
    assert len((await r.list_pods(namespace="shop", limit=100)).items) == 13
    assert [p.name for p in (await r.list_pods(namespace="core")).items] == ["api-0"]
    assert len((await r.list_pods(node="node-a")).items) == 8  # 6 web pods, api-0, job-0
    assert [p.name for p in (await r.list_pods(phase="Succeeded")).items] == ["job-0"]
    assert [p.name for p in (await r.list_pods(status=["Completed"])).items] == ["job-0"]
    assert len((await r.list_pods(selector="app=web,track=canary")).items) == 3
    assert len((await r.list_pods(selector="app=web,track notin (canary)")).items) == 9
    assert [p.name for p in (await r.list_pods(selector="!app")).items] == ["job-0"]
    assert [p.name for p in (await r.list_pods(deployment="api", namespace="core")).items] == [
        "api-0"
    ]
    assert [p.name for p in (await r.list_pods(owner_kind="Job")).items] == ["job-0"]
    assert [n.name for n in (await r.list_nodes(ready="False")).items] == ["node-b"]
    assert [d.name for d in (await r.list_deployments(namespace="core")).items] == ["api"]


async def test_lists_leave_obj_out_unless_asked_and_get_includes_it(store: Store) -> None:
    listed = (await store.reader.list_pods(namespace="core")).items[0]
    assert listed.obj == b""
    with_obj = (await store.reader.list_pods(namespace="core", include_obj=True)).items[0]
    got = await store.reader.get_pod("core", "api-0")
    assert got is not None
    assert got.obj == with_obj.obj
    assert got.obj.startswith(b'{"kind":"Pod"')
    assert got == with_obj
    assert await store.reader.get_pod("core", "missing") is None
    n = await store.reader.get_node("node-b")
    assert n is not None
    assert n.ready == "False"
    d = await store.reader.get_deployment("shop", "web")
    assert d is not None
    assert d.replicas == 3


async def test_cursor_pagination_is_stable_while_objects_come_and_go(store: Store) -> None:
    first = await store.reader.list_pods(namespace="shop", limit=5)
    assert [p.name for p in first.items] == ["job-0", "web-00", "web-01", "web-02", "web-03"]
    # Objects before the cursor go and new ones come after it: nothing skipped, nothing twice.
    await store.writer.apply(
        [
            Delta(Kind.POD, "DELETED", first.items[0]),
            Delta(Kind.POD, "DELETED", first.items[1]),
            Delta(Kind.POD, "ADDED", pod("web-99")),
        ]
    )
    names = [p.name for p in first.items]
    cursor = first.next_cursor
    while cursor:
        page = await store.reader.list_pods(namespace="shop", limit=5, cursor=cursor)
        names += [p.name for p in page.items]
        cursor = page.next_cursor
    assert names == ["job-0"] + [f"web-{i:02d}" for i in range(12)] + ["web-99"]
    across = []
    cursor = None
    while True:
        page = await store.reader.list_pods(limit=4, cursor=cursor)
        across += [(p.namespace, p.name) for p in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert across == sorted(across)
    assert len(across) == len(set(across)) == 13


async def test_bad_requests_are_clear_errors(store: Store) -> None:
    with pytest.raises(InvalidQuery, match="cursor"):
        await store.reader.list_pods(cursor="not-a-cursor")
    page = await store.reader.list_nodes(limit=1)
    assert page.next_cursor is not None
    with pytest.raises(InvalidQuery, match="Node list"):
        await store.reader.list_pods(cursor=page.next_cursor)
    with pytest.raises(InvalidSelector):
        await store.reader.list_pods(selector="app in ()")
    with pytest.raises(InvalidQuery, match="limit"):
        await store.reader.list_pods(limit=0)
    with pytest.raises(InvalidQuery, match="cannot group"):
        await store.reader.count(Kind.POD, group_by="obj")
    with pytest.raises(InvalidQuery, match="severity"):
        await store.reader.history(min_severity="loud")


async def test_history_filters_newest_first(store: Store) -> None:
    start = time.time() - 1
    web = await store.reader.get_pod("shop", "web-03")
    assert web is not None
    await store.writer.apply(
        [
            Delta(
                Kind.POD,
                "MODIFIED",
                evolve(web, containers=(crash_looping(restarts=1),), restarts=1, ready=False),
            )
        ]
    )
    await store.writer.apply([Delta(Kind.POD, "DELETED", web)])
    everything = await store.reader.history(kind=Kind.POD, namespace="shop", name="web-03")
    assert everything[0].field == "deleted"
    assert everything == sorted(everything, key=lambda t: -(t.id or 0))
    serious = await store.reader.history(name="web-03", min_severity=Severity.CRITICAL)
    assert {t.field for t in serious} == {"container/app/waiting_reason"}
    recent = await store.reader.history(since=start, field="restarts")
    assert [(t.old, t.new) for t in recent] == [("0", "1")]
    # The node that was NotReady on first sight is in history as a critical first sighting.
    nodes = await store.reader.history(kind=Kind.NODE)
    assert [(t.name, t.field, t.old, t.new) for t in nodes] == [
        ("node-b", "condition/Ready", None, "False")
    ]
    paged = await store.reader.history(limit=1)
    older = await store.reader.history(limit=1, before_id=paged[0].id)
    assert older[0].id is not None
    assert paged[0].id is not None
    assert older[0].id < paged[0].id


async def test_counts_and_group_bys(store: Store) -> None:
    total = await store.reader.count(Kind.POD)
    assert total[0].count == 14
    by = await store.reader.count(Kind.POD, group_by=("namespace", "phase"))
    assert {(g.key["namespace"], g.key["phase"]): g.count for g in by} == {
        ("shop", "Running"): 12,
        ("core", "Running"): 1,
        ("shop", "Succeeded"): 1,
    }
    assert store.counts()["pods_by_phase"] == {"Running": 13, "Succeeded": 1}
    nodes = await store.reader.count(Kind.NODE, group_by="ready")
    assert {g.key["ready"]: g.count for g in nodes} == {"True": 1, "False": 1}


async def test_sync_state_in_order_with_deltas(store: Store) -> None:
    await store.writer.sync(Kind.POD, error="watch failed: 500 Internal Server Error")
    await store.writer.flush()
    assert store.reader.sync_states()[Kind.POD].error == "watch failed: 500 Internal Server Error"
    await store.writer.replace(Kind.POD, [pod("only")], "4242")
    await store.writer.sync(Kind.POD, resource_version="4300")
    await store.writer.flush()
    state = store.reader.sync_states()[Kind.POD]
    assert (state.resource_version, state.synced, state.objects, state.error) == (
        "4300",
        True,
        1,
        None,
    )
    assert state.last_list_at is not None
    assert state.last_event_at is not None
    from_db = {s.kind: s for s in await store.reader.sync_states_from_db()}
    assert from_db[Kind.POD] == state


async def test_guarded_query_reads(store: Store) -> None:
    result = await store.reader.query(
        "SELECT namespace, count(*) AS n FROM pods WHERE phase = ? "
        "GROUP BY namespace ORDER BY n DESC",
        ("Running",),
    )
    assert result.columns == ["namespace", "n"]
    assert result.rows == [["shop", 12], ["core", 1]]
    labels = await store.reader.query(
        "SELECT json_extract(labels, '$.track') FROM pods WHERE name = 'web-00'"
    )
    assert labels.rows == [["canary"]]
    capped = await store.reader.query("SELECT name FROM pods ORDER BY name", max_rows=3)
    assert capped.truncated
    assert len(capped.rows) == 3
    blob = await store.reader.query("SELECT obj FROM pods WHERE name = 'api-0'")
    assert blob.rows[0][0].startswith('{"kind":"Pod"')


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM pods",
        "UPDATE pods SET phase = 'x'",
        "INSERT INTO sync_state(kind) VALUES ('x')",
        "DROP TABLE pods",
        "CREATE TABLE x (a)",
        "PRAGMA user_version",
        "PRAGMA writable_schema = 1",
        "ATTACH DATABASE '/tmp/other.db' AS other",
        "SELECT load_extension('x')",
        "SELECT zeroblob(1000000000)",
        "SELECT 1; DELETE FROM pods",
        "VACUUM",
    ],
)
async def test_guarded_query_refuses_anything_but_reading(store: Store, sql: str) -> None:
    with pytest.raises(InvalidQuery):
        await store.reader.query(sql)
    assert (await store.reader.count(Kind.POD))[0].count == 14


async def test_guarded_query_time_cap_and_syntax(store: Store) -> None:
    with anyio.fail_after(10):
        with pytest.raises(QueryTimeout, match="time cap"):
            await store.reader.query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                "SELECT max(x) FROM c",
                timeout_s=0.2,
            )
    with pytest.raises(InvalidQuery, match="SQL error"):
        await store.reader.query("SELEKT 1")
    with pytest.raises(InvalidQuery, match="no such table"):
        await store.reader.query("SELECT * FROM secrets")
    # The connection is still usable after an interrupted query.
    assert (await store.reader.query("SELECT count(*) FROM nodes")).rows == [[2]]


async def test_readers_do_not_wait_for_a_big_write(store: Store) -> None:
    many = [pod(f"bulk-{i:05d}", namespace="bulk") for i in range(3000)]
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.writer.replace, Kind.POD, many, "77")
        # While the relist is prepared and written, reads keep answering from the last commit.
        page = await store.reader.list_pods(namespace="core")
        assert [p.name for p in page.items] == ["api-0"]
    await store.writer.flush()
    assert (await store.reader.count(Kind.POD))[0].count == 3000


async def test_containers_round_trip(store: Store) -> None:
    row = pod(
        "multi",
        containers=(
            container(
                "init-db", init=True, state="terminated", terminated_reason="Completed", exit_code=0
            ),
            container("app"),
            container("proxy", image="envoyproxy/envoy:v1.30"),
        ),
    )
    await store.writer.apply([Delta(Kind.POD, "ADDED", row)])
    assert await store.reader.get_pod("shop", "multi") == row
