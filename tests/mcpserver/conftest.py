"""Helpers for the MCP server tests: a real agent on a real simulator, and clients for it.

Agents run in-process (`running_agent` with `demo=True`): the embedded
simulator serves the Kubernetes API over loopback, the real informers watch
it, the real store writes SQLite in `tmp_path`, and the HTTP app listens on a
free port. Churn is off unless a test drives it, so what a test sees is what
it caused.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcpserver.agent import Agent, running_agent
from mcpserver.config import Settings

SMALL_CLUSTER: dict[str, float] = {
    "nodes": 6,
    "deployments": 8,
    "pods_per_deployment": 2,
    "churn": 0.0,
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def start_agent(
    db_dir: Path,
    *,
    wait_synced: bool = True,
    on_connect: Any = None,
    shape: dict[str, float] | None = None,
    **overrides: Any,
) -> AsyncIterator[Agent]:
    settings = dataclasses.replace(
        Settings(demo=True, port=0, db=db_dir / "state.db", log_level="warning"), **overrides
    )
    async with running_agent(
        settings, on_connect=on_connect, demo_shape=shape or SMALL_CLUSTER
    ) as agent:
        if wait_synced:
            with anyio.fail_after(20):
                await agent.informers.wait_synced()
                await agent.store.writer.flush()
        yield agent


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, *, token: str | None = None, mode: str = "auto", **kwargs: Any
) -> AsyncIterator[Client]:
    """The SDK's own client over streamable HTTP, with a bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, **kwargs) as client:
            yield client


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)
