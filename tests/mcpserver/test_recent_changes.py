"""recent_changes answers "what changed in the last 10 minutes?" with thousands of changes.

A real agent on the simulator, hundreds of churn steps, the SDK client. The
expected answer is built from the transitions the writer published to a
subscriber (the callbacks' path, not the history table): exact totals over
the whole window, counts by kind, severity and field, one entry per object
with its first/last time, count and latest change, in a bounded answer, with
every change reachable by paging.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcpserver.surface.freshness import iso
from store import Transition
from tests.mcpserver.conftest import mcp_client, start_agent, text_of
from tests.mcpserver.findings_kit import converged, pages

pytestmark = pytest.mark.anyio

SHAPE = {"nodes": 6, "deployments": 12, "pods_per_deployment": 3, "churn": 0.0}
_RANK = {"info": 0, "warning": 1, "critical": 2}


def _family(field: str) -> str:
    return "container/*/" + field.rsplit("/", 1)[-1] if field.startswith("container/") else field


async def _churn(scenario: Any, steps: int) -> None:
    for i in range(steps):
        scenario.step()
        if i % 10 == 0:
            await anyio.lowlevel.checkpoint()


async def test_what_changed_in_the_window_is_counted_grouped_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_agent(tmp_path, shape=SHAPE) as agent:
        scenario = agent.scenario
        assert scenario is not None
        assert agent.url is not None
        published: list[Transition] = []
        agent.store.writer.subscribe(published.extend)
        await _churn(scenario, 60)
        await converged(agent)
        window_start = time.time()
        await _churn(scenario, 240)
        # Stop the simulated cluster's clock (crash-loop backoffs keep firing at churn 0),
        # so the answers and the expectation are of one moment however slow the machine.
        monkeypatch.setattr(scenario, "advance", lambda seconds: None)
        await converged(agent)
        agent.answers.clock = lambda: window_start + 300  # "the last 10 minutes", from here
        async with mcp_client(agent.url) as client:
            for _attempt in range(5):  # until no commit lands while we ask
                version = agent.store.view.version
                result = await client.call_tool("recent_changes", {"since": "10m", "limit": 50})
                since_start = await client.call_tool(
                    "recent_changes", {"since": iso(window_start), "limit": 50}
                )
                every = await pages(
                    client, "recent_changes", {"since": iso(window_start), "limit": 200}, "items"
                )
                if agent.store.view.version == version:
                    break
            else:
                pytest.fail("the store kept changing while recent_changes was asked")
        expected = [t for t in published if t.at >= window_start]
        assert len(expected) >= 2000  # thousands of changes in the window
        assert len(expected) < len(published)  # and some before it
        assert not result.is_error, text_of(result)
        answer = since_start.structured_content
        assert answer is not None
        # Totals for the whole window, not the page.
        assert answer["total"] == len(expected)
        assert answer["by_kind"] == dict(Counter(t.kind.value for t in expected))
        assert {k: v for k, v in answer["by_severity"].items() if v} == dict(
            Counter(t.severity.value for t in expected)
        )
        assert answer["by_field"] == dict(Counter(_family(t.field) for t in expected))
        per_object: dict[tuple[str, str, str], list[Transition]] = {}
        for t in expected:
            per_object.setdefault((t.kind.value, t.namespace, t.name), []).append(t)
        assert answer["objects"] == len(per_object)
        # Grouped per object, worst first, each entry exact.
        groups = answer["by_object"]
        assert 0 < len(groups) <= 20
        ranks = [_RANK[g["worst_severity"]] for g in groups]
        assert ranks == sorted(ranks, reverse=True)
        for g in groups:
            changes = per_object[(g["kind"], g["namespace"], g["name"])]
            assert g["changes"] == len(changes)
            assert g["worst_severity"] == max(
                (t.severity.value for t in changes), key=_RANK.__getitem__
            )
            latest = max(changes, key=lambda t: t.id or 0)
            assert (g["latest"]["field"], g["latest"]["old"], g["latest"]["new"]) == (
                latest.field,
                latest.old,
                latest.new,
            )
            assert g["first_at"] == iso(min(t.at for t in changes))
            assert g["last_at"] == iso(max(t.at for t in changes))
        # The detailed list: newest first, paged, every change once.
        assert len(answer["items"]) == 50
        assert answer["next_cursor"]
        assert len(every) == len(expected)
        # Bounded whatever the window holds.
        assert len(json.dumps(answer)) < 64_000
        assert len(text_of(since_start)) < 8_000
        summary = text_of(since_start).splitlines()[0]
        assert summary.startswith(f"{len(expected)} changes to {len(per_object)} objects")
        # "10m" covers the whole run, the window's start included.
        ten = result.structured_content
        assert ten is not None
        assert ten["total"] >= len(published)
