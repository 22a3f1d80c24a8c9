"""The `query` tool against a hostile caller (issue 18): size, functions, time and fair sharing.

Real agent on the simulator, the SDK's client over streamable HTTP; several
clients are several bearer tokens, as in a cluster.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcpserver.agent import Agent
from mcpserver.config import add_serve_arguments, resolve_settings
from mcpserver.errors import ConfigError
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio

TOKENS = ("tok-query-a-5d1e", "tok-query-b-93aa", "tok-query-c-07f2", "tok-query-d-c4b8")
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
# 1,000 rows of two 200 kB values: a 400 MB answer unless something stops it.
HUGE = (
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 1000) "
    "SELECT printf('%.*c', 200000, 'x') AS a, printf('%.*c', 200000, 'y') AS b FROM r"
)
RSS_BOUND = 64 << 20  # growth of the process's RSS while the huge answer is attempted


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """Samples this process's RSS every millisecond from a thread; yields {"base", "peak"}."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page

    figures = {"base": rss(), "peak": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.001):
            figures["peak"] = max(figures["peak"], rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()
        figures["peak"] = max(figures["peak"], rss())


async def _wait_in_progress(agent: Agent, count: int) -> None:
    """Until `count` queries wait for or hold a query connection."""
    with anyio.fail_after(10):
        # A counter inside the agent, with no event to wait on: poll it, bounded.
        while agent.store.reader.queries_in_progress < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def _endless(client: Client, outcomes: list[str]) -> None:
    result = await client.call_tool("query", {"sql": ENDLESS, "timeout_s": 10})
    outcomes.append(text_of(result))


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="RSS read from /proc")
async def test_a_400_mb_answer_is_refused_and_memory_stays_bounded(tmp_path: Path) -> None:
    async with start_agent(tmp_path) as agent:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            warm = await client.call_tool("query", {"sql": "SELECT count(*) FROM pods"})
            assert not warm.is_error, text_of(warm)
            with peak_rss() as rss:
                huge = await client.call_tool(
                    "query", {"sql": HUGE, "max_rows": 1000, "timeout_s": 10}
                )
            assert huge.is_error
            text = text_of(huge)
            assert "answer exceeded 1 MiB" in text
            assert "select fewer columns" in text
            assert rss["peak"] - rss["base"] < RSS_BOUND, rss
            # The issue's own query: printf() cannot build a value past the cap per value
            # (SQLite gives NULL), so 20 x 10 MB never exists.
            with peak_rss() as rss:
                issue = await client.call_tool(
                    "query",
                    {"sql": "SELECT printf('%.*c', 9999999, 'x') FROM pods LIMIT 20"},
                )
            assert not issue.is_error, text_of(issue)
            assert issue.structured_content is not None
            rows = issue.structured_content["rows"]
            assert rows
            assert rows == [[None]] * len(rows)
            assert rss["peak"] - rss["base"] < RSS_BOUND, rss
            # Any other way of building a big value is refused, naming the cap per value.
            grown = await client.call_tool(
                "query",
                {
                    "sql": "SELECT replace(printf('%.*c', 10000, 'x'), 'x', "
                    "printf('%.*c', 1000, 'y')) FROM pods"
                },
            )
            assert grown.is_error
            assert "exceeded 256 KiB, the cap per value" in text_of(grown)
            assert "json_extract" in text_of(grown)
            # Still answering, and ordinary values pass.
            ok = await client.call_tool("query", {"sql": "SELECT obj FROM pods LIMIT 5"})
            assert not ok.is_error, text_of(ok)
            assert ok.structured_content is not None
            assert ok.structured_content["row_count"] == 5


