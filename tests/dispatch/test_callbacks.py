"""Transition callbacks: filters, isolation of slow/failing callbacks, overflow, webhook."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web

from dispatch import (
    CallbackRegistry,
    DeliveryError,
    WebhookError,
    WebhookSink,
    log_transition,
)
from simulator.server import Simulator
from store.model import Kind, Severity, Transition
from store.service import open_store
from store.settings import StoreSettings
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import NotifyingSink, informing

pytestmark = pytest.mark.anyio


def transition(
    i: int = 0,
    *,
    kind: Kind = Kind.POD,
    namespace: str = "shop",
    field: str = "phase",
    severity: Severity = Severity.WARNING,
) -> Transition:
    return Transition(
        at=1_700_000_000.0 + i,
        kind=kind,
        namespace=namespace,
        name=f"p{i}",
        uid=f"u{i}",
        field=field,
        old="Pending",
        new="Running",
        severity=severity,
        id=i + 1,
    )


@pytest.fixture
async def registry() -> AsyncIterator[CallbackRegistry]:
    reg = CallbackRegistry(subscriber_queue_size=10, callback_timeout=2.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        yield reg
        tg.cancel_scope.cancel()


async def test_filters(registry: CallbackRegistry) -> None:
    got: dict[str, list[str]] = {"all": [], "nodes": [], "shop-ready": [], "critical": []}
    subs = [
        registry.subscribe(lambda t: got["all"].append(t.name)),
        registry.subscribe(lambda t: got["nodes"].append(t.name), kinds=["Node"]),
        registry.subscribe(
            lambda t: got["shop-ready"].append(t.name),
            namespaces=["shop"],
            fields=["condition/*", "ready"],
        ),
        registry.subscribe(lambda t: got["critical"].append(t.name), min_severity="critical"),
    ]
    registry.publish(
        [
            transition(0),
            transition(1, kind=Kind.NODE, namespace=""),
            transition(2, field="condition/Ready"),
            transition(3, namespace="other", field="ready"),
            transition(4, severity=Severity.CRITICAL),
            transition(5, severity=Severity.INFO, field="ready"),
        ]
    )
    with anyio.fail_after(5):
        for sub in subs:
            await sub.drained()
    assert got == {
        "all": ["p0", "p1", "p2", "p3", "p4", "p5"],
        "nodes": ["p1"],
        "shop-ready": ["p2", "p5"],
        "critical": ["p4"],
    }


async def test_slow_and_failing_callbacks_do_not_hold_others(registry: CallbackRegistry) -> None:
    release = anyio.Event()
    received: list[Transition] = []

    async def hangs(t: Transition) -> None:
        await release.wait()

    def fails(t: Transition) -> None:
        raise RuntimeError("boom")

    async def works(t: Transition) -> None:
        received.append(t)

    slow = registry.subscribe(hangs, name="hangs", queue_size=5, timeout=None)
    bad = registry.subscribe(fails, queue_size=200)
    good = registry.subscribe(works, queue_size=200)
    registry.publish(transition(i) for i in range(100))
    with anyio.fail_after(5):
        await good.drained()
        await bad.drained()
    assert len(received) == 100  # all delivered while the hung callback still hangs
    assert (bad.failed, bad.delivered) == (100, 0)
    # The hung callback's queue holds five; the rest is dropped - and counted.
    assert slow.dropped == 100 - 5
    assert slow.delivered == 0
    release.set()
    with anyio.fail_after(5):
        await slow.drained()
    assert slow.delivered == 5


async def test_a_failing_callback_is_an_error_in_the_log_with_its_name_and_count(
    registry: CallbackRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    def buggy(t: Transition) -> None:
        raise KeyError("no such field")

    def refused(t: Transition) -> None:
        raise DeliveryError("the receiver said 410 Gone")

    caplog.set_level(logging.WARNING, logger="dispatch")
    subs = [registry.subscribe(buggy, name="buggy"), registry.subscribe(refused, name="relay")]
    registry.publish(transition(i) for i in range(3))
    with anyio.fail_after(5):
        for sub in subs:
            await sub.drained()
    assert [(sub.failed, sub.delivered) for sub in subs] == [(3, 0), (3, 0)]
    # One line per callback (the rest counted), at error level, naming it.
    by_callback = {r.getMessage().split()[1]: r for r in caplog.records}
    assert set(by_callback) == {"buggy", "relay"}
    assert all(r.levelno == logging.ERROR for r in caplog.records)
    bug, refusal = by_callback["buggy"], by_callback["relay"]
    assert "KeyError: 'no such field' (1 failures so far)" in bug.getMessage()
    assert bug.exc_info is not None  # a bug comes with its traceback
    assert "the receiver said 410 Gone" in refusal.getMessage()
    assert not refusal.exc_info  # an expected failure says why, no more


async def test_callback_timeout_and_dispatch_overflow() -> None:
    reg = CallbackRegistry(queue_size=3, callback_timeout=0.05)
    never = anyio.Event()

    async def stuck(t: Transition) -> None:
        await never.wait()

    sub = reg.subscribe(stuck)
    reg.publish(transition(i) for i in range(5))  # not running yet: the queue holds 3
    assert (reg.stats.published, reg.stats.dropped) == (3, 2)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reg.run)
        with anyio.fail_after(5):
            await sub.drained()
        tg.cancel_scope.cancel()
    assert (sub.failed, sub.delivered) == (3, 0)  # each call timed out


async def test_unsubscribe(registry: CallbackRegistry) -> None:
    got: list[str] = []
    sub = registry.subscribe(lambda t: got.append(t.name))
    registry.publish([transition(0)])
    with anyio.fail_after(5):
        await sub.drained()
    sub.close()
    registry.publish([transition(1)])
    assert sub not in registry.subscriptions
    assert got == ["p0"]


def test_log_sink(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    log_transition(transition(1, severity=Severity.CRITICAL, field="container/app/waiting_reason"))
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Pod shop/p1 container/app/waiting_reason: Pending -> Running"


class Receiver:
    """A real HTTP receiver on loopback that records what webhooks POST."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.fail_first = 0
        self.fail_status = 500
        self.retry_after: Callable[[], str] | None = None  # the failures' Retry-After
        self.status = 200
        self.hang = False
        self.release = anyio.Event()
        self.arrived = anyio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrivals.append(time.monotonic())
        self.requests.append((dict(request.headers), body))
        self.arrived.set()
        self.arrived = anyio.Event()
        if self.hang:
            await self.release.wait()
        if self.fail_first > 0:
            self.fail_first -= 1
            headers = {"Retry-After": self.retry_after()} if self.retry_after else None
            return web.Response(status=self.fail_status, headers=headers)
        return web.Response(status=self.status)

    async def until(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.requests) < count:
                await self.arrived.wait()

    def transitions(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(body) for _, body in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield rec
    rec.release.set()
    await runner.cleanup()


async def test_webhook_posts_signed_json(receiver: Receiver) -> None:
    async with WebhookSink(receiver.url, secret="s3cret") as hook:
        await hook(transition(7))
    headers, body = receiver.requests[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Watchcache-Signature"] == f"sha256={expected}"
    assert headers["X-Watchcache-Delivery"] == "8"
    assert headers["Content-Type"] == "application/json"
    assert msgspec.json.decode(body) == {
        "at": 1_700_000_007.0,
        "kind": "Pod",
        "namespace": "shop",
        "name": "p7",
        "uid": "u7",
        "field": "phase",
        "old": "Pending",
        "new": "Running",
        "severity": "warning",
        "reason": "",
        "message": "",
        "id": 8,
    }


async def test_webhook_retries_5xx_not_4xx(receiver: Receiver) -> None:
    receiver.fail_first = 2
    async with WebhookSink(receiver.url, backoff_initial=0.01) as hook:
        await hook(transition(1))
        assert (hook.delivered, hook.retries) == (1, 2)
        ids = {h["X-Watchcache-Delivery"] for h, _ in receiver.requests}
        assert ids == {"2"}  # one delivery id across the retries
        receiver.status = 422
        with pytest.raises(WebhookError, match="422"):
            await hook(transition(2))
    assert len(receiver.requests) == 4  # 3 attempts, then 1: a 4xx is not retried


async def test_webhook_waits_until_a_retry_after_date(receiver: Receiver) -> None:
    receiver.fail_first = 1
    receiver.fail_status = 503
    # HTTP dates have whole seconds: this one is 1 to 2 s away when sent.
    receiver.retry_after = lambda: email.utils.formatdate(time.time() + 2, usegmt=True)
    # Without the header the retry would come within a millisecond.
    async with WebhookSink(receiver.url, backoff_initial=0.001, backoff_max=5) as hook:
        await hook(transition(1))
    assert (hook.delivered, hook.retries) == (1, 1)
    first, second = receiver.arrivals
    assert second - first >= 0.9


def test_webhook_refuses_a_backoff_that_cannot_grow() -> None:
    with pytest.raises(ValueError, match="backoff initial and max must be positive"):
        WebhookSink("http://127.0.0.1:9/hook", backoff_initial=0)


async def test_webhook_gives_up_on_a_hanging_receiver(receiver: Receiver) -> None:
    receiver.hang = True
    async with WebhookSink(receiver.url, timeout=0.1, max_attempts=2, backoff_initial=0.01) as hook:
        with pytest.raises(WebhookError, match="timeout"):
            await hook(transition(1))
    assert len(receiver.requests) == 2


async def ingest(
    sim: Simulator, tmp_path: Path, registry: CallbackRegistry, *, updates: int, name: str
) -> None:
    """Make `updates` pod status changes and wait until the store has committed the last."""
    async with open_store(
        tmp_path / f"{name}.db", settings=StoreSettings(batch_interval_s=0.005)
    ) as store:
        store.writer.subscribe(registry.publish)
        sink = NotifyingSink(store.writer)
        async with informing(sim, sink, kinds=("pods",)):
            for i in range(updates):
                set_pod_state(sim, "p0", restarts=i + 1, ready=i % 2 == 0)
            target = str(sim.store.get("pods", "default", "p0")["metadata"]["resourceVersion"])
            with anyio.fail_after(10):
                while True:
                    mark = sink.marker()
                    await store.writer.flush()
                    row = await store.reader.get_pod("default", "p0")
                    if row is not None and row.resource_version == target:
                        break
                    await mark.wait()


async def test_webhook_end_to_end_once_each_and_a_hung_receiver_costs_nothing(
    receiver: Receiver, tmp_path: Path
) -> None:
    async with Simulator(bookmark_interval=0.3) as sim:
        sim.store.create("pods", make_pod("p0"))
        # 1. Every committed transition reaches the receiver once, in order.
        registry = CallbackRegistry()
        async with WebhookSink(receiver.url, secret="k") as hook, anyio.create_task_group() as tg:
            sub = registry.subscribe(hook, kinds=["Pod"], timeout=None)
            tg.start_soon(registry.run)
            await ingest(sim, tmp_path, registry, updates=6, name="first")
            with anyio.fail_after(5):
                await sub.drained()
            tg.cancel_scope.cancel()
        posted = receiver.transitions()
        async with open_store(tmp_path / "first.db") as store:
            history = list(reversed(await store.reader.history(kind=Kind.POD, limit=1000)))
        assert [p["id"] for p in posted] == [t.id for t in history]
        assert len(posted) >= 6  # at least one change per update
        assert sub.failed == 0

        # 2. A receiver that hangs (holding each request 30 s): ingestion goes on, its
        #    transitions are dropped and counted. (How long ingestion takes then is
        #    benchmarks/ingest_bench.py's business.)
        receiver.hang = True
        hung_registry = CallbackRegistry(subscriber_queue_size=4)
        async with WebhookSink(receiver.url, timeout=30) as hook, anyio.create_task_group() as tg:
            hung = hung_registry.subscribe(hook, timeout=None)
            tg.start_soon(hung_registry.run)
            await ingest(sim, tmp_path, hung_registry, updates=300, name="hung")
            assert hung.delivered == 0
            assert hung.dropped > 0  # counted, not silently lost
            tg.cancel_scope.cancel()
        assert receiver.requests  # the hung receiver did get (and still holds) a request
