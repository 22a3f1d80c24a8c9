"""Health analyzers on realistic objects, and the ranked report built from the store."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kinds import deployment as deployment_kind
from kinds import node as node_kind
from kinds.pod import health as pod_health
from store import (
    Condition,
    Delta,
    DeploymentRow,
    HealthSettings,
    Kind,
    Row,
    Severity,
    Store,
    StoreSettings,
    Taint,
    open_store,
)
from store import health as h

from .factories import (
    T0,
    container,
    crash_looping,
    deployment,
    evolve,
    node,
    node_conditions,
    not_ready_conditions,
    pod,
)

S = HealthSettings()
EPOCH_T0 = datetime.fromisoformat(T0.replace("Z", "+00:00")).timestamp()


def test_crash_loop() -> None:
    row = pod(
        ready=False,
        status="CrashLoopBackOff",
        containers=(crash_looping(restarts=7), container("sidecar")),
    )
    c = pod_health.pod_crash_loop(row, S)
    assert c is not None
    f = c.finding
    assert (f.check, f.severity, f.reason, f.kind) == (
        "pod.crash_loop",
        Severity.CRITICAL,
        "CrashLoopBackOff",
        Kind.POD,
    )
    assert "app" in f.message
    assert "back-off" in f.message
    assert f.evidence["containers"][0]["restarts"] == 7
    assert f.evidence["containers"][0]["last_terminated_exit_code"] == 1
    assert c.field == "container/app/waiting_reason"
    assert pod_health.pod_crash_loop(pod(), S) is None


@pytest.mark.parametrize(
    ("reason", "severity"),
    [
        ("ImagePullBackOff", Severity.WARNING),
        ("ErrImagePull", Severity.WARNING),
        ("InvalidImageName", Severity.CRITICAL),
    ],
)
def test_image_pull(reason: str, severity: Severity) -> None:
    row = pod(
        phase="Pending",
        ready=False,
        status=reason,
        containers=(
            container(
                ready=False,
                started=False,
                state="waiting",
                image="registry.example.com/app:does-not-exist",
                waiting_reason=reason,
                waiting_message='Back-off pulling image "registry.example.com/app:does-not-exist"',
            ),
        ),
    )
    c = pod_health.pod_image_pull(row, S)
    assert c is not None
    assert (c.finding.reason, c.finding.severity) == (reason, severity)
    assert c.finding.evidence["containers"][0]["image"].endswith(":does-not-exist")
    # The pod is Pending, but the pull error is the finding: no second "pending" finding.
    assert pod_health.pod_pending_too_long(row, S) is None


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "CreateContainerError"])
def test_create_container_error(reason: str) -> None:
    row = pod(
        phase="Pending",
        ready=False,
        status=reason,
        containers=(
            container(
                ready=False,
                state="waiting",
                waiting_reason=reason,
                waiting_message='secret "db-credentials" not found',
            ),
        ),
    )
    c = pod_health.pod_create_container_error(row, S)
    assert c is not None
    assert c.finding.reason == reason
    assert "db-credentials" in c.finding.message


def test_oom_killed_uses_the_finish_time_and_expires() -> None:
    row = pod(
        containers=(
            container(
                restarts=1,
                last_terminated_reason="OOMKilled",
                last_terminated_exit_code=137,
                last_terminated_at="2024-05-01T10:30:00Z",
            ),
        ),
        restarts=1,
    )
    c = pod_health.pod_oom_killed(row, S)
    assert c is not None
    assert c.finding.severity is Severity.CRITICAL
    assert c.finding.since == EPOCH_T0 + 1800
    assert "536870912" in c.finding.message  # the memory limit that was hit
    assert h.is_active(c, c.finding.since, EPOCH_T0 + 1800 + 60)
    assert not h.is_active(c, c.finding.since, EPOCH_T0 + 1800 + S.oom_window_s + 1)


def test_pending_too_long_and_unschedulable() -> None:
    row = pod(
        node=None,
        phase="Pending",
        ready=False,
        status="Pending",
        unschedulable=True,
        conditions={
            "PodScheduled": Condition(
                status="False",
                reason="Unschedulable",
                message="0/3 nodes are available: 3 Insufficient cpu.",
                last_transition=T0,
            )
        },
        containers=(container(ready=False, started=False, state="waiting", cpu_request_m=64000),),
    )
    c = pod_health.pod_pending_too_long(row, S)
    assert c is not None
    assert c.finding.reason == "Unschedulable"
    assert "Insufficient cpu" in c.finding.message
    assert c.finding.since == EPOCH_T0
    assert not h.is_active(c, c.finding.since, EPOCH_T0 + S.pending_after_s - 1)
    assert h.is_active(c, c.finding.since, EPOCH_T0 + S.pending_after_s + 1)


def test_running_but_not_ready() -> None:
    row = pod(
        ready=False,
        conditions=not_ready_conditions(since="2024-05-01T10:10:00Z"),
        containers=(container(ready=False),),
    )
    c = pod_health.pod_not_ready(row, S)
    assert c is not None
    assert (c.finding.reason, c.finding.since) == ("ContainersNotReady", EPOCH_T0 + 600)
    assert c.finding.evidence["containers_not_ready"] == ["app"]
    assert c.min_age_s == S.not_ready_after_s
    assert pod_health.pod_not_ready(pod(), S) is None


def test_failed_evicted_and_unknown() -> None:
    evicted = pod(
        phase="Failed",
        ready=False,
        status="Evicted",
        reason="Evicted",
        message="The node was low on resource: memory. Container app was using 1.2Gi.",
        containers=(container(ready=False, state="terminated"),),
    )
    c = pod_health.pod_failed(evicted, S)
    assert c is not None
    assert (c.finding.reason, c.finding.severity) == ("Evicted", Severity.WARNING)
    assert "low on resource" in c.finding.message
    lost = pod(phase="Unknown", ready=False, status="Unknown", reason="NodeLost")
    u = pod_health.pod_unknown_phase(lost, S)
    assert u is not None
    assert (u.finding.reason, u.finding.severity) == ("NodeLost", Severity.CRITICAL)


def test_stuck_terminating() -> None:
    row = pod(status="Terminating", deletion_at="2024-05-01T10:05:00Z")
    c = pod_health.pod_stuck_terminating(row, S)
    assert c is not None
    assert c.finding.since == EPOCH_T0 + 300
    assert not h.is_active(c, c.finding.since, EPOCH_T0 + 300 + S.terminating_after_s - 1)
    assert h.is_active(c, c.finding.since, EPOCH_T0 + 300 + S.terminating_after_s + 1)


def _degraded(available: int, **kw: Any) -> DeploymentRow:
    return deployment(
        available_replicas=available,
        ready_replicas=available,
        unavailable_replicas=3 - available,
        conditions={
            "Available": Condition(
                status="False",
                reason="MinimumReplicasUnavailable",
                message="Deployment does not have minimum availability.",
                last_transition="2024-05-01T10:01:00Z",
            ),
            "Progressing": Condition(status="True", reason="ReplicaSetUpdated"),
        },
        status="Unavailable",
        **kw,
    )


def test_deployment_unavailable_versus_zero_available() -> None:
    some = _degraded(1)
    c = deployment_kind.deployment_unavailable(some, S)
    assert c is not None
    assert c.finding.message == "2 of 3 replicas unavailable"
    assert c.finding.since == EPOCH_T0 + 60
    assert deployment_kind.deployment_zero_available(some, S) is None
    none = _degraded(0)
    z = deployment_kind.deployment_zero_available(none, S)
    assert z is not None
    assert z.finding.severity is Severity.CRITICAL
    assert (
        deployment_kind.deployment_unavailable(none, S) is None
    )  # reported once, as the worse finding


def test_progress_deadline_replica_failure_rollout_stuck_paused() -> None:
    row = deployment(
        generation=7,
        observed_generation=7,
        updated_replicas=1,
        conditions={
            "Available": Condition(status="True", reason="MinimumReplicasAvailable"),
            "Progressing": Condition(
                status="False",
                reason="ProgressDeadlineExceeded",
                message='ReplicaSet "web-5c4d" has timed out progressing.',
                last_transition=T0,
            ),
            "ReplicaFailure": Condition(
                status="True",
                reason="FailedCreate",
                message='pods "web-5c4d-" is forbidden: exceeded quota: compute-resources',
                last_transition=T0,
            ),
        },
    )
    pd = deployment_kind.deployment_progress_deadline(row, S)
    rf = deployment_kind.deployment_replica_failure(row, S)
    rs = deployment_kind.deployment_rollout_stuck(row, S)
    assert pd is not None
    assert pd.finding.reason == "ProgressDeadlineExceeded"
    assert rf is not None
    assert "exceeded quota" in rf.finding.message
    assert rf.finding.severity is Severity.CRITICAL
    assert rs is not None
    assert rs.finding.message == "1 of 3 replicas updated"
    assert rs.min_age_s == S.rollout_stuck_after_s
    behind = deployment(generation=8, observed_generation=7)
    stuck = deployment_kind.deployment_rollout_stuck(behind, S)
    assert stuck is not None
    assert "not yet observed" in stuck.finding.message
    paused = deployment_kind.deployment_paused(deployment(paused=True), S)
    assert paused is not None
    assert paused.finding.severity is Severity.INFO
    assert (
        deployment_kind.deployment_rollout_stuck(deployment(paused=True, updated_replicas=0), S)
        is None
    )


def test_node_findings() -> None:
    down = node(conditions=node_conditions(Ready="Unknown"), status="NotReady")
    c = node_kind.node_not_ready(down, S)
    assert c is not None
    assert (c.finding.reason, c.finding.severity) == ("NodeStatusUnknown", Severity.CRITICAL)
    pressed = node(conditions=node_conditions(MemoryPressure="True", DiskPressure="True"))
    p = node_kind.node_pressure(pressed, S)
    assert p is not None
    assert p.finding.reason == "MemoryPressure,DiskPressure"
    assert p.finding.evidence["conditions"] == ["MemoryPressure", "DiskPressure"]
    net = node_kind.node_network_unavailable(
        node(conditions=node_conditions(NetworkUnavailable="True")), S
    )
    assert net is not None
    assert net.finding.severity is Severity.CRITICAL
    cordoned = node(
        unschedulable=True,
        status="Ready,SchedulingDisabled",
        taints=(Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule"),),
    )
    cd = node_kind.node_cordoned(cordoned, S)
    assert cd is not None
    assert cd.finding.evidence["taints"] == ["node.kubernetes.io/unschedulable"]
    for analyzer in (
        node_kind.node_not_ready,
        node_kind.node_pressure,
        node_kind.node_network_unavailable,
        node_kind.node_cordoned,
    ):
        assert analyzer(node(), S) is None
    over = h.node_overcommitted(
        name="node-a",
        uid="u",
        requested_cpu_m=4200,
        requested_memory_bytes=1,
        allocatable_cpu_m=3800,
        allocatable_memory_bytes=2**30,
        since=1.0,
    )
    assert over is not None
    assert over.message == "pod requests exceed allocatable: cpu 4200m > 3800m"


@pytest.mark.anyio
async def test_report_ranks_counts_and_filters(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        rows: list[tuple[Kind, Row]] = [
            (Kind.NODE, node("node-a")),
            (
                Kind.NODE,
                node("node-b", conditions=node_conditions(Ready="False"), status="NotReady"),
            ),
            (Kind.NODE, node("node-c", unschedulable=True, status="Ready,SchedulingDisabled")),
            (Kind.DEPLOYMENT, _degraded(0, name="api")),
            (Kind.DEPLOYMENT, deployment("batch", paused=True)),
            (
                Kind.POD,
                pod("web-1", containers=(crash_looping(),), ready=False, status="CrashLoopBackOff"),
            ),
            (Kind.POD, pod("web-2")),
            (
                Kind.POD,
                pod("web-3", namespace="other", phase="Failed", reason="Evicted", ready=False),
            ),
        ]
        for kind, row in rows:
            await store.writer.put(Delta(kind, "ADDED", row))
        await store.writer.flush()
        now = time.time() + 86400  # every age threshold passed
        report = await store.reader.health_report(now=now)
        assert [(f.severity.value, f.check, f.name) for f in report.findings] == [
            ("critical", "node.not_ready", "node-b"),  # oldest since first among the criticals
            ("critical", "deployment.zero_available", "api"),
            ("critical", "pod.crash_loop", "web-1"),
            ("warning", "node.cordoned", "node-c"),
            # Progressing=True (ReplicaSetUpdated) with replicas unavailable: a rollout
            # under way, by the one definition (kinds.deployment.rollout_progressing).
            ("warning", "deployment.rollout_stuck", "api"),
            ("warning", "pod.failed", "web-3"),
            ("info", "deployment.paused", "batch"),
        ]
        assert report.counts_by_severity == {"critical": 3, "warning": 3, "info": 1}
        assert report.counts_by_kind == {"Node": 2, "Deployment": 3, "Pod": 2}
        assert report.total == 7
        assert not report.truncated
        top = await store.reader.health_report(now=now, limit=2)
        assert top.truncated
        assert top.total == 7
        assert len(top.findings) == 2
        assert top.counts_by_severity == report.counts_by_severity
        urgent = await store.reader.health_report(now=now, min_severity="critical")
        assert urgent.total == 3
        other = await store.reader.health_report(now=now, namespace="other")
        assert [f.name for f in other.findings] == ["web-3"]
        pods_only = await store.reader.health_report(now=now, kinds=[Kind.POD])
        assert {f.kind for f in pods_only.findings} == {Kind.POD}


@pytest.mark.anyio
async def test_age_thresholds_apply_at_report_time(tmp_path: Path) -> None:
    settings = StoreSettings(health=HealthSettings(pending_after_s=120))
    async with open_store(tmp_path / "s.db", settings=settings) as store:
        pending = pod(node=None, phase="Pending", ready=False, status="Pending", containers=())
        await store.writer.apply([Delta(Kind.POD, "ADDED", pending)])
        early = await store.reader.health_report(now=EPOCH_T0 + 60)
        late = await store.reader.health_report(now=EPOCH_T0 + 121)
        assert early.total == 0
        assert [f.check for f in late.findings] == ["pod.pending"]


@pytest.mark.anyio
async def test_since_comes_from_history_and_survives_modifications_and_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with open_store(path) as store:
        healthy = pod()
        await store.writer.apply([Delta(Kind.POD, "ADDED", healthy)])
        broken = evolve(
            healthy,
            ready=False,
            status="CrashLoopBackOff",
            containers=(crash_looping(restarts=1),),
            restarts=1,
        )
        transitions = await store.writer.apply([Delta(Kind.POD, "MODIFIED", broken)])
        began = {t.field: t.at for t in transitions}["container/app/waiting_reason"]
        later = evolve(broken, containers=(crash_looping(restarts=2),), restarts=2)
        await store.writer.apply([Delta(Kind.POD, "MODIFIED", later)])
        assert await _crash_loop_since(store) == began
    async with open_store(path) as store:
        assert await _crash_loop_since(store) == began


async def _crash_loop_since(store: Store) -> float | None:
    report = await store.reader.health_report()
    return next(f for f in report.findings if f.check == "pod.crash_loop").since


@pytest.mark.anyio
async def test_a_reopened_store_dates_a_finding_by_its_own_object_not_a_namesake(
    tmp_path: Path,
) -> None:
    """A pod recreated under the same name is dated from its own history, after a reopen too."""
    path = tmp_path / "s.db"
    async with open_store(path) as store:
        first = pod(ready=False, status="CrashLoopBackOff", containers=(crash_looping(),))
        await store.writer.apply([Delta(Kind.POD, "ADDED", pod())])
        await store.writer.apply([Delta(Kind.POD, "MODIFIED", first)])
        await store.writer.apply([Delta(Kind.POD, "DELETED", first)])
        again = pod(uid="uid-pod-again")
        await store.writer.apply([Delta(Kind.POD, "ADDED", again)])
        broken = evolve(first, uid="uid-pod-again")
        transitions = await store.writer.apply([Delta(Kind.POD, "MODIFIED", broken)])
        began = {t.field: t.at for t in transitions}["container/app/waiting_reason"]
    async with open_store(path) as store:
        assert await _crash_loop_since(store) == began


@pytest.mark.anyio
async def test_restarts_rising_from_history(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        row = pod(containers=(container(restarts=0),), restarts=0)
        await store.writer.apply([Delta(Kind.POD, "ADDED", row)])
        for n in (1, 2, 4):
            row = evolve(
                row, containers=(container(restarts=n, last_terminated_reason="Error"),), restarts=n
            )
            await store.writer.apply([Delta(Kind.POD, "MODIFIED", row)])
        # Restarts are past problems: reported apart, and only when asked for.
        assert (await store.reader.health_report()).past_total == 0
        report = await store.reader.health_report(include_past=True)
        assert not [f for f in report.findings if f.check == "pod.restarts_rising"]
        assert report.past_total == 1
        rising = [f for f in report.past if f.check == "pod.restarts_rising"]
        assert len(rising) == 1
        assert rising[0].evidence["restarts_in_window"] == 4
        assert rising[0].evidence["restart_count"] == 4
        began = rising[0].since
        assert began is not None
        much_later = await store.reader.health_report(
            now=began + S.restarts_window_s + 1, include_past=True
        )
        assert much_later.past_total == 0


@pytest.mark.anyio
async def test_node_overcommit_follows_the_pods_on_it(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        small = node("node-a", cpu_allocatable_m=1000)
        first = pod("a-1", containers=(container(cpu_request_m=600),), cpu_request_m=600)
        second = pod("a-2", containers=(container(cpu_request_m=600),), cpu_request_m=600)
        await store.writer.apply(
            [
                Delta(Kind.NODE, "ADDED", small),
                Delta(Kind.POD, "ADDED", first),
                Delta(Kind.POD, "ADDED", second),
            ]
        )
        report = await store.reader.health_report()
        assert [f.check for f in report.findings] == ["node.overcommitted"]
        assert report.findings[0].evidence["requested_cpu_m"] == 1200
        await store.writer.apply([Delta(Kind.POD, "DELETED", second)])
        assert (await store.reader.health_report()).total == 0
        await store.writer.apply(
            [
                Delta(Kind.POD, "ADDED", second),
                Delta(Kind.NODE, "MODIFIED", evolve(small, cpu_allocatable_m=4000)),
            ]
        )
        assert (await store.reader.health_report()).total == 0


@pytest.mark.anyio
async def test_problems_only_lists_flagged_rows(tmp_path: Path) -> None:
    async with open_store(tmp_path / "s.db") as store:
        await store.writer.apply(
            [
                Delta(Kind.POD, "ADDED", pod("ok")),
                Delta(Kind.POD, "ADDED", pod("bad", containers=(crash_looping(),), ready=False)),
            ]
        )
        page = await store.reader.list_pods(problems_only=True)
        assert [p.name for p in page.items] == ["bad"]
        rows = await store.reader.query("SELECT name, problem FROM pods ORDER BY name")
        assert rows.rows == [["bad", Severity.CRITICAL.rank + 1], ["ok", 0]]
