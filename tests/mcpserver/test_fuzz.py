"""The bounded fuzzer (tests/mcpserver/fuzz.py) against a real agent on the simulator.

A few thousand seeded requests over every tool, resource, prompt and raw
JSON-RPC, in both protocol generations. Afterwards: no 5xx, no traceback in
any response or in the agent's log, nothing written (the store's rows and
the simulated cluster are as before, and every `query` that would write was
refused), and the agent still answers /health, /ready and a normal call.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from mcpserver.agent import Agent
from tests.mcpserver import fuzz
from tests.mcpserver.conftest import mcp_client, start_agent, text_of
from tests.reliability.compare import converge

pytestmark = pytest.mark.anyio

SEED = 18
REQUESTS = 3000
_READ_VERBS = {"get", "list", "watch"}


class _TracebackCatcher(logging.Handler):
    """Keeps every log record that carries a traceback, from any logger it is attached to."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info or record.stack_info or "Traceback" in message:
            error = record.exc_info[1] if record.exc_info else None
            cause = f" ({type(error).__name__}: {str(error)[:200]})" if error else ""
            self.found.append(f"{record.name} {record.levelname}: {message[:200]}{cause}")


@pytest.fixture
def tracebacks() -> Iterator[_TracebackCatcher]:
    """Catches tracebacks logged anywhere: the root, and uvicorn's loggers (not propagated)."""
    catcher = _TracebackCatcher()
    loggers = [
        logging.getLogger(),
        logging.getLogger("uvicorn"),
        logging.getLogger("uvicorn.error"),
    ]
    for logger in loggers:
        logger.addHandler(catcher)
    try:
        yield catcher
    finally:
        for logger in loggers:
            logger.removeHandler(catcher)


def schema_of(db: Path) -> list[tuple[str, ...]]:
    """Every table, index, view and trigger of the store file, with its SQL."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


def transitions_in(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM transitions").fetchone()
    return int(count)


def _writes_to_cluster(agent: Agent) -> dict[tuple[str, str], int]:
    assert agent.simulator is not None
    return {k: n for k, n in agent.simulator.requests.snapshot().items() if k[0] not in _READ_VERBS}


async def test_fuzzed_requests_get_clear_answers_and_change_nothing(
    tmp_path: Path, tracebacks: _TracebackCatcher
) -> None:
    async with start_agent(tmp_path) as agent:
        assert agent.url is not None
        assert agent.simulator is not None
        await agent.store.writer.flush()
        db = tmp_path / "state.db"
        schema_before, transitions_before = schema_of(db), transitions_in(db)
        writes_before = _writes_to_cluster(agent)
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            catalog = await fuzz.fetch_catalog(http, agent.url)
            assert {"query", "get_pod", "cluster_health"} <= set(catalog.tools)
            assert catalog.prompts
            assert catalog.templates
            assert catalog.names
            session = await fuzz.open_legacy_session(http, agent.url)
            requests = fuzz.generate(SEED, REQUESTS, catalog=catalog, session_id=session)
            report = await fuzz.run(agent.url, requests, http=http)
            print(report.summary())
            print("internal errors by family:", dict(report.internal_errors))
            assert report.requests == REQUESTS
            assert not report.failures, "\n".join(report.failures[:20])
            assert not tracebacks.found, "\n".join(tracebacks.found[:20])
            # Healthy afterwards, with nothing written.
            base = agent.url.removesuffix("/mcp")
            assert (await http.get(base + "/health")).status_code == 200
            assert (await http.get(base + "/ready")).status_code == 200
        async with mcp_client(agent.url) as client:
            health = await client.call_tool("cluster_health", {})
            assert not health.is_error, text_of(health)
        # The demo cluster changes by itself (crash-looping pods), so "nothing written" is:
        # the store still mirrors the simulator, its schema is as it was, no history was
        # removed, and the agent sent the API server no write.
        in_sync = await converge(agent.store, agent.simulator, within=20)
        assert not in_sync.mismatches, in_sync.mismatches[:10]
        assert schema_of(db) == schema_before
        assert transitions_in(db) >= transitions_before
        assert _writes_to_cluster(agent) == writes_before
        assert not await anyio.Path("/tmp/kwc-fuzz-evil.db").exists()
        assert not await anyio.Path("/tmp/kwc-fuzz-copy.db").exists()
