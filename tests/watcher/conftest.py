"""Fixtures for the watcher tests: the real simulator on loopback, small timings.

`MemorySink` is a complete DeltaSink over dicts (replace included), used where
a test is about what the informers deliver rather than about SQLite; it wakes
waiters on every change so tests await conditions instead of sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from simulator.server import Simulator
from store import Store, StoreSettings, open_store
from store.model import Delta, Kind, Row
from watcher import Informers, WatchSettings, load_connection

# Small enough that every fault resolves in well under a second.
FAST = WatchSettings(
    list_page_size=50,
    list_request_timeout=5.0,
    watch_timeout_min=30.0,
    watch_timeout_max=40.0,
    inactivity_timeout=0.8,
    connect_timeout=2.0,
    min_watch_duration=0.05,
    backoff_initial=0.02,
    backoff_max=0.2,
    backoff_reset_after=5.0,
    retry_after_max=1.0,
    progress_log_interval=1.0,
    link_sync_wait=2.0,
)


class MemorySink:
    """A DeltaSink over dicts that records what it was given."""

    def __init__(self) -> None:
        self.rows: dict[Kind, dict[str, Row]] = {k: {} for k in Kind}
        self.deltas: list[Delta] = []
        self.replaces: list[tuple[Kind, int, str]] = []
        self.syncs: list[tuple[Kind, dict[str, Any]]] = []
        self._relisting: dict[Kind, set[str]] = {}
        self.streamed: dict[Kind, int] = dict.fromkeys(Kind, 0)  # rows put inside a relist
        self._changed = anyio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def put(self, delta: Delta) -> None:
        seen = self._relisting.get(delta.kind)
        if seen is None:
            self.deltas.append(delta)  # watch events only: listed rows count as a replace
        elif delta.type != "DELETED":
            seen.add(delta.row.uid)
            self.streamed[delta.kind] += 1
        table = self.rows[delta.kind]
        if delta.type == "DELETED":
            table.pop(delta.row.uid, None)
        else:
            table[delta.row.uid] = delta.row
        self._touch()

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        for delta in deltas:
            await self.put(delta)

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None:
        self.replaces.append((kind, len(rows), resource_version))
        self.rows[kind] = {r.uid: r for r in rows}
        self._touch()

    async def replace_begin(self, kind: Kind) -> None:
        self._relisting[kind] = set()

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        seen = self._relisting.pop(kind, set())
        self.rows[kind] = {u: r for u, r in self.rows[kind].items() if u in seen}
        self.replaces.append((kind, len(seen), resource_version))
        self._touch()

    async def sync(self, kind: Kind, **fields: Any) -> None:
        self.syncs.append((kind, fields))
        self._touch()

    async def until(self, condition: Callable[[], bool], *, within: float = 5.0) -> None:
        with anyio.fail_after(within):
            while not condition():
                await self._changed.wait()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(bookmark_interval=0.3, window=2000) as s:
        yield s


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="watcher")


@asynccontextmanager
async def informing(
    sim: Simulator, sink: Any, *, settings: WatchSettings = FAST, **kwargs: Any
) -> AsyncIterator[Informers]:
    """Informers against `sim` running in the background, synced on entry."""
    conn = await load_connection(server=sim.url)
    informers = Informers(conn, sink, settings=settings, **kwargs)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(informers.run)
            with anyio.fail_after(10):
                await informers.wait_synced()
            yield informers
            tg.cancel_scope.cancel()
    finally:
        await conn.close()


class NotifyingSink:
    """Forwards to the store's writer and wakes waiters after each hand-over.

    Lets a test await "something new reached the store" and then `flush()`,
    instead of polling the database on a timer.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self._changed = anyio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def put(self, delta: Delta) -> None:
        await self.writer.put(delta)
        self._touch()

    async def put_many(self, deltas: Sequence[Delta]) -> None:
        await self.writer.put_many(deltas)
        self._touch()

    async def replace(self, kind: Kind, rows: Sequence[Row], resource_version: str) -> None:
        await self.writer.replace(kind, rows, resource_version)
        self._touch()

    async def replace_begin(self, kind: Kind) -> None:
        await self.writer.replace_begin(kind)

    async def replace_end(self, kind: Kind, resource_version: str) -> None:
        await self.writer.replace_end(kind, resource_version)
        self._touch()

    async def sync(self, kind: Kind, **fields: Any) -> None:
        await self.writer.sync(kind, **fields)
        self._touch()

    async def changed(self) -> None:
        await self._changed.wait()

    def marker(self) -> anyio.Event:
        """The event the next hand-over sets: take it *before* an awaited check, then wait."""
        return self._changed


async def store_rows(reader: Any, kind: Kind) -> dict[str, Row]:
    """Every row the store holds for `kind`, through its public reader."""
    lister = {
        Kind.POD: reader.list_pods,
        Kind.DEPLOYMENT: reader.list_deployments,
        Kind.NODE: reader.list_nodes,
    }[kind]
    out: dict[str, Row] = {}
    cursor = None
    while True:
        page = await lister(limit=1000, cursor=cursor)
        out.update((r.uid, r) for r in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return out


class _ChunkedBody:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


class ChunkedResponse:
    """A stand-in for an HTTP response whose body arrives as exactly these chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _ChunkedBody(chunks)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store on a file of its own, committing every 5 ms (tests wait on commits)."""
    async with open_store(
        tmp_path / "state.db", settings=StoreSettings(batch_interval_s=0.005)
    ) as s:
        yield s
