"""A client's mistakes get the error the protocol defines, a clear message, and no traceback.

Over both protocol generations with the SDK's own client: `prompts/get` with an
unknown prompt or wrong arguments is -32602; a missing resource is -32002 for
a 2025-11-25 client and -32602 for a 2026-07-28 one (SEP-2164 retired
-32002); an unknown tool is -32602; arguments that crashed handlers (a lone
surrogate, a duration of a million years, cursors beyond Python's integer
limits) are tool errors that say what was wrong. The agent's log holds one
INFO line per refusal and no traceback.

The SDK's client cannot send a lone surrogate (it encodes JSON as UTF-8), so a
transport under it swaps a placeholder in the request body for the JSON escape
`\\ud800`, as any other client may send it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PARSE_ERROR

from mcpserver.agent import Agent
from tests.mcpserver.conftest import start_agent, text_of

pytestmark = pytest.mark.anyio

RESOURCE_NOT_FOUND_BEFORE_2026 = -32002
MODES = ["auto", "legacy"]  # 2026-07-28, and the newest handshake version (2025-11-25)
LONE = "@@lone-surrogate@@"  # becomes "\ud800" on the wire


class _LoneSurrogates(httpx2.AsyncHTTPTransport):
    """Puts `\\ud800` where the request body says LONE."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        if LONE.encode() in body:
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
            request = httpx2.Request(
                request.method,
                request.url,
                headers=headers,
                content=body.replace(LONE.encode(), b"\\ud800"),
                extensions=request.extensions,
            )
        return await super().handle_async_request(request)


@contextlib.asynccontextmanager
async def client_for(agent: Agent, mode: str) -> AsyncIterator[Client]:
    assert agent.url is not None
    async with (
        httpx2.AsyncClient(transport=_LoneSurrogates(), timeout=30.0) as http,
        Client(streamable_http_client(agent.url, http_client=http), mode=mode) as client,
    ):
        assert (client.protocol_version == "2026-07-28") == (mode == "auto")
        yield client


@pytest.fixture(scope="module")
async def agent(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Agent]:
    async with start_agent(tmp_path_factory.mktemp("errors")) as running:
        yield running


