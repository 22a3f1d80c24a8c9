"""Sync state belongs to the process: restored rows are unsynced, proof of life, errors, claims."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from store import ClaimVerdict, ClusterIdentity, Delta, Kind, open_store

from .factories import pod

pytestmark = pytest.mark.anyio

HERE = ClusterIdentity(server="https://10.0.0.1:6443", uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
THERE = ClusterIdentity(server="https://10.0.0.2:6443", uid="6fa459ea-ee8a-3ca4-894e-db77e160355e")


async def test_a_reopened_file_serves_its_rows_unsynced_and_dated(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with open_store(db) as store:
        await store.writer.replace(Kind.POD, [pod("web-1"), pod("web-2")], "100")
        await store.writer.flush()
        before = store.reader.sync_states()[Kind.POD]
        assert before.synced
        assert before.confirmed_at is not None
    async with open_store(db) as store:
        restored = store.reader.sync_states()[Kind.POD]
        assert not restored.synced  # another process listed it, not this one
        assert restored.objects == 2
        assert restored.restored_at == before.confirmed_at
        assert restored.confirmed_at == before.confirmed_at
        assert (await store.reader.get_pod("shop", "web-1")) is not None  # still served
        await store.writer.replace(Kind.POD, [pod("web-1")], "200")
        await store.writer.flush()
        listed = store.reader.sync_states()[Kind.POD]
        assert listed.synced
        assert listed.restored_at is None
        assert listed.confirmed_at is not None
        assert listed.confirmed_at > before.confirmed_at


async def test_proof_of_life_confirms_and_an_error_stands_until_the_watch_recovers(
    tmp_path: Path,
) -> None:
    async with open_store(tmp_path / "state.db") as store:
        writer = store.writer
        await writer.replace(Kind.POD, [pod("web-1")], "100")
        await writer.flush()
        listed = store.reader.sync_states()[Kind.POD].confirmed_at
        assert listed is not None

        await writer.sync(Kind.POD, error="watch stream silent for 15 s")
        await writer.flush()
        failing = store.reader.sync_states()[Kind.POD]
        assert failing.error == "watch stream silent for 15 s"
        assert failing.error_since is not None
        assert failing.confirmed_at == listed  # an error proves nothing alive

        await writer.put(Delta(Kind.POD, "MODIFIED", pod("web-1", restarts=1)))
        await writer.flush()
        after_event = store.reader.sync_states()[Kind.POD]
        assert after_event.confirmed_at is not None
        assert after_event.confirmed_at > listed
        assert after_event.error is not None  # an event of some stream: the error stands
        assert after_event.error_since == failing.error_since

        await writer.sync(Kind.POD, error="watch stream silent for 30 s")
        await writer.flush()
        assert store.reader.sync_states()[Kind.POD].error_since == failing.error_since

        await writer.sync(Kind.POD, resource_version="150")  # a bookmark, or a watch start
        await writer.flush()
        recovered = store.reader.sync_states()[Kind.POD]
        assert recovered.error is None
        assert recovered.error_since is None
        assert recovered.confirmed_at is not None
        assert recovered.confirmed_at > after_event.confirmed_at


async def test_claim_records_continues_and_moves_another_clusters_file_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "state.db"
    async with open_store(db) as store:
        assert (await store.claim(HERE)).verdict is ClaimVerdict.RECORDED
        await store.writer.replace(Kind.POD, [pod("web-1"), pod("web-2")], "100")
        await store.writer.put(Delta(Kind.POD, "DELETED", pod("web-2")))
        await store.writer.flush()
        assert len(await store.reader.history(since=0)) > 0
    async with open_store(db) as store:
        same = await store.claim(ClusterIdentity(server="https://elsewhere:6443", uid=HERE.uid))
        assert same.verdict is ClaimVerdict.SAME  # the uid decides, not the address
        assert store.view.objects(Kind.POD) == 1
    with caplog.at_level(logging.WARNING, logger="store"):
        async with open_store(db) as store:
            assert store.view.objects(Kind.POD) == 1  # served (stale) until the claim
            moved = await store.claim(THERE)
            assert moved.verdict is ClaimVerdict.MOVED_ASIDE
            assert moved.previous is not None
            assert moved.previous.uid == HERE.uid
            assert store.view.objects(Kind.POD) == 0
            assert await store.reader.get_pod("shop", "web-1") is None
            assert await store.reader.history(since=0) == []
            assert store.reader.sync_states()[Kind.POD].restored_at is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert HERE.uid in warnings[0]
    assert THERE.uid in warnings[0]
    assert moved.moved_to is not None
    assert str(moved.moved_to) in warnings[0]
    assert moved.moved_to.name.startswith("state.db.other-cluster-")
    with sqlite3.connect(moved.moved_to) as old:
        assert old.execute("SELECT count(*) FROM pods").fetchone()[0] == 1
    async with open_store(db) as store:
        assert (await store.claim(THERE)).verdict is ClaimVerdict.SAME


async def test_a_file_with_data_but_no_identity_is_moved_aside(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with open_store(db) as store:  # as an agent before identities wrote it
        await store.writer.replace(Kind.POD, [pod("web-1")], "100")
        await store.writer.flush()
    async with open_store(db) as store:
        outcome = await store.claim(HERE)
        assert outcome.verdict is ClaimVerdict.MOVED_ASIDE
        assert outcome.previous is None
        assert store.view.objects(Kind.POD) == 0


async def test_an_address_identity_matches_only_its_address(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    limited = ClusterIdentity(server="https://10.0.0.1:6443")  # kube-system not readable
    async with open_store(db) as store:
        assert (await store.claim(limited)).verdict is ClaimVerdict.RECORDED
        await store.writer.replace(Kind.POD, [pod("web-1")], "100")
        await store.writer.flush()
    async with open_store(db) as store:
        assert (await store.claim(HERE)).verdict is ClaimVerdict.SAME  # same address, uid learnt
    async with open_store(db) as store:
        # Role-limited again: only the address is comparable, and it matches.
        assert (await store.claim(limited)).verdict is ClaimVerdict.SAME
        assert store.cluster == HERE  # the uid learnt is kept
        outcome = await store.claim(ClusterIdentity(server="https://10.0.0.9:6443"))
        assert outcome.verdict is ClaimVerdict.MOVED_ASIDE