async def test_functions_outside_the_allow_list_are_refused_by_name(tmp_path: Path) -> None:
    refused = {
        "SELECT hex(fts3_tokenizer('simple'))": "fts3_tokenizer()",
        "SELECT fts3_tokenizer('evil', x'4141414141414141')": "fts3_tokenizer()",
        "SELECT load_extension('/tmp/evil.so')": "load_extension()",
        "SELECT sqlite_compileoption_get(0)": "sqlite_compileoption_get()",
        "SELECT hex(randomblob(16))": "randomblob()",
        "SELECT * FROM pragma_table_info('pods')": "json_each and json_tree",
        "SELECT * FROM pragma_database_list": "json_each and json_tree",
        "SELECT * FROM dbstat": "reading dbstat",
    }
    allowed = [
        # JSON table functions the tool's description recommends, and the usual families.
        "SELECT p.name, l.key, l.value FROM pods p, json_each(p.labels) l LIMIT 3",
        "SELECT key FROM json_tree((SELECT obj FROM pods LIMIT 1)) LIMIT 3",
        "SELECT namespace, count(*), group_concat(name), json_group_array(name), "
        "row_number() OVER (ORDER BY namespace) FROM pods GROUP BY namespace",
        "SELECT datetime('now'), strftime('%s', 'now'), julianday('now'), round(pi(), 2), "
        "sqrt(16), upper(substr('abc', 1, 2)), labels ->> '$.app' FROM pods LIMIT 1",
    ]
    async with start_agent(tmp_path) as agent:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            for sql, named in refused.items():
                result = await client.call_tool("query", {"sql": sql})
                assert result.is_error, sql
                text = text_of(result)
                assert named in text, (sql, text)
                assert "not allowed in a query" in text
                assert "Traceback" not in text
            for sql in allowed:
                result = await client.call_tool("query", {"sql": sql})
                assert not result.is_error, (sql, text_of(result))
                assert result.structured_content is not None
                assert result.structured_content["row_count"] >= 1


async def test_endless_queries_from_several_clients_do_not_hold_up_other_calls(
    tmp_path: Path,
) -> None:
    outcomes: list[str] = []
    async with start_agent(tmp_path, tokens=TOKENS) as agent:
        assert agent.url is not None
        async with (
            mcp_client(agent.url, token=TOKENS[0]) as a,
            mcp_client(agent.url, token=TOKENS[1]) as b,
            mcp_client(agent.url, token=TOKENS[2]) as c,
            mcp_client(agent.url, token=TOKENS[3]) as bystander,
            anyio.create_task_group() as tg,
        ):
            for client in (a, a, b, b, c, c):
                tg.start_soon(_endless, client, outcomes)
            await _wait_in_progress(agent, 6)
            started = time.perf_counter()
            with anyio.fail_after(5):
                nodes = await bystander.call_tool("list_nodes", {})
                health = await bystander.call_tool("cluster_health", {})
            elapsed = time.perf_counter() - started
            assert not nodes.is_error, text_of(nodes)
            assert not health.is_error, text_of(health)
            assert nodes.structured_content is not None
            assert nodes.structured_content["items"]
            print(f"list_nodes + cluster_health during 6 endless queries: {elapsed * 1000:.0f} ms")
            assert agent.store.reader.queries_in_progress == 6
            tg.cancel_scope.cancel()


async def test_one_client_has_at_most_its_share_of_queries(tmp_path: Path) -> None:
    outcomes: list[str] = []
    async with start_agent(tmp_path, tokens=TOKENS) as agent:
        assert agent.url is not None
        async with (
            mcp_client(agent.url, token=TOKENS[0]) as greedy,
            mcp_client(agent.url, token=TOKENS[1]) as other,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_endless, greedy, outcomes)
            tg.start_soon(_endless, greedy, outcomes)
            await _wait_in_progress(agent, 2)
            with anyio.fail_after(5):
                third = await greedy.call_tool("query", {"sql": "SELECT 1", "timeout_s": 10})
                theirs = await other.call_tool("query", {"sql": "SELECT count(*) FROM nodes"})
            assert third.is_error
            assert "already has 2 queries in progress" in text_of(third)
            assert "--query-per-client" in text_of(third)
            assert not theirs.is_error, text_of(theirs)
            tg.cancel_scope.cancel()


