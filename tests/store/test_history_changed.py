"""Events one history never sends make the kind stale at once and ask for a relist.

A MODIFIED or DELETED for a uid the store does not hold, while another uid
holds that namespace/name: the API server's history changed under the watch
(see `store.memory.ObjectMemory._history_changed`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from store import Delta, Kind, open_store

from .factories import evolve, pod

pytestmark = pytest.mark.anyio


async def test_a_modified_event_for_a_new_uid_of_a_held_name_makes_the_kind_stale(
    tmp_path: Path,
) -> None:
    told: list[tuple[Kind, str]] = []
    async with open_store(tmp_path / "state.db") as store:
        writer = store.writer
        writer.on_history_changed(lambda kind, error: told.append((kind, error)))
        old = pod("web-1")
        await writer.replace(Kind.POD, [old, pod("web-2")], "100")
        await writer.flush()
        assert store.reader.sync_states()[Kind.POD].error is None

        other = evolve(old, uid="uid-of-another-history")
        await writer.put_many([Delta(Kind.POD, "MODIFIED", other)])
        await writer.put_many([Delta(Kind.POD, "MODIFIED", evolve(pod("web-2"), uid="uid-2b"))])
        await writer.sync(Kind.POD, resource_version="130")  # a bookmark of the old stream
        await writer.flush()

        state = store.reader.sync_states()[Kind.POD]
        assert state.error is not None
        assert "history changed" in state.error
        assert "uid-of-another-history" in state.error
        assert [kind for kind, _ in told] == [Kind.POD]  # once, until the kind is listed
        served = await store.reader.get_pod("shop", "web-1")
        assert served is not None
        assert served.uid == "uid-of-another-history"

        await writer.replace(Kind.POD, [other], "140")
        await writer.flush()
        assert store.reader.sync_states()[Kind.POD].error is None

        # Listed again: a second sign is told again.
        await writer.put_many([Delta(Kind.POD, "DELETED", old)])
        await writer.flush()
        assert [kind for kind, _ in told] == [Kind.POD, Kind.POD]
        assert store.reader.sync_states()[Kind.POD].error is not None


async def test_one_history_deleting_and_creating_a_name_again_is_not_a_sign(
    tmp_path: Path,
) -> None:
    told: list[tuple[Kind, str]] = []
    async with open_store(tmp_path / "state.db") as store:
        writer = store.writer
        writer.on_history_changed(lambda kind, error: told.append((kind, error)))
        old = pod("web-1")
        await writer.replace(Kind.POD, [old], "100")
        again = evolve(old, uid="uid-web-1-again")
        await writer.put_many(
            [
                Delta(Kind.POD, "DELETED", old),
                Delta(Kind.POD, "ADDED", again),
                Delta(Kind.POD, "MODIFIED", evolve(again)),
                Delta(Kind.POD, "DELETED", pod("never-seen")),  # a name nobody holds
            ]
        )
        # A list's rows (ADDED) replace a name's holder without a DELETED: no sign either.
        await writer.replace(Kind.POD, [evolve(again, uid="uid-web-1-relisted")], "120")
        await writer.flush()
        assert told == []
        assert store.reader.sync_states()[Kind.POD].error is None
