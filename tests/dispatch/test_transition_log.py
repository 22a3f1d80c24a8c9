"""The console's transition log: what it says, when, and how often (`dispatch.transition_log`)."""

from __future__ import annotations

import logging

import pytest

from dispatch import TransitionLog, log_transition
from dispatch.transition_log import describe_duration
from store.model import Kind, Severity, Transition

CRITICAL, WARNING, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def change(
    name: str,
    field: str,
    old: str | None,
    new: str | None,
    severity: Severity,
    *,
    kind: Kind = Kind.DEPLOYMENT,
) -> Transition:
    return Transition(
        at=0.0,
        kind=kind,
        namespace="default",
        name=name,
        uid=f"uid-{name}",
        field=field,
        old=old,
        new=new,
        severity=severity,
    )


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_a_lasting_problem_is_said_once_then_its_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, hold_critical=10)
    console(change("gateway", "condition/Available", "True", "False", CRITICAL))
    console(change("gateway", "replicas/available", "5/5", "4/5", WARNING))
    clock.now += 5
    console.tick()
    assert lines(caplog) == []  # not yet lasting
    assert len(lines(caplog, logging.DEBUG)) == 2  # every transition at debug
    clock.now += 5
    console.tick()
    console.tick()
    (problem,) = lines(caplog)
    assert problem.startswith("Deployment default/gateway condition/Available: True -> False")
    assert "replicas/available: 5/5 -> 4/5" in problem  # the object's fields, one line
    assert problem.endswith("critical for 10s")
    assert [r.levelno for r in caplog.records if r.levelno > logging.DEBUG] == [logging.ERROR]
    clock.now += 242
    console(change("gateway", "condition/Available", "False", "True", INFO))
    console(change("gateway", "replicas/available", "4/5", "5/5", INFO))
    console.tick()
    assert (
        "Deployment default/gateway condition/Available: False -> True, "
        "replicas/available: 4/5 -> 5/5: recovered after 4m12s"
    ) in lines(caplog)


def test_a_flapping_field_is_said_once_a_period_and_counted_in_the_digest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, period=60, hold_critical=2)
    for _ in range(5):
        console(change("gateway", "replicas/ready", "5/5", "0/5", CRITICAL))
        clock.now += 3
        console.tick()
        console(change("gateway", "replicas/ready", "0/5", "5/5", INFO))
        clock.now += 3
        console.tick()
    clock.now += 60
    console.tick()
    said = lines(caplog)
    assert sum("5/5 -> 0/5" in line for line in said) == 1, said
    assert sum("recovered after" in line for line in said) == 1, said
    digest = said[-1]
    assert digest.startswith("last 1m"), said
    assert "10 transitions (5 critical, 0 warning)" in digest
    assert "problems: 4 cleared within their hold" in digest
    assert "worst: Deployment default/gateway replicas/ready (critical, 5x)" in digest


def test_short_problems_only_reach_the_digest_and_a_quiet_period_says_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, period=60, hold_critical=10)
    console(change("web", "condition/Available", "True", "False", CRITICAL))
    clock.now += 3
    console(change("web", "condition/Available", "False", "True", INFO))
    clock.now += 60
    console.tick()
    (digest,) = lines(caplog)
    assert "problems: 1 cleared within their hold" in digest
    clock.now += 120
    console.tick()
    assert len(lines(caplog)) == 1


def test_announcements_are_limited_per_period_and_the_rest_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, period=60, hold_critical=1, max_announcements=3)
    for i in range(10):
        console(change(f"d{i}", "condition/Available", "True", "False", CRITICAL))
    clock.now += 2
    console.tick()
    assert len(lines(caplog)) == 3
    for i in range(10):
        console(change(f"d{i}", "condition/Available", "False", "True", INFO))
    clock.now += 60
    console.tick()
    said = lines(caplog)
    assert sum("recovered after" in line for line in said) == 3  # only what was announced
    assert "7 not shown (at most 3 objects a period" in said[-1]


def test_a_deleted_object_ends_its_problems_in_the_digest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, period=60, hold_critical=1)
    console(change("p", "container/app/waiting_reason", None, "CrashLoopBackOff", CRITICAL))
    clock.now += 2
    console.tick()
    console(change("p", "deleted", None, "true", INFO))
    clock.now += 60
    console.tick()
    said = lines(caplog)
    assert len(said) == 2
    assert "1 ended with their object" in said[-1]


def test_machines_get_every_transition_as_fields() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("dispatch.transitions")
    handler = Keep(level=logging.DEBUG)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        log_transition(change("web", "replicas/ready", "2/3", "3/3", INFO))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (record,) = records
    assert record.levelno == logging.DEBUG
    assert record.fields == {  # type: ignore[attr-defined]
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
        "field": "replicas/ready",
        "old": "2/3",
        "new": "3/3",
        "severity": "info",
        "reason": "",
        "message": "",
    }


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.6, "1m00s"), (252, "4m12s"), (3780, "1h03m")]
)
def test_durations_read_short(seconds: float, text: str) -> None:
    assert describe_duration(seconds) == text


def test_restarts_are_said_only_along_with_the_objects_other_problems(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dispatch.transitions")
    clock = Clock()
    console = TransitionLog(clock=clock, period=600, hold_critical=1, hold_warning=5)
    console(change("p", "restarts", "0", "1", WARNING, kind=Kind.POD))
    clock.now += 60
    console.tick()
    assert lines(caplog) == []  # a count that only grows would be "open" forever
    console(change("p", "container/app/waiting_reason", None, "CrashLoopBackOff", CRITICAL))
    clock.now += 2
    console.tick()
    (said,) = lines(caplog)
    assert said.endswith(
        "waiting_reason: None -> CrashLoopBackOff, restarts: 0 -> 1 - critical for 2s"
    )
