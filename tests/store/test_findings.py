"""The one rule for current, pending and past findings, and grouping by cause."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from store import Kind, Severity
from store.findings import (
    Candidate,
    Finding,
    candidate_state,
    classify,
    group_findings,
)

NOW = 1_000_000.0


def _f(kind: Kind, name: str, check: str, namespace: str = "shop", **kw: Any) -> Finding:
    base: dict[str, Any] = {
        "check": check,
        "severity": Severity.CRITICAL if "not_ready" in check else Severity.WARNING,
        "kind": kind,
        "namespace": "" if kind is Kind.NODE else namespace,
        "name": name,
        "uid": f"{kind.value}-{namespace}-{name}",
        "reason": check,
        "message": "",
        "since": NOW - 100,
    }
    base.update(kw)
    return Finding(**base)


def test_grace_period_pending_then_current_and_past_events_apart() -> None:
    pending = Candidate(_f(Kind.POD, "a", "pod.pending", since=NOW - 10), min_age_s=300)
    due = Candidate(_f(Kind.POD, "b", "pod.pending", since=NOW - 301), min_age_s=300)
    oom = Candidate(_f(Kind.POD, "c", "pod.oom_killed"), max_age_s=3600)
    old_oom = Candidate(_f(Kind.POD, "d", "pod.oom_killed", since=NOW - 4000), max_age_s=3600)
    ahead = Candidate(_f(Kind.NODE, "n", "node.not_ready", since=NOW + 5))  # API clock ahead
    found = classify([pending, due, oom, old_oom, ahead], NOW)
    assert [f.name for f in found.current] == ["b", "n"]
    assert [(f.name, f.counts_at) for f in found.pending] == [("a", NOW - 10 + 300)]
    assert [f.name for f in found.past] == ["c"]
    assert candidate_state(old_oom, NOW) == "expired"


def test_pods_group_under_their_broken_node_and_deployments_short_because_of_it() -> None:
    """A node's item covers its pods and the deployment they leave short."""
    node = _f(Kind.NODE, "worker-1", "node.not_ready")
    on_node = [
        _f(Kind.POD, f"web-{i}", "pod.unknown", node="worker-1", deployment="web") for i in range(3)
    ]
    short = _f(Kind.DEPLOYMENT, "web", "deployment.unavailable")
    crashing = [
        _f(Kind.POD, f"api-{i}", "pod.crash_loop", node="worker-2", deployment="api")
        for i in range(2)
    ]
    lone = _f(Kind.POD, "job-1", "pod.failed", node="worker-2")
    elsewhere = _f(Kind.POD, "web-9", "pod.not_ready", node="worker-3", deployment="web")
    items, pending = group_findings([node, *on_node, short, *crashing, lone], [elsewhere])
    assert pending == []
    heads = {(i.finding.kind, i.finding.name): i for i in items}
    assert set(heads) == {(Kind.NODE, "worker-1"), (Kind.POD, "api-0"), (Kind.POD, "job-1")}
    node_group = heads[(Kind.NODE, "worker-1")].group
    assert node_group is not None
    assert node_group.by == "node"
    assert node_group.objects == 4  # three pods and the deployment they leave short
    assert node_group.deployments == ["shop/web"]
    assert node_group.pending == 1  # the deployment's other pod follows it, still pending
    assert node_group.pending_examples == ["shop/web-9"]
    assert items[0].finding.name == "worker-1"  # critical first
    assert sum(i.objects for i in items) == 1 + 3 + 1 + 2 + 1


def test_a_statefulsets_pods_group_under_it() -> None:
    """Pods owned by a StatefulSet go under its finding; one of another kind stays apart."""
    short = _f(Kind.STATEFULSET, "redis", "statefulset.replicas_not_ready")
    crashing = _f(Kind.POD, "redis-2", "pod.crash_loop", node="worker-2", owner="StatefulSet/redis")
    unknown_owner = _f(Kind.POD, "cron-1", "pod.failed", owner="CronJob/cron")
    stuck = _f(Kind.STATEFULSET, "kafka", "statefulset.update_stuck")
    pulling = _f(Kind.POD, "kafka-2", "pod.image_pull", owner="StatefulSet/kafka")
    items, pending = group_findings([short, crashing, unknown_owner], [stuck, pulling])
    heads = {(i.finding.kind, i.finding.name): i for i in items}
    assert set(heads) == {(Kind.STATEFULSET, "redis"), (Kind.POD, "cron-1")}
    group = heads[(Kind.STATEFULSET, "redis")].group
    assert group is not None
    assert (group.by, group.key, group.examples) == ("statefulset", "shop/redis", ["shop/redis-2"])
    # A cause with nothing current yet is one pending item, its pods under it.
    assert [(i.finding.name, i.pending, i.group.pending if i.group else 0) for i in pending] == [
        ("kafka", True, 1)
    ]


def test_deployments_blocked_by_one_quota_are_one_item() -> None:
    quota = "exceeded quota: compute-resources, requested: pods=1"
    blocked = [
        _f(Kind.DEPLOYMENT, f"d{i}", "deployment.replica_failure", message=f"forbidden: {quota}")
        for i in range(4)
    ]
    pods = [_f(Kind.POD, "d1-x", "pod.crash_loop", deployment="d1")]
    items, _pending = group_findings([*blocked, *pods])
    assert len(items) == 1
    group = items[0].group
    assert group is not None
    assert (group.by, group.key, group.objects) == ("quota", "shop/compute-resources", 4)


_kinds = st.sampled_from(["node", "pod", "deployment"])


@given(
    st.lists(
        st.tuples(
            _kinds,
            st.integers(0, 5),
            st.sampled_from(
                [
                    "node.not_ready",
                    "node.cordoned",
                    "pod.crash_loop",
                    "pod.unknown",
                    "deployment.unavailable",
                    "deployment.replica_failure",
                ]
            ),
            st.integers(0, 3),
            st.integers(0, 2),
        ),
        max_size=40,
    )
)
def test_every_object_is_accounted_for_exactly_once(specs: list[tuple[Any, ...]]) -> None:
    findings = []
    for kind_name, n, check, node, deployment in specs:
        kind = {"node": Kind.NODE, "pod": Kind.POD, "deployment": Kind.DEPLOYMENT}[kind_name]
        if check.split(".")[0] != kind_name:
            continue
        extra: dict[str, Any] = {}
        if kind is Kind.POD:
            extra = {"node": f"n{node}", "deployment": f"d{deployment}"}
        if check == "deployment.replica_failure" and n % 2:
            extra["message"] = "exceeded quota: q"
        findings.append(
            _f(kind, f"{kind_name[0]}{n}" if kind is not Kind.NODE else f"n{n}", check, **extra)
        )
    half = len(findings) // 2
    current, pending = findings[:half], findings[half:]
    now = {(f.kind, f.namespace, f.name) for f in current}
    later = {(f.kind, f.namespace, f.name) for f in pending} - now
    items, pending_items = group_findings(current, pending)
    assert sum(i.objects for i in items) == len(now)
    assert sum(i.objects for i in pending_items) + sum(
        i.group.pending for i in items if i.group
    ) == len(later)
    heads = [(i.finding.kind, i.finding.namespace, i.finding.name) for i in items]
    assert len(heads) == len(set(heads))
    assert {(f.kind, f.namespace, f.name) for f in (i.finding for i in items)} <= now