async def test_the_time_cap_counts_from_arrival_waiting_included(tmp_path: Path) -> None:
    outcomes: list[str] = []
    async with start_agent(tmp_path, tokens=TOKENS, query_connections=1) as agent:
        assert agent.url is not None
        async with (
            mcp_client(agent.url, token=TOKENS[0]) as slow,
            mcp_client(agent.url, token=TOKENS[1]) as quick,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(_endless, slow, outcomes)
            await _wait_in_progress(agent, 1)
            with anyio.fail_after(5):
                waited = await quick.call_tool(
                    "query", {"sql": "SELECT count(*) FROM pods", "timeout_s": 1}
                )
            assert waited.is_error
            text = text_of(waited)
            assert "not started within its 1 s time cap" in text
            assert "waiting included" in text
            tg.cancel_scope.cancel()


async def test_query_limits_follow_their_flags(tmp_path: Path) -> None:
    async with start_agent(
        tmp_path, query_max_rows=20, query_timeout=3.0, query_max_bytes=4096, query_max_columns=32
    ) as agent:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            schema: dict[str, Any] = tools["query"].input_schema
            assert schema["properties"]["max_rows"]["maximum"] == 20
            assert schema["properties"]["timeout_s"]["maximum"] == 3.0
            assert "ctx" not in schema["properties"]
            too_many = await client.call_tool("query", {"sql": "SELECT 1", "max_rows": 21})
            assert too_many.is_error
            big = await client.call_tool("query", {"sql": "SELECT obj FROM pods", "max_rows": 20})
            assert big.is_error
            assert "answer exceeded 4 KiB" in text_of(big)
            wide = await client.call_tool("query", {"sql": "SELECT * FROM pods p, nodes n"})
            assert wide.is_error
            assert "at most 32 columns (--query-max-columns)" in text_of(wide)


def test_query_flags_override_env_and_reject_nonsense() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--query-max-bytes", "2MiB", "--query-per-client", "1"])
    env = {"KUBE_WATCHCACHE_QUERY_MAX_BYTES": "64KiB", "KUBE_WATCHCACHE_QUERY_TIMEOUT": "30s"}
    settings = resolve_settings(args, environ=env)
    limits = settings.query_settings()
    assert limits.max_answer_bytes == 2 << 20
    assert limits.per_caller == 1
    assert settings.query_timeout == 30.0
    for flag, value in (
        ("--query-max-bytes", "lots"),
        ("--query-timeout", "2m"),
        ("--query-connections", "0"),
        ("--query-max-columns", "8"),
    ):
        with pytest.raises(ConfigError, match=flag):
            resolve_settings(parser.parse_args([flag, value]), environ={})


async def test_a_query_whose_client_gives_up_is_stopped(tmp_path: Path) -> None:
    async with start_agent(tmp_path, query_connections=1) as agent:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "query", {"sql": ENDLESS, "timeout_s": 10})
                await _wait_in_progress(agent, 1)
                tg.cancel_scope.cancel()
            with anyio.fail_after(5):  # well before its 10 s cap: interrupted, not left to run
                while agent.store.reader.queries_in_progress:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                after = await client.call_tool("query", {"sql": "SELECT count(*) FROM nodes"})
            assert not after.is_error, text_of(after)


async def test_a_query_spilling_to_temporary_files_is_stopped_at_its_cap(tmp_path: Path) -> None:
    # Three million distinct 100-character keys: ~300 MB of temporary b-tree once the
    # (here 64 KiB) cache is full, unless the temp cap (here 4 MiB) stops it.
    spill = (
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r LIMIT 3000000) "
        "SELECT count(DISTINCT printf('%0100d', x)) FROM r"
    )
    async with start_agent(
        tmp_path, query_cache_bytes=64 << 10, query_max_temp_bytes=4 << 20
    ) as agent:
        assert agent.url is not None
        async with mcp_client(agent.url) as client:
            with anyio.fail_after(20):
                result = await client.call_tool("query", {"sql": spill, "timeout_s": 10})
            assert result.is_error
            text = text_of(result)
            assert "more than 4 MiB of temporary storage" in text
            assert "--query-max-temp-bytes" in text
            ok = await client.call_tool("query", {"sql": "SELECT count(*) FROM pods"})
            assert not ok.is_error, text_of(ok)
