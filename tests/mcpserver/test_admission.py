"""Admission control on /mcp: a few in flight, a bounded queue with a deadline, then 503.

The HTTP tests serve the real app (`build_http_app`, every middleware, uvicorn
on loopback) for an MCP server with one tool that holds until the test lets
it go, so "in flight" is a state the test controls rather than a race; the
callers are the SDK's own client and plain POSTs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from benchmarks._mcp_wire import post_tools_call
from mcpserver.cli import build_parser
from mcpserver.config import Settings, resolve_settings
from mcpserver.errors import ConfigError
from mcpserver.metrics import AgentMetrics
from mcpserver.web.admission import AdmissionLimit, AdmissionMiddleware, LoopLagMonitor, arrived_at
from mcpserver.web.auth import TokenSet
from mcpserver.web.http_app import INGEST_BACKLOG_BEHIND, build_http_app
from mcpserver.web.listener import HttpListener, bind_socket
from tests.mcpserver.conftest import mcp_client, text_of

pytestmark = pytest.mark.anyio


# --- the limit on its own ------------------------------------------------------------------


async def test_admits_up_to_the_limit_then_queues_in_order_then_refuses() -> None:
    limit = AdmissionLimit(concurrency=2, queue=2, wait_s=30)
    assert await limit.acquire()
    assert await limit.acquire()
    order: list[int] = []

    async def queued(n: int) -> None:
        assert await limit.acquire()
        order.append(n)

    async with anyio.create_task_group() as tg:
        for n in (1, 2):
            tg.start_soon(queued, n)
            await anyio.wait_all_tasks_blocked()
        assert (limit.in_flight, limit.waiting) == (2, 2)
        assert not await limit.acquire()  # the queue is full: refused at once
        assert limit.refused_full == 1
        limit.release()
        limit.release()
    assert order == [1, 2]
    assert (limit.in_flight, limit.waiting, limit.admitted, limit.queued) == (2, 0, 4, 2)


async def test_a_waiter_past_its_deadline_is_refused_and_leaves_the_queue() -> None:
    limit = AdmissionLimit(concurrency=1, queue=5, wait_s=0.05)
    assert await limit.acquire()
    with anyio.fail_after(5):
        assert not await limit.acquire()
    assert (limit.refused_timeout, limit.waiting, limit.in_flight) == (1, 0, 1)
    limit.release()
    assert limit.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    limit = AdmissionLimit(concurrency=1, queue=5, wait_s=30)
    assert await limit.acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(limit.acquire)
        await anyio.wait_all_tasks_blocked()
        assert limit.waiting == 1
        tg.cancel_scope.cancel()
    assert limit.waiting == 0
    limit.release()
    assert limit.in_flight == 0
    assert await limit.acquire()  # the slot is free again, nobody holds it by mistake


async def test_pressure_lowers_the_limit_and_lifting_it_lets_waiters_in() -> None:
    behind = True
    limit = AdmissionLimit(concurrency=3, queue=5, wait_s=30, pressure=lambda: behind)
    assert limit.limit() == 1
    assert await limit.acquire()
    async with anyio.create_task_group() as tg:
        for _ in range(2):
            tg.start_soon(limit.acquire)
        await anyio.wait_all_tasks_blocked()
        assert (limit.in_flight, limit.waiting) == (1, 2)
        behind = False
        limit.release()  # one leaves: both waiters fit under the restored limit of 3
    assert (limit.in_flight, limit.waiting) == (2, 0)


def test_a_slot_rests_after_a_request_only_while_ingest_is_behind() -> None:
    behind = False
    limit = AdmissionLimit(
        concurrency=2, queue=1, wait_s=1, pressure=lambda: behind, max_rest_s=0.5
    )
    assert limit.rest_s(0.2) == 0.0
    behind = True
    assert limit.rest_s(0.2) == 0.2
    assert limit.rest_s(3.0) == 0.5


def test_loop_lag_monitor_keeps_the_worst_lateness_of_its_window() -> None:
    now = [0.0]
    monitor = LoopLagMonitor(threshold_s=0.2, window_s=2.0, clock=lambda: now[0])
    monitor.record(0.5)
    assert monitor.behind()
    assert monitor.lag_s == 0.5
    now[0] = 1.0
    monitor.record(0.01)
    assert monitor.behind()  # the late sample is still within the window
    now[0] = 3.0
    monitor.record(0.01)
    assert not monitor.behind()
    assert monitor.lag_s == 0.01


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        AdmissionLimit(concurrency=0, queue=1, wait_s=1)
    with pytest.raises(ValueError, match="wait_s"):
        AdmissionLimit(concurrency=1, queue=1, wait_s=float("nan"))


def test_only_short_posts_to_mcp_take_a_place() -> None:
    limit = AdmissionLimit(concurrency=1, queue=0, wait_s=0)
    middleware = AdmissionMiddleware(_never_called, limit=limit, paths=("/mcp",))

    def scope(
        method: str,
        path: str = "/mcp",
        mcp_method: bytes | None = None,
        version: bytes = b"2026-07-28",
    ) -> Any:
        headers = [(b"mcp-protocol-version", version)]
        headers += [(b"mcp-method", mcp_method)] if mcp_method else []
        return {"type": "http", "method": method, "path": path, "headers": headers}

    assert middleware._counted(scope("POST", mcp_method=b"tools/call"))
    assert middleware._counted(scope("POST"))  # a legacy client sends no Mcp-Method
    assert not middleware._counted(scope("POST", mcp_method=b"subscriptions/listen"))
    # A handshake-era POST is not checked against its Mcp-Method header by the SDK: counted.
    legacy = scope("POST", mcp_method=b"subscriptions/listen", version=b"2025-06-18")
    assert middleware._counted(legacy)
    assert not middleware._counted(scope("GET"))  # the legacy standalone SSE stream
    assert not middleware._counted(scope("POST", path="/health"))


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("not reached")


async def test_a_request_knows_when_it_arrived_its_wait_in_the_queue_included() -> None:
    """A `query` counts its time cap from here, so a wait for a slot is not free time."""
    limit = AdmissionLimit(concurrency=1, queue=1, wait_s=30)
    release_first = anyio.Event()
    admitted: dict[str, float] = {}
    arrivals: dict[str, float | None] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        name = scope["path_name"]
        admitted[name] = anyio.current_time()
        arrivals[name] = arrived_at(scope)
        if name == "first":
            await release_first.wait()

    middleware = AdmissionMiddleware(app, limit=limit, paths=("/mcp",))

    def request(name: str) -> Any:
        headers = [(b"mcp-protocol-version", b"2026-07-28"), (b"mcp-method", b"tools/call")]
        return {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": headers,
            "path_name": name,
        }

    async def call(name: str) -> None:
        await middleware(request(name), _never_called, _never_called)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "first")
            while "first" not in admitted:
                await anyio.lowlevel.checkpoint()
            sent_second = anyio.current_time()
            tg.start_soon(call, "second")
            while limit.waiting == 0:
                await anyio.lowlevel.checkpoint()
            released_at = anyio.current_time()  # the second one is queued until now
            release_first.set()
    second = arrivals["second"]
    assert second is not None
    assert sent_second <= second <= released_at <= admitted["second"]


# --- the settings --------------------------------------------------------------------------


def test_settings_come_from_flag_env_and_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('mcp-queue = 7\nmcp-queue-wait = "2s"\n')
    args = build_parser().parse_args(["serve", "--config", str(config), "--mcp-concurrency", "3"])
    settings = resolve_settings(
        args,
        environ={"KUBE_WATCHCACHE_INGEST_PRIORITY_LAG": "100ms", "KUBE_WATCHCACHE_MCP_QUEUE": "9"},
    )
    assert (settings.mcp_concurrency, settings.mcp_queue) == (3, 9)
    assert (settings.mcp_queue_wait, settings.ingest_priority_lag) == (2.0, 0.1)
    with pytest.raises(ConfigError, match="--mcp-concurrency"):
        resolve_settings(build_parser().parse_args(["serve", "--mcp-concurrency", "-1"]))


# --- over HTTP, with a real MCP client ------------------------------------------------------


@dataclasses.dataclass
class HeldServer:
    url: str
    entered: int = 0
    gate: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    all_entered: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    expect: int = 0


@contextlib.asynccontextmanager
async def held_server(*, ingest_backlog: Any = None, **overrides: Any) -> AsyncIterator[HeldServer]:
    """The real HTTP app for a server whose `hold` tool waits for `gate` (and `echo` does not)."""
    mcp: MCPServer[Any] = MCPServer(name="held")
    sock = bind_socket("127.0.0.1", 0)
    held = HeldServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}/mcp")

    @mcp.tool()
    async def hold() -> str:
        held.entered += 1
        if held.entered >= held.expect:
            held.all_entered.set()
        await held.gate.wait()
        return "released"

    @mcp.tool()
    async def echo(text: str) -> str:
        return text

    async def ready() -> tuple[bool, dict[str, Any]]:
        return True, {}

    settings = dataclasses.replace(Settings(port=0, ingest_priority_lag=0.0), **overrides)
    app = build_http_app(
        mcp=mcp,
        settings=settings,
        tokens=TokenSet(()),
        metrics=AgentMetrics(),
        readiness=ready,
        ingest_backlog=ingest_backlog,
    )
    listener = HttpListener(app, sock=sock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve)
        with anyio.fail_after(10):
            await listener.settled.wait()
        try:
            yield held
        finally:
            held.gate.set()
            await listener.drain()


async def _admission_gauge(url: str, state: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url.removesuffix("/mcp") + "/metrics")).text
    prefix = f'kube_watchcache_mcp_admission{{state="{state}"}} '
    return float(next(line for line in text.splitlines() if line.startswith(prefix))[len(prefix) :])


async def test_over_the_limit_calls_queue_and_succeed_past_the_queue_503() -> None:
    async with held_server(mcp_concurrency=2, mcp_queue=2, mcp_queue_wait=30.0) as held:
        held.expect = 2
        results: list[str] = []
        async with (
            mcp_client(held.url) as first,
            mcp_client(held.url) as second,
            mcp_client(held.url) as third,
        ):

            async def call(client: Any, tool: str, args: dict[str, Any]) -> None:
                result = await client.call_tool(tool, args)
                results.append(text_of(result))

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, first, "hold", {})
                    tg.start_soon(call, second, "hold", {})
                    await held.all_entered.wait()  # both slots taken
                    tg.start_soon(call, third, "echo", {"text": "queued-1"})
                    tg.start_soon(call, first, "echo", {"text": "queued-2"})
                    while await _admission_gauge(held.url, "waiting") < 2:
                        await anyio.wait_all_tasks_blocked()
                    # The queue is full: the SDK's client gets the server's JSON-RPC error...
                    with pytest.raises(MCPError, match="server busy"):
                        await third.call_tool("echo", {"text": "refused"})
                    # ...and on the wire that is 503, Retry-After and a JSON-RPC error body.
                    async with httpx.AsyncClient() as http:
                        response = await post_tools_call(
                            http, held.url, tool="echo", args={"text": "x"}, client="test"
                        )
                    assert response.status_code == 503
                    assert int(response.headers["retry-after"]) >= 1
                    body = response.json()
                    assert body["jsonrpc"] == "2.0"
                    assert body["id"] is None
                    assert body["error"]["data"]["reason"] == "queue_full"
                    assert results == []  # nothing queued ran while the slots were held
                    held.gate.set()
        assert sorted(results) == ["queued-1", "queued-2", "released", "released"]
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(held.url.removesuffix("/mcp") + "/metrics")).text
        assert 'kube_watchcache_mcp_admission_refused_total{reason="queue_full"} 2.0' in metrics
        assert await _admission_gauge(held.url, "in_flight") == 0


async def test_a_queued_call_past_the_deadline_gets_503_and_the_server_stays_up() -> None:
    async with held_server(mcp_concurrency=1, mcp_queue=4, mcp_queue_wait=0.2) as held:
        held.expect = 1
        async with mcp_client(held.url) as client, anyio.create_task_group() as tg:
            with anyio.fail_after(30):
                tg.start_soon(client.call_tool, "hold", {})
                await held.all_entered.wait()
                async with httpx.AsyncClient() as http:
                    response = await post_tools_call(
                        http, held.url, tool="echo", args={"text": "x"}, client="test"
                    )
                    assert response.status_code == 503
                    assert response.json()["error"]["data"]["reason"] == "wait_timeout"
                    assert (
                        await http.get(held.url.removesuffix("/mcp") + "/health")
                    ).status_code == 200
                held.gate.set()
            result = await client.call_tool("echo", {"text": "after"})
            assert text_of(result) == "after"


async def test_a_late_event_loop_lowers_the_limit_to_one() -> None:
    """The lag monitor runs in the app's lifespan; a loop held by CPU work turns on priority."""
    async with held_server(mcp_concurrency=4, ingest_priority_lag=0.1) as held:
        assert await _admission_gauge(held.url, "limit") == 4
        started = time.perf_counter()
        while (
            time.perf_counter() - started < 0.3
        ):  # CPU-bound work holding the loop, as ingest would
            pass
        with anyio.fail_after(10):
            while await _admission_gauge(held.url, "limit") != 1:
                await anyio.wait_all_tasks_blocked()
        async with httpx.AsyncClient() as http:
            text = (await http.get(held.url.removesuffix("/mcp") + "/metrics")).text
        lag = next(x for x in text.splitlines() if x.startswith("kube_watchcache_event_loop_lag"))
        assert float(lag.split()[-1]) >= 0.1


async def test_a_long_store_queue_lowers_the_limit_to_one() -> None:
    backlog = 0
    # A lag threshold no loop reaches: only the backlog can turn priority on here.
    settings = {"mcp_concurrency": 4, "ingest_priority_lag": 60.0}
    async with held_server(ingest_backlog=lambda: backlog, **settings) as held:
        assert await _admission_gauge(held.url, "limit") == 4
        backlog = INGEST_BACKLOG_BEHIND + 1
        assert await _admission_gauge(held.url, "limit") == 1
        backlog = 0
        assert await _admission_gauge(held.url, "limit") == 4