@contextlib.contextmanager
def no_traceback_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Around client mistakes: nothing logged with a traceback, and each refusal said in one
    line by the server (at INFO, on kube_watchcache.mcp, or the SDK's own INFO lines)."""
    caplog.set_level(logging.INFO)
    caplog.clear()
    yield
    tracebacks = [
        f"{r.name} {r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.exc_info or "Traceback" in r.getMessage()
    ]
    assert tracebacks == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [m for m in errors if "raised" in m or "unexpected" in m.lower()] == []


async def _protocol_error(call: Any) -> MCPError:
    with pytest.raises(MCPError) as raised:
        await call
    return raised.value


@pytest.mark.parametrize("mode", MODES)
async def test_prompt_mistakes_are_invalid_params(
    agent: Agent, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    cases: list[tuple[str, dict[str, str], str]] = [
        ("no_such_prompt", {}, "unknown prompt"),
        ("pod_troubleshooting", {"namespace": "default"}, "missing pod"),
        ("cluster_status_analysis", {"verbose": "yes"}, "unexpected 'verbose'"),
        ("pod_troubleshooting", {"namespace": "default", "pod": "p", "x": "1"}, "unexpected 'x'"),
        ("pod_troubleshooting", {"namespace": "default", "pod": "nope"}, "not in the watch cache"),
        ("pod_troubleshooting", {"namespace": "", "pod": "p"}, "must not be empty"),
    ]
    with no_traceback_logged(caplog):
        async with client_for(agent, mode) as client:
            for name, arguments, needle in cases:
                error = await _protocol_error(client.get_prompt(name, arguments))
                assert error.code == INVALID_PARAMS, (name, arguments, error.code, error.message)
                assert needle in error.message.lower(), (name, arguments, error.message)
                assert len(error.message) < 300
    refusals = [r for r in caplog.records if r.name == "kube_watchcache.mcp"]
    assert len(refusals) == len(cases)
    assert {r.levelno for r in refusals} == {logging.INFO}


@pytest.mark.parametrize(
    ("mode", "not_found"),
    [("auto", INVALID_PARAMS), ("legacy", RESOURCE_NOT_FOUND_BEFORE_2026)],
)
async def test_missing_resource_code_follows_the_protocol_version(
    agent: Agent, mode: str, not_found: int, caplog: pytest.LogCaptureFixture
) -> None:
    with no_traceback_logged(caplog):
        async with client_for(agent, mode) as client:
            for uri in (
                "k8s://pods/default/no-such-pod",
                "k8s://deployments/default/no-such",
                "k8s://nodes/no-such-node",
                "k8s://services/default/web",  # no such resource template at all
            ):
                error = await _protocol_error(client.read_resource(uri))
                assert error.code == not_found, (uri, error.code, error.message)
                assert error.data == {"uri": uri}
            malformed = await _protocol_error(client.read_resource("k8s://pods/%20/x"))
            assert malformed.code == INVALID_PARAMS
            assert "must not be empty" in malformed.message
    assert any(r.name == "kube_watchcache.mcp" for r in caplog.records)


@pytest.mark.parametrize("mode", MODES)
async def test_unknown_tool_is_a_protocol_error(
    agent: Agent, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with no_traceback_logged(caplog):
        async with client_for(agent, mode) as client:
            error = await _protocol_error(client.call_tool("delete_pod", {"name": "x"}))
    assert error.code == INVALID_PARAMS
    assert "Unknown tool: 'delete_pod'" in error.message


# Text that is not valid Unicode, in every kind of argument: (tool, arguments, the field).
LONE_SURROGATES: list[tuple[str, dict[str, Any], str]] = [
    ("get_node", {"name": LONE}, "name"),
    ("list_pods", {"namespace": LONE}, "namespace"),
    ("get_pod", {"namespace": "default", "name": "a" + LONE}, "name"),
    ("recent_changes", {"field": LONE}, "field"),
    ("list_nodes", {"label_selector": f"app={LONE}"}, "label_selector"),
    ("query", {"sql": f"SELECT '{LONE}'"}, "sql"),
]


async def test_lone_surrogates_are_refused_wherever_they_are(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    with no_traceback_logged(caplog):
        # 2026-07-28: the argument reaches the server, which names it in a tool error.
        async with client_for(agent, "auto") as client:
            for tool, arguments, field in LONE_SURROGATES:
                result = await client.call_tool(tool, arguments)
                text = text_of(result)
                assert result.is_error, (tool, text)
                assert f"{field}: not valid unicode text" in text.lower(), (tool, text)
            for name, arguments in (
                ("pod_troubleshooting", {"namespace": "default", "pod": LONE}),
                ("deployment_rollout_check", {"namespace": LONE, "deployment": "d"}),
            ):
                error = await _protocol_error(client.get_prompt(name, arguments))
                assert error.code == INVALID_PARAMS
                assert "not valid unicode" in error.message.lower()
        # 2025-11-25: the SDK's JSON reader refuses the message itself, before any handler.
        async with client_for(agent, "legacy") as client:
            for tool, arguments, _ in LONE_SURROGATES:
                error = await _protocol_error(client.call_tool(tool, arguments))
                assert error.code == PARSE_ERROR, (tool, error.message)
            uri = await _protocol_error(client.read_resource(f"k8s://nodes/{LONE}"))
            assert uri.code == PARSE_ERROR
            assert not (await client.call_tool("list_nodes", {"limit": 1})).is_error


# Arguments that crashed a handler: (tool, arguments, what the error must say).
CRASHERS: list[tuple[str, dict[str, Any], str]] = [
    ("cluster_health", {"cursor": "o" + "9" * 5000}, "invalid cursor"),
    ("cluster_health", {"cursor": "o²"}, "invalid cursor"),
    ("recent_changes", {"cursor": "9" * 5000}, "invalid cursor"),
    ("recent_changes", {"cursor": "9" * 19}, "invalid cursor"),  # beyond SQLite's INTEGER
    ("list_pods", {"cursor": "A" * 5000}, "invalid cursor"),
]


@pytest.mark.parametrize("mode", MODES)
async def test_arguments_that_crashed_handlers_are_clear_tool_errors(
    agent: Agent, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with no_traceback_logged(caplog):
        async with client_for(agent, mode) as client:
            for tool, arguments, needle in CRASHERS:
                result = await client.call_tool(tool, arguments)
                text = text_of(result)
                assert result.is_error, (tool, text)
                assert needle in text.lower(), (tool, text)
                assert "executing tool" not in text.replace(f"Error executing tool {tool}: ", "")
                assert len(text) < 600, (tool, len(text))
            # A duration of a million years means "since the epoch", not a crash.
            result = await client.call_tool("recent_changes", {"since": "999999999d"})
            assert not result.is_error, text_of(result)
            assert result.structured_content is not None
            assert result.structured_content["since"].startswith("1970-01-01")
            ancient = await client.call_tool(
                "recent_changes", {"since": "0001-01-01T00:00:00+01:00"}
            )
            assert not ancient.is_error, text_of(ancient)
    refused = [r for r in caplog.records if r.getMessage().startswith("Tool ")]
    assert len(refused) >= len(CRASHERS)
    assert {r.levelno for r in refused} == {logging.INFO}
