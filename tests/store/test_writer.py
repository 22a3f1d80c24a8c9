"""The single writer: batching, latency, bad input, subscribers, retention, shutdown."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from store import (
    Delta,
    InvalidRow,
    Kind,
    PodRow,
    StoreClosed,
    StoreSettings,
    Transition,
    open_store,
)
from store.batch import write_batch

from .factories import container, crash_looping, deployment, evolve, node, pod, poison_pod_rows

pytestmark = pytest.mark.anyio


async def test_a_lone_event_reaches_subscribers_within_the_batch_interval(tmp_path: Path) -> None:
    settings = StoreSettings(batch_interval_s=0.02, batch_rows=1000)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod())])
        heard = anyio.Event()
        got: list[Transition] = []

        def subscriber(transitions: Sequence[Transition]) -> None:
            got.extend(transitions)
            heard.set()

        store.writer.subscribe(subscriber)
        broken = evolve(pod(), containers=(crash_looping(),), ready=False)
        await store.writer.put(Delta(Kind.POD, "MODIFIED", broken))
        # One row of a 1000-row batch is committed after the interval, with no more rows
        # coming: a writer waiting for a full batch would never publish it.
        with anyio.fail_after(5):
            await heard.wait()
        assert {t.field for t in got} >= {"container/app/waiting_reason", "ready"}


async def test_batches_hold_at_most_batch_rows(tmp_path: Path) -> None:
    settings = StoreSettings(batch_rows=10, batch_interval_s=0.05)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        sizes: list[int] = []
        store.writer.subscribe(lambda ts: sizes.append(len(ts)))
        for i in range(35):  # each first sighting of a crash-looping pod yields 3 transitions
            await store.writer.put(
                Delta(
                    Kind.POD, "ADDED", pod(f"p-{i:02d}", containers=(crash_looping(),), ready=False)
                )
            )
        await store.writer.flush()
        assert sum(sizes) == 35 * 3
        assert max(sizes) <= 10 * 3
        assert store.writer.committed_batches >= 4


async def test_bad_input_is_refused_clearly_and_loses_nothing_else(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        with pytest.raises(InvalidRow, match="needs a PodRow"):
            await store.writer.put(Delta(Kind.POD, "ADDED", node()))
        with pytest.raises(InvalidRow, match="event type"):
            await store.writer.put(Delta(Kind.POD, "BOOKMARK", pod()))  # type: ignore[arg-type]
        with pytest.raises(InvalidRow, match="no uid"):
            await store.writer.replace(Kind.NODE, [evolve(node(), uid="")], "1")
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod())])
        assert store.healthy
        assert store.view.objects(Kind.POD) == 1


async def test_values_sqlite_cannot_hold_are_stored_sanitized(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_store(tmp_path / "s.db") as store:
        huge = pod("huge", cpu_request_m=2**70, message="bad \ud800 surrogate")
        with caplog.at_level(logging.WARNING, logger="store"):
            await store.writer.apply(
                [Delta(Kind.POD, "ADDED", huge), Delta(Kind.POD, "ADDED", pod("fine"))]
            )
        got = await store.reader.get_pod("shop", "huge")
        assert got is not None
        assert got.cpu_request_m == 2**63 - 1
        assert got.message == "bad ? surrogate"
        assert await store.reader.get_pod("shop", "fine") is not None
        assert store.healthy
        assert any("sanitized" in r.getMessage() for r in caplog.records)


async def test_a_failing_subscriber_does_not_stop_the_writer(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        heard: list[Transition] = []

        def broken(_: Sequence[Transition]) -> None:
            raise RuntimeError("subscriber bug")

        store.writer.subscribe(broken)
        unsubscribe = store.writer.subscribe(heard.extend)
        await store.writer.apply([Delta(Kind.NODE, "ADDED", node(unschedulable=True))])
        assert [t.field for t in heard] == ["unschedulable"]
        unsubscribe()
        await store.writer.apply([Delta(Kind.NODE, "MODIFIED", node(unschedulable=False))])
        assert len(heard) == 1


async def test_a_raising_listener_is_logged_with_its_traceback_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_store(tmp_path / "s.db") as store:

        def broken(*_: object) -> None:
            raise RuntimeError("listener bug")

        store.writer.subscribe(broken)
        store.writer.on_commit(broken)
        with caplog.at_level(logging.ERROR, logger="store"):
            await store.writer.apply([Delta(Kind.NODE, "ADDED", node(unschedulable=True))])
        assert store.writer.stats.listener_errors == 2
        failures = [r for r in caplog.records if "listener bug" in str(r.exc_info)]
        assert len(failures) == 2
        assert all(r.levelno == logging.ERROR for r in failures)
        await store.writer.apply([Delta(Kind.NODE, "MODIFIED", node(unschedulable=False))])
        assert store.writer.stats.listener_errors == 4
        assert store.healthy


async def test_a_bug_in_the_write_path_is_loud_and_asks_for_a_relist(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a value to sanitize nor a disk to wait for: logged with its traceback, counted."""

    def write_with_a_bug(db: sqlite3.Connection, statements: list[tuple[str, list[Any]]]) -> None:
        if any("bug" in values for _text, values in statements):
            raise AttributeError("a bug in the write path")
        write_batch(db, statements)

    monkeypatch.setattr("store.connection.write_batch", write_with_a_bug)
    async with open_store(tmp_path / "s.db") as store:
        relist = anyio.Event()
        store.writer.on_reset(relist.set)
        with (
            caplog.at_level(logging.WARNING, logger="store"),
            pytest.raises(AttributeError, match="a bug in the write path"),
        ):
            await store.writer.apply([Delta(Kind.POD, "ADDED", pod("bug"))])
        with anyio.fail_after(5):
            await relist.wait()
        assert store.writer.stats.unexpected_errors == 1
        assert store.writer.stats.dropped_rows == 1
        logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is AttributeError]
        assert [r.levelno for r in logged] == [logging.ERROR]
        assert not any("sanitized" in r.getMessage() for r in caplog.records)
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod("fine"))])
        assert await store.reader.get_pod("shop", "fine") is not None
        assert await store.reader.get_pod("shop", "bug") is None


