"""history_summary agrees with the history it summarizes, under every filter it takes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from store import Delta, Kind, Severity, Transition, open_store
from store.reader import Reader

from .factories import container, crash_looping, evolve, pod

pytestmark = pytest.mark.anyio


async def _all(reader: Reader, **filters: object) -> list[Transition]:
    return await reader.history(limit=1000, **filters)  # type: ignore[arg-type]


def _family(field: str) -> str:
    return "container/*/" + field.rsplit("/", 1)[-1] if field.startswith("container/") else field


async def test_summary_matches_the_history_for_each_filter(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        rows = [pod(f"web-{i}", containers=(container(restarts=0),), restarts=0) for i in range(6)]
        await store.writer.apply([Delta(Kind.POD, "ADDED", r) for r in rows])
        for round_ in range(1, 4):
            changed = []
            for i, row in enumerate(rows):
                if i % 2:
                    c = crash_looping(restarts=round_)
                    changed.append(evolve(row, containers=(c,), restarts=round_, ready=False))
                else:
                    changed.append(evolve(row, containers=(container(restarts=round_),)))
            await store.writer.apply([Delta(Kind.POD, "MODIFIED", r) for r in changed])
        reader = store.reader
        for filters in (
            {},
            {"since": 0.0},
            {"kind": Kind.POD, "namespace": "shop", "name": "web-1"},
            {"field": "restarts"},
            {"min_severity": Severity.CRITICAL},
        ):
            expected = await _all(reader, **filters)
            summary = await reader.history_summary(objects=3, **filters)  # type: ignore[arg-type]
            assert summary.total == len(expected), filters
            assert summary.by_kind == dict(Counter(t.kind.value for t in expected))
            assert summary.by_field == dict(Counter(_family(t.field) for t in expected))
            per_object: dict[str, list[Transition]] = {}
            for t in expected:
                per_object.setdefault(t.name, []).append(t)
            assert summary.objects == len(per_object)
            assert len(summary.by_object) == min(3, len(per_object))
            for o in summary.by_object:
                mine = per_object[o.name]
                assert o.changes == len(mine)
                assert o.latest == max(mine, key=lambda t: t.id or 0)
                assert o.fields == sorted({t.field for t in mine})
                assert o.worst_severity is max((t.severity for t in mine), key=lambda s: s.rank)
