"""Prometheus' own tool accepts /metrics in both formats, in every mode.

- Text format 0.0.4: `promtool check metrics` (parse and lint) prints nothing.
- OpenMetrics 1.0.0: `promtool check metrics` parses the text format only,
  so the body goes through Prometheus' strict OpenMetrics parser instead, by
  way of `promtool tsdb create-blocks-from openmetrics` (a backfill, which
  wants a timestamp on each sample: one is appended to every sample line).

promtool comes with Debian's `prometheus` package (`apt-get install -y
prometheus`); where it is absent the tests skip and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcpserver.agent import Agent
from mcpserver.ksm.collector import ClusterCollector, MetricsMode
from store import Kind
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import PROMETHEUS_ACCEPT, Transitions, scrape

PROMTOOL = shutil.which("promtool")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        PROMTOOL is None,
        reason="promtool is not on PATH (Debian: apt-get install -y prometheus); "
        "/metrics was not checked with Prometheus' own parser and linter",
    ),
]

CLUSTER = {"nodes": 4, "deployments": 6, "pods_per_deployment": 2, "churn": 0.0}
TEXT_ACCEPT = "text/plain;version=0.0.4"
# (the mode setting, the object limit: None leaves 20,000; "below" puts it under the count)
MODES: list[tuple[MetricsMode, str | None]] = [
    ("objects", None),
    ("summary", None),
    ("auto", "below"),
]


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(
        tmp_path_factory.mktemp("promtool"), shape=CLUSTER, metrics_mode="objects"
    ) as running:
        # A crash-looping pod, so that summary mode's pod families have a pod to show.
        assert running.scenario is not None
        crashing = Transitions(running, lambda t: t.field.endswith("/waiting_reason"))
        running.scenario.step("crash_loop")
        running.scenario.advance(60)
        await crashing.wait()
        yield running


@pytest.fixture(params=MODES, ids=[f"{m}-{limit or 'default'}" for m, limit in MODES])
def mode(request: pytest.FixtureRequest, agent: Agent) -> Iterator[str]:
    cluster = agent.metrics.cluster
    assert isinstance(cluster, ClusterCollector)
    setting, limit = request.param
    cluster.mode = setting
    if limit == "below":
        cluster.objects_limit = sum(agent.store.view.objects(k) for k in Kind) - 1
    yield setting
    cluster.mode, cluster.objects_limit = "objects", 20_000


def _promtool(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], input=stdin.decode(), capture_output=True, text=True, timeout=120
    )


async def test_text_format_passes_promtool_check_metrics(agent: Agent, mode: str) -> None:
    response = await scrape(agent, accept=TEXT_ACCEPT)
    assert response.headers["content-type"].startswith("text/plain")
    assert b"kube_watchcache_metrics_cluster_mode" in response.content
    checked = _promtool("check", "metrics", stdin=response.content)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, ""), mode


def _with_timestamps(body: bytes, *, seconds: int) -> bytes:
    return b"".join(
        line if line.startswith(b"#") else line.rstrip(b"\n") + b" %d\n" % seconds
        for line in body.splitlines(keepends=True)
    )


async def test_openmetrics_passes_prometheus_parser(
    agent: Agent, mode: str, tmp_path: Path
) -> None:
    response = await scrape(agent, accept=PROMETHEUS_ACCEPT)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")
    source = tmp_path / "metrics.om"
    source.write_bytes(_with_timestamps(response.content, seconds=1_700_000_000))
    checked = _promtool(
        "tsdb", "create-blocks-from", "openmetrics", str(source), str(tmp_path / "blocks")
    )
    assert checked.returncode == 0, f"{mode}: {checked.stdout}{checked.stderr}"
    assert list((tmp_path / "blocks").iterdir()), "promtool wrote no block: it read no sample"
