"""docs/metrics.md is what the code generates (like kube-state-metrics' `make doccheck`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpserver.ksm.families import KSM, SUMMARY
from tests.metrics.reference import COMMAND, _agent_families, render

pytestmark = pytest.mark.anyio

PAGE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


async def test_docs_metrics_md_matches_the_code() -> None:
    expected = render(await _agent_families())
    assert PAGE.exists(), f"docs/metrics.md is missing; write it with: {COMMAND}"
    assert PAGE.read_text() == expected, f"docs/metrics.md is stale; regenerate it with: {COMMAND}"


def test_the_page_names_every_cluster_family() -> None:
    text = PAGE.read_text()
    for name in (*KSM, *SUMMARY):
        assert f"| `{name}` |" in text, name
