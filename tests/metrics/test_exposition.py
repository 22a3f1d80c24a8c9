"""/metrics negotiates the format (Accept) and the encoding (Accept-Encoding)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from mcpserver.agent import Agent
from mcpserver.ksm.exposition import accepts_gzip, wants_openmetrics
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import (
    PROMETHEUS_ACCEPT,
    base_url,
    parse,
    parse_openmetrics,
    parse_text,
    scrape,
)

pytestmark = pytest.mark.anyio

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(
        tmp_path_factory.mktemp("exposition"), metrics_mode="objects"
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("*/*", False),
        ("text/plain", False),
        (PROMETHEUS_ACCEPT, True),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text; version=0.0.1", True),
        ("application/openmetrics-text; version=2.0.0, text/plain;q=0.5", False),
        ("text/plain;q=1.0, application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;q=nonsense", False),
    ],
)
def test_format_negotiation(accept: str, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("gzip;q=0", False),
        ("*", True),
    ],
)
def test_encoding_negotiation(accept_encoding: str, gzipped: bool) -> None:
    assert accepts_gzip(accept_encoding) is gzipped


async def test_plain_text_by_default_and_parseable(agent: Agent) -> None:
    response = await scrape(agent, **{"Accept-Encoding": "identity"})
    assert response.headers["content-type"] == TEXT
    assert "content-encoding" not in response.headers
    fams = parse(response)
    assert fams["kube_pod_container_status_restarts"].type == "counter"
    assert "kube_watchcache_mcp_tool_calls" in fams
    assert not response.text.rstrip().endswith("# EOF")


async def test_openmetrics_when_prometheus_asks(agent: Agent) -> None:
    response = await scrape(agent, Accept=PROMETHEUS_ACCEPT)
    assert response.headers["content-type"] == OPENMETRICS
    assert response.text.endswith("# EOF\n")
    assert response.text.count("# EOF") == 1
    # The strict OpenMetrics parser rejects a misplaced EOF, duplicate or interleaved families.
    fams = {f.name: f for f in parse_openmetrics(response.text)}
    assert fams["kube_pod_container_status_restarts"].type == "counter"
    assert fams["kube_pod_status_phase"].samples
    assert "kube_watchcache_watch_events" in fams


async def test_gzip_when_asked_and_identical_once_decompressed(agent: Agent) -> None:
    url = base_url(agent) + "/metrics"
    async with httpx.AsyncClient() as http:
        # The first request of the agent's life creates the HTTP request counter's
        # first series (and so its family's `_created`): both compared scrapes follow it.
        await http.get(url, headers={"Accept-Encoding": "identity"})
        async with http.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
            assert zipped.headers["content-encoding"] == "gzip"
            assert "Accept-Encoding" in zipped.headers["vary"]
            raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
        plain = await http.get(url, headers={"Accept-Encoding": "identity"})
    assert raw[:2] == b"\x1f\x8b"
    text = gzip.decompress(raw).decode()
    assert len(raw) < len(text) / 3
    unzipped = {f.name: f for f in parse_text(text)}
    direct = {f.name: f for f in parse_text(plain.text)}
    # Same families and same cluster series either way (the agent's own counters move).
    assert unzipped.keys() == direct.keys()
    assert unzipped["kube_pod_status_phase"].samples == direct["kube_pod_status_phase"].samples


async def test_openmetrics_and_gzip_together(agent: Agent) -> None:
    url = base_url(agent) + "/metrics"
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    async with httpx.AsyncClient() as http, http.stream("GET", url, headers=headers) as response:
        assert response.headers["content-type"] == OPENMETRICS
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    text = gzip.decompress(raw).decode()
    assert text.endswith("# EOF\n")
    assert {f.name for f in parse_openmetrics(text)} >= {"kube_node_status_condition"}
