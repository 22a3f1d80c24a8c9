"""/mcp against hostile HTTP callers: slow senders and revoked tokens, on a real agent.

Slow senders are raw sockets (the point is a client that does not behave
like one); the unrelated caller and the stream holders are the SDK's own
client. Every agent here runs the demo simulator over loopback.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import ResourceUpdatedNotification

from mcpserver.agent import Agent
from mcpserver.cli import build_parser
from mcpserver.config import resolve_settings
from mcpserver.errors import ConfigError
from tests.mcpserver import fuzz
from tests.mcpserver.conftest import mcp_client, start_agent, text_of

pytestmark = pytest.mark.anyio

SLOW_SENDERS = 4  # as many as the default admission slots (--mcp-concurrency 4)
TOKEN_A = "tok-revoked-3b9e51c0aa"
TOKEN_B = "tok-kept-7d02f4e6c1"


def _port(agent: Agent) -> int:
    assert agent.listener is not None
    return agent.listener.port


def _open_slow_sender(port: int, head: bytes) -> socket.socket:
    """A plain socket that sent `head` and then nothing (non-blocking from here on)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(head)
    sock.setblocking(False)
    return sock


def _slow_body_head(port: int) -> bytes:
    """A POST's complete headers promising 1,000 bytes, and the first 10 of them."""
    return (
        b"POST /mcp HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Content-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\n"
        b"Content-Length: 1000\r\n\r\n"
        b'{"jsonrpc"' % port
    )


def _slow_headers_head(port: int) -> bytes:
    """A POST's request line and part of its headers, never finished."""
    return b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: appl" % port


