"""The console's view of status transitions: problems that last, their recoveries, a digest.

A cluster under churn makes hundreds of transitions a minute, and most of
them undo themselves within seconds (a pod replaced, a deployment one
replica short while it is). One line each makes a terminal nobody reads, so
for people (`--log-format text`) the log says:

- a **problem** once it has lasted: a field's critical value after
  `hold_critical` seconds, a warning after `hold_warning`, at ERROR or
  WARNING, with how long it has lasted and how often it changed meanwhile
  (one line per object: a deployment's condition and replica counts that
  broke together are one problem);
- its **recovery**, when those fields transition back to a healthy value:
  "... recovered after 4m12s", at INFO (a deleted object's problems end
  with it, counted in the digest);
- once per `period`, when anything happened, a one-line **digest** of the
  rest: how many transitions by severity, how many problems cleared before
  they were announced, what is still open, and the field that changed most.

At most one announcement per object and field per period (a field that
recovers and breaks again within the period is counted, not re-announced),
and at most `max_announcements` objects per period in all: the rest are
counted in the digest. Every transition is logged at DEBUG (`--log-level debug`).
Machines (`--log-format json`) get one record per transition instead
(`dispatch.callbacks.log_transition`): they count and correlate themselves.

The clock is injectable: a test drives a simulated cluster faster than the
wall clock and reads time from the simulation.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable

import anyio

from store.model import Severity, Transition

__all__ = ["TransitionLog", "describe_duration"]

log = logging.getLogger("dispatch.transitions")

# Bounds on what is remembered, whatever the cluster's size and churn.
_MAX_OPEN = 50_000
_MAX_COUNTED_FIELDS = 10_000

_LEVEL = {Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}
# Counts that only grow never recover, so they are never announced on their own,
# only along with the object's other problems (a crash loop's restarts).
_ONLY_ALONG = frozenset({"restarts"})


def describe_duration(seconds: float) -> str:
    """`4m12s`, `1h03m`, `12s`: short enough for a log line."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _where(t: Transition) -> str:
    return f"{t.kind} {t.namespace}/{t.name}" if t.namespace else f"{t.kind} {t.name}"


def _why(t: Transition) -> str:
    return f" ({t.reason}: {t.message})" if t.reason or t.message else ""


@dataclasses.dataclass
class _Problem:
    """One field of one object at a warning or critical value, since `since`."""

    uid: str
    where: str
    field: str
    since: float
    first_old: str | None
    value: str | None
    why: str
    severity: Severity
    changes: int = 1
    announced: bool = False
    not_shown: bool = False  # over the period's limit: counted in the digest, never announced


@dataclasses.dataclass
class _Period:
    """What one digest period saw."""

    started: float
    by_severity: Counter[Severity] = dataclasses.field(default_factory=Counter)
    bad_fields: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    worst: dict[tuple[str, str], Severity] = dataclasses.field(default_factory=dict)
    cleared_early: int = 0
    ended_by_deletion: int = 0
    announced: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    announced_objects: set[str] = dataclasses.field(default_factory=set)
    not_shown: int = 0

    @property
    def transitions(self) -> int:
        return sum(self.by_severity.values())


