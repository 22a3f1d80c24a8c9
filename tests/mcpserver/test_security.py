"""Bearer tokens, Host/Origin checks, CORS, rate limit, audit log and /ready, on a real agent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from store import Kind
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio

TOKEN_A = "tok-alpha-9f2c1e77"
TOKEN_B = "tok-bravo-41d0aa3b"
_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "list_pods", "arguments": {}},
}
_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_tokens_guard_mcp_and_metrics_but_not_probes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"{TOKEN_B}\n")
    caplog.set_level(logging.INFO, logger="kube_watchcache.audit")
    async with start_agent(
        tmp_path, tokens=(TOKEN_A,), token_file=token_file, metrics_auth="token"
    ) as agent:
        assert agent.url is not None
        base = agent.url.removesuffix("/mcp")
        async with httpx.AsyncClient() as http:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {TOKEN_A}"},
            ):
                refused = await http.post(agent.url, json=_INIT, headers={**_HEADERS, **headers})
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert "pods" not in refused.text
                assert "result" not in refused.text
            assert (await http.get(base + "/metrics")).status_code == 401
            metrics = await http.get(
                base + "/metrics", headers={"Authorization": f"Bearer {TOKEN_A}"}
            )
            assert metrics.status_code == 200
            assert (await http.get(base + "/health")).status_code == 200
            assert (await http.get(base + "/ready")).status_code == 200
        for token in (TOKEN_A, TOKEN_B):
            async with mcp_client(agent.url, token=token) as client:
                result = await client.call_tool("cluster_health", {})
                assert not result.is_error, text_of(result)
    audit = [r for r in caplog.records if r.name == "kube_watchcache.audit"]
    assert len(audit) == 2
    fields = [r.fields for r in audit]  # type: ignore[attr-defined]
    assert {f["tool"] for f in fields} == {"cluster_health"}
    assert {f["outcome"] for f in fields} == {"ok"}
    assert all(f["client"].startswith("token:") for f in fields)
    assert fields[0]["client"] != fields[1]["client"]
    assert all(isinstance(f["duration_ms"], float) for f in fields)
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert TOKEN_A not in logged
    assert TOKEN_B not in logged


async def test_host_and_origin_checks_and_cors(tmp_path: Path) -> None:
    async with start_agent(tmp_path, allowed_origins=("http://localhost:6274",)) as agent:
        assert agent.url is not None
        async with httpx.AsyncClient() as http:
            evil_host = await http.post(
                agent.url, json=_INIT, headers={**_HEADERS, "Host": "evil.example"}
            )
            assert evil_host.status_code == 421
            evil_origin = await http.post(
                agent.url, json=_INIT, headers={**_HEADERS, "Origin": "http://evil.example"}
            )
            assert evil_origin.status_code == 403
            preflight = await http.options(
                agent.url,
                headers={
                    "Origin": "http://localhost:6274",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "http://localhost:6274"
            # Probes come by pod IP: any Host is fine there.
            probe = await http.get(
                agent.url.removesuffix("/mcp") + "/health", headers={"Host": "10.1.2.3:8080"}
            )
            assert probe.status_code == 200
        async with mcp_client(agent.url) as client:
            assert not (await client.call_tool("list_nodes", {})).is_error


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    async with start_agent(tmp_path, rate_limit=0.5, rate_limit_burst=2) as agent:
        assert agent.url is not None
        async with httpx.AsyncClient() as http:
            codes = []
            for _ in range(3):
                response = await http.post(agent.url, json=_INIT, headers=_HEADERS)
                codes.append(response.status_code)
            assert codes[2] == 429
            assert int(response.headers["retry-after"]) >= 1
            assert 429 not in codes[:2]
            assert (await http.get(agent.url.removesuffix("/mcp") + "/health")).status_code == 200
        assert agent.metrics.rate_limited._value.get() >= 1  # type: ignore[attr-defined]


async def test_ready_is_503_with_a_reason_until_every_kind_synced(tmp_path: Path) -> None:
    def slow_lists(sim: Any, scenario: Any) -> None:
        sim.faults.delay(1.0, count=8)  # the informers' first requests

    async with start_agent(tmp_path, wait_synced=False, on_connect=slow_lists) as agent:
        assert agent.url is not None
        base = agent.url.removesuffix("/mcp")
        async with httpx.AsyncClient() as http:
            before = await http.get(base + "/ready")
            assert before.status_code == 503
            assert "initial list not complete" in before.json()["reason"]
            assert (await http.get(base + "/health")).status_code == 200
            async with mcp_client(agent.url) as client:
                early = await client.call_tool("cluster_health", {})
                assert early.structured_content is not None
                assert early.structured_content["freshness"]["stale"] is True
                assert "STALE" in text_of(early)
            with anyio.fail_after(20):
                await agent.informers.wait_synced()
                await agent.store.writer.flush()
            after = await http.get(base + "/ready")
            assert after.status_code == 200, after.text
            assert after.json()["ready"] is True


async def test_ready_counts_only_the_watched_kinds(tmp_path: Path) -> None:
    async with start_agent(tmp_path, kinds=("pods", "deployments")) as agent:
        assert agent.url is not None
        async with httpx.AsyncClient() as http:
            ready = await http.get(agent.url.removesuffix("/mcp") + "/ready")
        assert ready.status_code == 200, ready.text
        async with mcp_client(agent.url) as client:
            health = await client.call_tool("cluster_health", {})
        assert health.structured_content is not None
        freshness = health.structured_content["freshness"]
        assert freshness["stale"] is False
        assert freshness["kinds"]["Node"]["watched"] is False
        assert agent.store.view.objects(Kind.NODE) == 0