async def test_apply_returns_only_its_own_transitions(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        await store.writer.put(
            Delta(Kind.DEPLOYMENT, "ADDED", deployment(paused=True, updated_replicas=0))
        )
        mine = await store.writer.apply(
            [
                Delta(
                    Kind.POD,
                    "ADDED",
                    pod(
                        containers=(container(waiting_reason="ErrImagePull", ready=False),),
                        ready=False,
                    ),
                )
            ]
        )
        assert {t.kind for t in mine} == {Kind.POD}
        assert all(t.id is not None for t in mine)


async def test_relist_deletes_what_is_missing_in_one_transaction(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        await store.writer.replace(Kind.POD, [pod("a"), pod("b"), pod("c")], "10")
        await store.writer.flush()
        batches: list[list[tuple[str, str]]] = []
        store.writer.subscribe(lambda ts: batches.append([(t.name, t.field) for t in ts]))
        await store.writer.replace(
            Kind.POD, [pod("b"), pod("d", phase="Unknown", ready=False)], "20"
        )
        await store.writer.flush()
        assert batches == [[("d", "phase"), ("a", "deleted"), ("c", "deleted")]]
        assert [p.name for p in (await store.reader.list_pods()).items] == ["b", "d"]
        assert store.reader.sync_states()[Kind.POD].resource_version == "20"


async def test_streamed_relist_deletes_what_was_not_put_since_the_begin(tmp_path: Path) -> None:
    settings = StoreSettings(batch_rows=2, batch_interval_s=0.002)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        await store.writer.replace(Kind.POD, [pod("a"), pod("b"), pod("c")], "10")
        await store.writer.flush()
        heard: list[tuple[str, str]] = []
        store.writer.subscribe(lambda ts: heard.extend((t.name, t.field) for t in ts))
        await store.writer.replace_begin(Kind.POD)
        await store.writer.put(Delta(Kind.POD, "ADDED", pod("a")))  # a list that restarts
        await store.writer.replace_begin(Kind.POD)
        await store.writer.put(Delta(Kind.POD, "ADDED", pod("b")))
        await store.writer.put(Delta(Kind.POD, "ADDED", pod("d", phase="Unknown", ready=False)))
        await store.writer.flush()
        # Mid-relist, readers see old and new rows mixed, and nothing is deleted yet.
        assert [p.name for p in (await store.reader.list_pods()).items] == ["a", "b", "c", "d"]
        assert heard == [("d", "phase")]
        await store.writer.replace_end(Kind.POD, "20")
        await store.writer.flush()
        assert heard == [("d", "phase"), ("a", "deleted"), ("c", "deleted")]
        assert [p.name for p in (await store.reader.list_pods()).items] == ["b", "d"]
        state = store.reader.sync_states()[Kind.POD]
        assert (state.resource_version, state.synced, state.objects) == ("20", True, 2)


async def test_retention_by_age_and_by_count(tmp_path: Path) -> None:
    settings = StoreSettings(history_max_rows=5, history_max_age_s=3600, retention_interval_s=3600)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        row = pod()
        await store.writer.apply([Delta(Kind.POD, "ADDED", row)])
        for n in range(1, 9):
            row = evolve(row, containers=(container(restarts=n),), restarts=n)
            await store.writer.apply([Delta(Kind.POD, "MODIFIED", row)])
        assert len(await store.reader.history(limit=100)) == 8
        deleted = await store.writer.trim_history()
        kept = await store.reader.history(limit=100)
        assert deleted == 3
        assert [t.new for t in kept] == ["8", "7", "6", "5", "4"]
        deleted = await store.writer.trim_history(now=time.time() + 7200)
        assert deleted == 5
        assert await store.reader.history() == []
        # Ids keep increasing after the history was emptied.
        row = evolve(row, containers=(container(restarts=9),), restarts=9)
        again = await store.writer.apply([Delta(Kind.POD, "MODIFIED", row)])
        assert again[0].id == 9


async def test_closing_commits_what_was_queued_and_refuses_more(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with open_store(path) as store:
        for i in range(50):
            await store.writer.put(Delta(Kind.POD, "ADDED", pod(f"p-{i}")))
        writer = store.writer
    with pytest.raises(StoreClosed):
        await writer.put(Delta(Kind.POD, "ADDED", pod("late")))
    async with open_store(path) as store:
        assert store.view.objects(Kind.POD) == 50


async def test_writes_go_on_after_the_checkpoint_that_follows_a_big_batch(tmp_path: Path) -> None:
    """The checkpoint's result row is read: left unread, the next COMMIT would fail."""
    settings = StoreSettings(checkpoint_after_rows=100, batch_interval_s=0.01)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        # The first batch also starts the retention sweep: it is over before the big one.
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod("first"))])
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod(f"p-{i:03d}")) for i in range(150)])
        # A few batches: whichever of them follows the checkpoint on SQLite's thread.
        for i in range(5):
            with anyio.fail_after(10):
                await store.writer.apply([Delta(Kind.POD, "DELETED", pod(f"p-{i:03d}"))])
        assert store.view.objects(Kind.POD) == 146
        assert store.healthy