class TransitionLog:
    """A transition sink for people's consoles; subscribe it for every severity.

    Call it with each transition (the registry does), run `run()` for the
    timers (announcements after their hold, the digest), or call `tick()`.
    """

    name = "log"

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        period: float = 60.0,
        hold_critical: float = 10.0,
        hold_warning: float = 300.0,
        max_announcements: int = 12,
    ) -> None:
        self.clock = clock
        self.period = period
        self.hold = {Severity.CRITICAL: hold_critical, Severity.WARNING: hold_warning}
        self.max_announcements = max_announcements
        self._open: dict[tuple[str, str], _Problem] = {}
        self._fields_of: dict[str, set[str]] = {}  # uid -> fields with an open problem
        self._recoveries: dict[str, list[tuple[_Problem, Transition, float]]] = {}
        self._period: _Period | None = None

    # -- the sink -------------------------------------------------------------------------

    def __call__(self, t: Transition) -> None:
        now = self.clock()
        period = self._current(now)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s: %s -> %s%s",
                _where(t),
                t.field,
                t.old,
                t.new,
                _why(t),
                extra={"fields": {"severity": str(t.severity)}},
            )
        period.by_severity[t.severity] += 1
        if t.field == "deleted":
            self._deleted(t, now)
            return
        key = (t.uid, t.field)
        if t.severity is Severity.INFO:
            problem = self._open.pop(key, None)
            if problem is not None:
                self._forget(key)
                self._recovered(problem, t, now)
            return
        self._count_bad(period, t)
        problem = self._open.get(key)
        if problem is None:
            self._open_problem(key, t, now)
            return
        problem.changes += 1
        problem.value = t.new
        problem.why = _why(t)
        if t.severity.rank > problem.severity.rank:
            problem.severity = t.severity

    # -- timers ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Say what recovered and what outlasted its hold; write the digest when it is due."""
        now = self.clock()
        period = self._current(now)
        for recovered in self._recoveries.values():
            self._say_recovered(recovered)
        self._recoveries.clear()
        due: dict[str, list[_Problem]] = {}
        for key, problem in self._open.items():
            if problem.announced or problem.not_shown or key in period.announced:
                continue  # said, over the limit, or said this period already (it flaps)
            if problem.field in _ONLY_ALONG:
                continue
            if now - problem.since >= self.hold[problem.severity]:
                due.setdefault(problem.uid, [])
        for uid in due:
            # The object's other open fields go along, due or not: one line per object.
            for field in sorted(self._fields_of.get(uid, ())):
                problem = self._open[(uid, field)]
                if not (problem.announced or problem.not_shown or (uid, field) in period.announced):
                    due[uid].append(problem)
        for uid, problems in due.items():
            problems.sort(key=lambda p: (-p.severity.rank, p.since))
            if len(period.announced_objects) >= self.max_announcements:
                period.not_shown += 1
                for problem in problems:
                    problem.not_shown = True
                continue
            period.announced_objects.add(uid)
            for problem in problems:
                problem.announced = True
                period.announced.add((uid, problem.field))
            self._announce(problems, now)
        if now - period.started >= self.period:
            self._digest(period, now)
            self._period = _Period(started=now)

    async def run(self, *, interval: float = 1.0) -> None:
        """Tick every `interval` seconds until cancelled."""
        while True:
            await anyio.sleep(interval)
            self.tick()

    # -- internals ------------------------------------------------------------------------

    def _current(self, now: float) -> _Period:
        if self._period is None:
            self._period = _Period(started=now)
        return self._period

    def _count_bad(self, period: _Period, t: Transition) -> None:
        label = (_where(t), t.field)
        if label not in period.bad_fields and len(period.bad_fields) >= _MAX_COUNTED_FIELDS:
            return
        period.bad_fields[label] += 1
        if t.severity.rank > period.worst.get(label, Severity.INFO).rank:
            period.worst[label] = t.severity

    def _open_problem(self, key: tuple[str, str], t: Transition, now: float) -> None:
        if len(self._open) >= _MAX_OPEN:
            # The oldest unannounced problem makes room; an announced one waits for its recovery.
            oldest = next((k for k, p in self._open.items() if not p.announced), None)
            if oldest is None:
                return
            del self._open[oldest]
            self._forget(oldest)
        self._open[key] = _Problem(
            uid=t.uid,
            where=_where(t),
            field=t.field,
            since=now,
            first_old=t.old,
            value=t.new,
            why=_why(t),
            severity=t.severity,
        )
        self._fields_of.setdefault(key[0], set()).add(key[1])

    def _forget(self, key: tuple[str, str]) -> None:
        fields = self._fields_of.get(key[0])
        if fields is not None:
            fields.discard(key[1])
            if not fields:
                del self._fields_of[key[0]]

    def _announce(self, problems: list[_Problem], now: float) -> None:
        """One line for one object's problems, worst (then oldest) first."""
        worst = problems[0].severity
        changed = sum(p.changes for p in problems) - len(problems)
        log.log(
            _LEVEL[worst],
            "%s %s - %s for %s%s",
            problems[0].where,
            # The worst field says why; the others' reasons mostly repeat it.
            ", ".join(
                f"{p.field}: {p.first_old} -> {p.value}{p.why if i == 0 else ''}"
                for i, p in enumerate(problems)
            ),
            worst,
            describe_duration(now - problems[0].since),  # the worst field's age
            f" ({changed} more changes meanwhile)" if changed else "",
        )

    def _recovered(self, problem: _Problem, t: Transition, now: float) -> None:
        """Said at the next tick, with the object's other fields that recover with it."""
        if problem.announced:
            self._recoveries.setdefault(problem.uid, []).append((problem, t, now))
        elif not problem.not_shown:
            self._current(now).cleared_early += 1

    def _say_recovered(self, recovered: list[tuple[_Problem, Transition, float]]) -> None:
        log.info(
            "%s %s: recovered after %s",
            recovered[0][0].where,
            ", ".join(f"{p.field}: {t.old} -> {t.new}" for p, t, _ in recovered),
            describe_duration(max(at - p.since for p, _, at in recovered)),
        )

    def _deleted(self, t: Transition, now: float) -> None:
        fields = self._fields_of.pop(t.uid, set())
        problems = [p for f in sorted(fields) if (p := self._open.pop((t.uid, f), None))]
        period = self._current(now)
        period.ended_by_deletion += sum(p.announced for p in problems)
        period.cleared_early += sum(not (p.announced or p.not_shown) for p in problems)
        recovered = self._recoveries.pop(t.uid, None)
        if recovered:
            self._say_recovered(recovered)

    def _digest(self, period: _Period, now: float) -> None:
        if not period.transitions:
            return
        counts = period.by_severity
        problems = []
        if period.cleared_early:
            problems.append(f"{period.cleared_early} cleared within their hold")
        if period.ended_by_deletion:
            problems.append(f"{period.ended_by_deletion} ended with their object")
        if self._open:
            critical = sum(p.severity is Severity.CRITICAL for p in self._open.values())
            problems.append(f"{len(self._open)} open ({critical} critical)")
        if period.not_shown:
            problems.append(
                f"{period.not_shown} not shown (at most {self.max_announcements} objects "
                "a period; recent_changes has them)"
            )
        parts = [
            f"last {describe_duration(now - period.started)}: {period.transitions} transitions"
            f" ({counts[Severity.CRITICAL]} critical, {counts[Severity.WARNING]} warning)",
        ]
        if problems:
            parts.append("problems: " + ", ".join(problems))
        if period.bad_fields:
            (where, field), times = max(
                period.bad_fields.items(),
                key=lambda item: (period.worst[item[0]].rank, item[1]),
            )
            parts.append(f"worst: {where} {field} ({period.worst[(where, field)]}, {times}x)")
        log.info("; ".join(parts))
