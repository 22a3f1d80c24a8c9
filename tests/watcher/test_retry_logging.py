"""Retries are logged when their failures start, change and end, not once per try."""

from __future__ import annotations

import logging

import pytest

from simulator.server import Simulator
from tests.watcher.cluster import make_pod, set_pod_state
from tests.watcher.conftest import FAST, MemorySink, informing
from watcher import WatchSettings, load_connection, wait_for_cluster_identity

pytestmark = pytest.mark.anyio


def _lines(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


async def _fail_watches(
    sim: Simulator, sink: MemorySink, caplog: pytest.LogCaptureFixture, *statuses: int
) -> None:
    """Pods' watch requests answered with `statuses` in turn, then the watch recovers."""
    for i in range(3):
        sim.store.create("pods", make_pod(f"p{i}"))
    caplog.set_level(logging.DEBUG, logger="watcher.reflector")
    async with informing(sim, sink, kinds=("pods",)) as inf:
        caplog.clear()
        for status in statuses:
            sim.faults.fail_next(1, status=status, verb="watch", resource="pods")
        sim.faults.close_watches_after(1, streams=1, resource="pods")
        set_pod_state(sim, "p0", restarts=1)  # the event after which the stream closes
        await sink.until(lambda: inf.stats.restarts[("pods", "error")] == len(statuses))
        set_pod_state(sim, "p1", restarts=2)  # an event on the new watch: it works again
        await sink.until(
            lambda: any(
                "watching again" in line
                for line in _lines(caplog, "watcher.reflector", logging.INFO)
            )
        )


async def test_one_warning_when_failures_start_and_the_repeats_at_debug(
    sim: Simulator, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    await _fail_watches(sim, sink, caplog, 500, 500, 500, 500)
    warnings = _lines(caplog, "watcher.reflector", logging.WARNING)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("pods: ")
    assert "500" in warnings[0]
    repeats = _lines(caplog, "watcher.reflector", logging.DEBUG)
    assert sum("500" in line and "retrying" in line for line in repeats) == 3, repeats


async def test_a_new_warning_when_the_error_changes(
    sim: Simulator, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    await _fail_watches(sim, sink, caplog, 500, 500, 503, 503)
    warnings = _lines(caplog, "watcher.reflector", logging.WARNING)
    assert len(warnings) == 2, warnings
    assert "500" in warnings[0]
    assert "503" not in warnings[0]
    assert "now " in warnings[1]
    assert "503" in warnings[1]
    assert "500" in warnings[1]
    assert "2 failed tries" in warnings[1]


async def test_one_line_when_failures_end_with_the_last_error(
    sim: Simulator, sink: MemorySink, caplog: pytest.LogCaptureFixture
) -> None:
    await _fail_watches(sim, sink, caplog, 500, 503)
    (ended,) = [
        line
        for line in _lines(caplog, "watcher.reflector", logging.INFO)
        if "watching again" in line
    ]
    assert ended.startswith("pods: watching again after 2 failed tries")
    assert "last error" in ended
    assert "503" in ended


async def test_the_identity_wait_says_once_that_it_fails_and_once_that_it_ended(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = WatchSettings(**{**FAST.__dict__, "backoff_initial": 0.02, "backoff_max": 0.05})
    caplog.set_level(logging.DEBUG, logger="watcher.identity")
    async with Simulator() as sim:
        url = sim.url
        await sim.stop()
        failures: list[str] = []

        async def failed(message: str) -> None:
            failures.append(message)
            if len(failures) == 4:
                await sim.start()  # back on the same address

        async with await load_connection(server=url) as conn:
            identity = await wait_for_cluster_identity(conn, settings=settings, on_failure=failed)
    assert identity.uid is not None
    assert len(failures) == 4
    warnings = _lines(caplog, "watcher.identity", logging.WARNING)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"cannot read the cluster's identity: cannot reach {url}: connection refused"
    )
    assert len(_lines(caplog, "watcher.identity", logging.DEBUG)) == 3
    (ended,) = _lines(caplog, "watcher.identity", logging.INFO)
    assert ended.startswith(f"read the cluster's identity from {url} after 4 failed tries")