def _still_open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed the connection."""
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""  # data would mean an answer: not waiting
    except BlockingIOError:
        return True


async def _read_to_close(sock: socket.socket) -> bytes:
    received = b""
    while True:
        await anyio.wait_readable(sock)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def _read_timeouts(agent: Agent, phase: str) -> float:
    value = agent.metrics.registry.get_sample_value(
        "kube_watchcache_http_read_timeouts_total", {"phase": phase}
    )
    return value or 0.0


@pytest.mark.parametrize("phase", ["body", "headers"])
async def test_slow_senders_hold_no_slot_and_are_cut_off(tmp_path: Path, phase: str) -> None:
    deadline = 6.0  # longer than the unrelated call may take, so the senders are still open
    head = _slow_body_head if phase == "body" else _slow_headers_head
    async with start_agent(
        tmp_path, header_read_timeout=deadline, body_read_timeout=deadline
    ) as agent:
        assert agent.url is not None
        port = _port(agent)
        async with mcp_client(agent.url) as client:
            senders = [_open_slow_sender(port, head(port)) for _ in range(SLOW_SENDERS)]
            with anyio.fail_after(5):
                result = await client.call_tool("list_nodes", {})
            assert not result.is_error, text_of(result)
            assert all(map(_still_open, senders)), "the senders must still be waiting"
            with anyio.fail_after(deadline + 10):
                answers = [await _read_to_close(s) for s in senders]
            for sender in senders:
                sender.close()
            for answer in answers:
                assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert _read_timeouts(agent, phase) == SLOW_SENDERS
            # The agent still answers afterwards, on the same client.
            with anyio.fail_after(5):
                assert not (await client.call_tool("cluster_health", {})).is_error


_NEVER_ENDING_SQL = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
)


async def test_a_reused_in_flight_id_is_refused_and_the_first_request_answered(
    tmp_path: Path,
) -> None:
    """Two requests with one id in a 2025-11-25 session: the first used to hang, holding a slot."""
    async with start_agent(tmp_path) as agent, httpx.AsyncClient(timeout=30) as http:
        url = _url(agent)
        session = await fuzz.open_legacy_session(http, url)
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "Mcp-Protocol-Version": fuzz.LEGACY,
            "Mcp-Session-Id": session,
        }
        slow = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "query", "arguments": {"sql": _NEVER_ENDING_SQL, "timeout_s": 2}},
        }
        answers: dict[str, httpx.Response] = {}

        async def post(name: str, body: dict[str, Any]) -> None:
            answers[name] = await http.post(url, json=body, headers=headers)

        async def in_flight(wanted: int) -> None:
            # The store says when the slow query runs (a query gives its admission slot
            # back as it starts, so the admission gauge does not show it); a count
            # announces nothing, so it is re-checked on a short tick.
            with anyio.fail_after(5):
                while agent.store.reader.queries_in_progress != wanted:  # noqa: ASYNC110
                    await anyio.sleep(0.01)

        with anyio.fail_after(15):
            async with anyio.create_task_group() as tg:
                tg.start_soon(post, "first", slow)
                await in_flight(1)
                await post("second", {"jsonrpc": "2.0", "id": 7, "method": "ping"})
        assert answers["second"].status_code == 409, answers["second"].text
        assert "still in flight" in answers["second"].json()["error"]["message"]
        first = answers["first"]
        assert first.status_code == 200
        assert '"id":7' in first.text.replace(" ", "")
        # The id is free again once its request is answered.
        again = await http.post(
            url, json={"jsonrpc": "2.0", "id": 7, "method": "ping"}, headers=headers
        )
        assert again.status_code == 200


async def _replace_token_file(path: Path, tokens: list[str]) -> None:
    """Swap the file atomically, as a rotated Kubernetes Secret is."""
    staged = path.with_suffix(".new")
    staged.write_text("".join(t + "\n" for t in tokens))
    os.replace(staged, path)


async def _node_failure(agent: Agent) -> str:
    scenario = agent.scenario
    assert scenario is not None
    scenario.step("node_not_ready")
    target = scenario.last_target
    assert target is not None
    return str(target[1])


async def _node_uris(agent: Agent) -> list[str]:
    async with mcp_client(_url(agent), token=TOKEN_B) as client:
        nodes = await client.call_tool("list_nodes", {})
    assert nodes.structured_content is not None
    names = [n["name"] for n in nodes.structured_content["items"]]
    return ["k8s://health", *(f"k8s://nodes/{n}" for n in names)]


def _url(agent: Agent) -> str:
    assert agent.url is not None
    return agent.url


@pytest.fixture
async def token_agent(tmp_path: Path) -> AsyncIterator[tuple[Agent, Path]]:
    token_file = tmp_path / "tokens"
    token_file.write_text(f"{TOKEN_A}\n{TOKEN_B}\n")
    async with start_agent(tmp_path, token_file=token_file) as agent:
        yield agent, token_file


def _revoked_requests(agent: Agent) -> float:
    value = agent.metrics.registry.get_sample_value("kube_watchcache_http_revoked_requests_total")
    return value or 0.0


def _refused_on_mcp(agent: Agent) -> float:
    value = agent.metrics.registry.get_sample_value(
        "kube_watchcache_http_requests_total", {"path": "/mcp", "code": "401"}
    )
    return value or 0.0


async def test_revoking_a_token_ends_its_listen_stream(
    token_agent: tuple[Agent, Path],
) -> None:
    agent, token_file = token_agent
    uris = await _node_uris(agent)
    async with mcp_client(_url(agent), token=TOKEN_A) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(resource_subscriptions=uris) as subscription:
            await _node_failure(agent)
            with anyio.fail_after(10):
                await subscription.__anext__()  # the stream delivers
            await _replace_token_file(token_file, [TOKEN_B])
            with pytest.raises(SubscriptionLost), anyio.fail_after(8):
                async for _ in subscription:
                    pass  # whatever was on its way; then the stream must end
    assert _revoked_requests(agent) >= 1
    async with mcp_client(_url(agent), token=TOKEN_B) as kept:
        assert not (await kept.call_tool("list_nodes", {})).is_error


async def test_revoking_a_token_ends_its_legacy_get_stream(
    token_agent: tuple[Agent, Path],
) -> None:
    agent, token_file = token_agent
    uris = await _node_uris(agent)
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        nonlocal arrived
        if isinstance(message, ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            arrived.set()

    async with mcp_client(
        _url(agent), token=TOKEN_A, mode="legacy", message_handler=on_message
    ) as client:
        assert client.protocol_version != "2026-07-28"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            for uri in uris:
                await client.subscribe_resource(uri)
        await _node_failure(agent)
        with anyio.fail_after(10):
            await arrived.wait()  # the GET stream delivers
        refused_before = _refused_on_mcp(agent)
        await _replace_token_file(token_file, [TOKEN_B])
        # The agent ends the GET stream; the client's reconnection is then refused.
        # Counters announce nothing, so they are re-checked on a short tick.
        with anyio.fail_after(8):
            while _revoked_requests(agent) < 1 or _refused_on_mcp(agent) <= refused_before:  # noqa: ASYNC110
                await anyio.sleep(0.05)


def test_read_deadlines_are_flags_with_positive_durations() -> None:
    parsed = build_parser().parse_args(
        ["serve", "--header-read-timeout", "2s", "--body-read-timeout", "500ms"]
    )
    settings = resolve_settings(parsed, environ={})
    assert (settings.header_read_timeout, settings.body_read_timeout) == (2.0, 0.5)
    defaults = resolve_settings(build_parser().parse_args(["serve"]), environ={})
    assert (defaults.header_read_timeout, defaults.body_read_timeout) == (10.0, 10.0)
    with pytest.raises(ConfigError, match=r"BODY_READ_TIMEOUT.*positive duration"):
        resolve_settings(
            build_parser().parse_args(["serve"]), environ={"KUBE_WATCHCACHE_BODY_READ_TIMEOUT": "0"}
        )
