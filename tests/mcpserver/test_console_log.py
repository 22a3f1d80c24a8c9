"""The demo's console at the default level: few lines a minute, and the recoveries among them.

The agent runs as `serve --demo` does (the demo's shape, seed and churn),
but the test steps the simulated cluster itself, as fast as the agent takes
the changes, instead of two steps a wall-clock second. The console's
transition log reads the simulation's clock, so its holds and its digest
period are measured in the cluster's time: "a minute" here is 60 seconds of
simulated time, 120 churn steps at the demo's 2 actions a second, which is
what the demo does in one minute of wall-clock time. Every line counted is
one the console handler would print: every logger at INFO, as `serve` runs.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcpserver.agent import DEMO_SHAPE, running_agent
from mcpserver.config import Settings
from mcpserver.logs import AUDIT_LOGGER, console_handler, show_audit_lines
from tests.metrics.conftest import converge

pytestmark = pytest.mark.anyio

MINUTES = 6  # long enough for a warning to outlast its 5-minute hold
LINES_A_MINUTE = 30
_DIGEST = re.compile(r"^last 1m00s: \d+ transitions \(\d+ critical, \d+ warning\).*$", re.MULTILINE)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclasses.dataclass
class _Cluster:
    scenario: Any = None

    def seconds(self) -> float:
        return float(self.scenario.clock.seconds) if self.scenario is not None else 0.0


@pytest.mark.slow
async def test_the_demo_console_stays_under_30_lines_a_minute_and_shows_recoveries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # `serve`'s default level, on every logger
    console = io.StringIO()
    handler = console_handler(fmt="text", stream=console)
    root = logging.getLogger()
    cluster = _Cluster()

    def connected(sim: Any, scenario: Any) -> None:
        cluster.scenario = scenario

    settings = Settings(demo=True, port=0, db=tmp_path / "state.db")
    async with running_agent(
        settings, on_connect=connected, demo_shape=DEMO_SHAPE, log_clock=cluster.seconds
    ) as agent:
        assert agent.transition_log is not None
        with anyio.fail_after(20):
            await agent.informers.wait_synced()
        await converge(agent)
        root.addHandler(handler)
        try:
            per_minute: list[int] = []
            start = cluster.seconds()
            for minute in range(1, MINUTES + 1):
                before = len(console.getvalue().splitlines())
                while cluster.seconds() < start + 60 * minute:
                    agent.scenario.step()
                    await converge(agent, within=30)
                    with anyio.fail_after(30):
                        await agent.registry.drain()
                    agent.transition_log.tick()
                per_minute.append(len(console.getvalue().splitlines()) - before)
        finally:
            root.removeHandler(handler)
    lines = [line.split(": ", 1)[1] for line in console.getvalue().splitlines()]
    shown = "\n".join(lines)
    assert max(per_minute) < LINES_A_MINUTE, (per_minute, shown)
    assert any(re.fullmatch(r".*: recovered after \d+(m\d\d)?s", line) for line in lines), shown
    periods = _DIGEST.split("\n".join(lines))
    assert len(periods) > MINUTES - 1, shown  # a digest a minute
    # Within a period nothing is said twice: a field that flaps is counted, not said again.
    for said in periods:
        repeated = [line for line, n in Counter(said.splitlines()).items() if n > 1 and line]
        assert not repeated, shown


@pytest.fixture
def audit_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(AUDIT_LOGGER)
    level = logger.level
    yield logger
    logger.setLevel(level)


@pytest.mark.parametrize(
    ("demo", "level", "fmt", "shown"),
    [
        (True, "info", "text", False),  # a person watches the demo's console
        (True, "debug", "text", True),
        (True, "info", "json", True),  # collectors keep the audit trail
        (False, "info", "text", True),  # so does every real deployment
    ],
)
def test_audit_lines_are_off_the_demo_console_only(
    audit_logger: logging.Logger,
    caplog: pytest.LogCaptureFixture,
    demo: bool,
    level: str,
    fmt: str,
    shown: bool,
) -> None:
    caplog.set_level(level.upper())  # the root logger, as `configure_logging` sets it
    assert show_audit_lines(demo=demo, level=level, fmt=fmt) is shown
    assert audit_logger.isEnabledFor(logging.INFO) is shown
