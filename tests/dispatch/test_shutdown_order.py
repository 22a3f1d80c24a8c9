"""Graceful shutdown of the agent: what the last commit records, the callbacks hear.

The store's writer commits batches on an interval; when the agent stops,
leaving the store commits what is still queued, and those transitions land
in history. They must reach the callbacks too (the log, MCP subscribers,
webhooks): the agent stops the informers, flushes the writer and drains the
callback registry before it cancels anything. A webhook receiver that hangs
gets a bounded grace, so shutdown stays fast.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from mcpserver.agent import CALLBACK_DRAIN_GRACE, running_agent
from mcpserver.config import Settings
from simulator import Simulator
from store.model import Delta, Kind
from store.service import open_store
from store.settings import StoreSettings
from tests.deploy_runtime.conftest import Seen, webhook_receiver
from tests.watcher.cluster import ensure_namespace, make_pod, set_pod_state

pytestmark = pytest.mark.anyio

NAMESPACE = "shop"
# Nothing commits on its own while the test runs: what the test puts is still
# queued in the writer when the agent is told to stop.
HELD = StoreSettings(batch_interval_s=60.0)


def _settings(sim: Simulator, tmp_path: Path, webhook_url: str) -> Settings:
    return Settings(
        port=0,
        db=tmp_path / "agent.db",
        kubeconfig=sim.write_kubeconfig(tmp_path / "kubeconfig"),
        kinds=("pods",),
        webhook_url=webhook_url,
        log_level="warning",
    )


@contextlib.asynccontextmanager
async def _cluster() -> AsyncIterator[Simulator]:
    async with Simulator(tls=True, token="sa-token") as sim:
        ensure_namespace(sim, NAMESPACE)
        for name in ("web-0", "web-1"):
            sim.store.create("pods", make_pod(name, namespace=NAMESPACE))
            set_pod_state(sim, name, namespace=NAMESPACE)
        yield sim


async def test_transitions_committed_at_shutdown_reach_callbacks_and_webhooks(
    tmp_path: Path,
) -> None:
    seen = Seen()
    async with _cluster() as sim, webhook_receiver() as receiver:
        settings = _settings(sim, tmp_path, receiver.url)
        async with running_agent(settings, store_settings=HELD) as agent:
            agent.registry.subscribe(seen, name="test-seen")
            with anyio.fail_after(10):
                await agent.informers.wait_synced()
                await agent.store.writer.flush()  # the initial list, committed
            pods = {
                name: await agent.store.reader.get_pod(NAMESPACE, name)
                for name in ("web-0", "web-1")
            }
            # Two deletions reach the writer, as the informers hand it events; they
            # sit in its queue, uncommitted, when the agent stops.
            for row in pods.values():
                assert row is not None
                await agent.store.writer.put(Delta(Kind.POD, "DELETED", row))
            assert agent.store.writer.committed_transitions == 0
        wanted = {(NAMESPACE, name, "deleted") for name in pods}
        # History has them (the store's last commit) ...
        async with open_store(settings.db) as store:
            history = await store.reader.history(field="deleted")
        assert {(t.namespace, t.name, t.field) for t in history} == wanted
        # ... and so do the in-process callbacks and the webhook receiver, once each.
        assert {(k[0], k[1], k[2]) for k in seen.keys} == wanted
        delivered = [
            (d.body["namespace"], d.body["name"], d.body["field"]) for d in receiver.deliveries
        ]
        assert sorted(delivered) == sorted(wanted)


@contextlib.asynccontextmanager
async def _hanging_receiver() -> AsyncIterator[tuple[str, anyio.Event]]:
    """A webhook receiver that never answers (until released), counting what arrives."""
    release = anyio.Event()
    arrived = anyio.Event()

    async def handle(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", arrived
    finally:
        release.set()
        await runner.cleanup()


async def test_a_hanging_webhook_gets_a_bounded_grace_at_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    caplog.set_level(logging.WARNING, logger="kube_watchcache")
    async with _cluster() as sim, _hanging_receiver() as (url, arrived):
        settings = _settings(sim, tmp_path, url)
        # A hang guard, well under the webhook's own 5 s timeout times its retries.
        with anyio.fail_after(10 + CALLBACK_DRAIN_GRACE + 5):
            async with running_agent(settings, store_settings=HELD) as agent:
                agent.registry.subscribe(seen, name="test-seen")
                await agent.informers.wait_synced()
                await agent.store.writer.flush()
                row = await agent.store.reader.get_pod(NAMESPACE, "web-0")
                assert row is not None
                await agent.store.writer.put(Delta(Kind.POD, "DELETED", row))
        assert arrived.is_set()  # the webhook was tried during the shutdown ...
        assert [k[1] for k in seen.keys] == ["web-0"]  # ... beside the in-process callbacks
        # ... and given its grace, no more: the drain ran out of it and shutdown went on.
        wanted = f"not delivered to callbacks within {CALLBACK_DRAIN_GRACE:g}s"
        gave_up = [r.getMessage() for r in caplog.records if wanted in r.getMessage()]
        assert len(gave_up) == 1, caplog.text