async def test_put_waits_when_the_queue_is_full(tmp_path: Path) -> None:
    settings = StoreSettings(queue_size=4, batch_rows=2)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        rows: list[PodRow] = [pod(f"p-{i:03d}") for i in range(100)]
        with anyio.fail_after(20):
            for r in rows:
                await store.writer.put(Delta(Kind.POD, "ADDED", r))
            await store.writer.flush()
        assert store.view.objects(Kind.POD) == 100


async def test_put_many_bigger_than_the_queue_goes_in_whole_and_in_order(tmp_path: Path) -> None:
    """One `put_many` is one queue item weighing its rows: never stuck above the bound."""
    settings = StoreSettings(queue_size=4, batch_rows=2)
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        rows: list[PodRow] = [pod(f"p-{i:03d}") for i in range(100)]
        with anyio.fail_after(20):
            for i in range(0, 100, 10):
                chunk = [Delta(Kind.POD, "ADDED", r) for r in rows[i : i + 10]]
                # Deleted in the same hand-over it was added in: order within it holds.
                chunk.append(Delta(Kind.POD, "DELETED", rows[i]))
                await store.writer.put_many(chunk)
            await store.writer.flush()
        assert store.view.objects(Kind.POD) == 90
        assert (await store.reader.get_pod("shop", "p-000")) is None
        assert (await store.reader.get_pod("shop", "p-001")) is not None


async def test_a_batch_that_cannot_be_written_asks_for_a_relist(tmp_path: Path) -> None:
    """Dropped changes are gone from the watch stream too: only a relist brings them back."""
    path = tmp_path / "s.db"
    async with open_store(path, settings=StoreSettings(batch_interval_s=0.01)) as store:
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod("fine"))])
        # A row SQLite refuses for a reason no retry or sanitizing can fix.
        poison_pod_rows(path)
        relist = anyio.Event()
        store.writer.on_reset(relist.set)
        with pytest.raises(Exception, match="poisoned row"):
            await store.writer.apply([Delta(Kind.POD, "ADDED", pod("poison"))])
        with anyio.fail_after(5):
            await relist.wait()
        assert (await store.reader.get_pod("shop", "fine")) is not None
