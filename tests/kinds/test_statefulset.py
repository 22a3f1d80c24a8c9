"""StatefulSets: decoding, the derived status, the rollout rules, analyzers, changes, samples."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from kinds import HealthSettings, Kind, Severity, statefulset
from kinds.meta import KubeObject
from kinds.redaction import REDACTED
from store.transitions import changes_between, first_sight_changes, signature

NOW = time.time()
CREATED = "2026-01-01T00:00:00Z"


def sts(
    *,
    replicas: int = 3,
    ready: int = 3,
    current: int = 3,
    updated: int = 3,
    current_revision: str = "web-5d8f",
    update_revision: str = "web-5d8f",
    generation: int = 2,
    observed: int = 2,
    strategy: dict[str, Any] | None = None,
    env: list[dict[str, Any]] | None = None,
) -> KubeObject:
    container: dict[str, Any] = {"name": "db", "image": "postgres:16"}
    if env is not None:
        container["env"] = env
    obj = {
        "metadata": {
            "name": "web",
            "namespace": "data",
            "uid": "u-web",
            "resourceVersion": "7",
            "generation": generation,
            "creationTimestamp": CREATED,
            "labels": {"app": "web"},
        },
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": strategy or {"type": "RollingUpdate"},
            "template": {"spec": {"containers": [container]}},
        },
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
        },
    }
    return msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject)


def row(**kw: Any) -> statefulset.StatefulSetRow:
    return statefulset.normalize(sts(**kw))


def test_row_fields_come_from_spec_and_status() -> None:
    r = row(ready=2, strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    assert (r.namespace, r.name, r.uid, r.created_at) == ("data", "web", "u-web", CREATED)
    assert (r.replicas, r.ready_replicas, r.current_replicas, r.updated_replicas) == (3, 2, 3, 3)
    assert (r.update_strategy, r.partition, r.service_name) == ("RollingUpdate", 1, "web")
    assert r.selector == {"app": "web"}
    assert r.pod_management_policy == "OrderedReady"  # the API server's default


@pytest.mark.parametrize(
    ("kw", "status", "rollout"),
    [
        ({}, "Available", "complete"),
        # A replica not ready is no update (a crash loop): Degraded, the rollout complete.
        ({"ready": 2}, "Degraded", "complete"),
        ({"ready": 0}, "Unavailable", "complete"),
        ({"replicas": 0, "ready": 0, "current": 0, "updated": 0}, "Available", "complete"),
        # Pods split between revisions: an update under way (ready or not).
        ({"updated": 1, "current": 2, "update_revision": "web-77aa"}, "Progressing", "progressing"),
        (
            {"ready": 2, "updated": 1, "current": 2, "update_revision": "web-77aa"},
            "Progressing",
            "progressing",
        ),
        # The controller has not seen the latest spec yet.
        ({"generation": 3, "observed": 2}, "Progressing", "progressing"),
        # A partition of 2 updates ordinal 2 only: one updated replica is a finished rollout.
        (
            {
                "updated": 1,
                "current": 2,
                "update_revision": "web-77aa",
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            },
            "Available",
            "complete",
        ),
        # OnDelete: the controller replaces nothing, so nothing is in progress.
        (
            {"updated": 0, "update_revision": "web-77aa", "strategy": {"type": "OnDelete"}},
            "Available",
            "on-delete",
        ),
    ],
)
def test_status_and_rollout(kw: dict[str, Any], status: str, rollout: str) -> None:
    r = row(**kw)
    assert (r.status, statefulset.rollout(r)) == (status, rollout)


def test_template_env_values_are_redacted_unless_revealed() -> None:
    env = [{"name": "PGPASSWORD", "value": "hunter2"}, {"name": "MODE", "valueFrom": {}}]
    stored = row(env=env).obj
    assert b"hunter2" not in stored
    assert REDACTED.encode() in stored
    assert b"hunter2" in statefulset.normalize(sts(env=env), reveal_env_values=True).obj


def test_replicas_not_ready_is_a_warning_then_critical_at_none() -> None:
    settings = HealthSettings()
    assert statefulset.replicas_not_ready(row(), settings) is None
    some = statefulset.replicas_not_ready(row(ready=2), settings)
    assert some is not None
    assert some.finding.check == "statefulset.replicas_not_ready"
    assert (some.finding.severity, some.finding.kind) == (Severity.WARNING, Kind.STATEFULSET)
    assert some.min_age_s == settings.not_ready_after_s
    none = statefulset.replicas_not_ready(row(ready=0), settings)
    assert none is not None
    assert none.finding.severity is Severity.CRITICAL
    assert none.finding.reason == "NoReplicasReady"
    assert none.min_age_s == settings.zero_available_after_s


def test_update_stuck_names_both_revisions() -> None:
    settings = HealthSettings()
    assert statefulset.update_stuck(row(), settings) is None
    assert statefulset.update_stuck(row(ready=1), settings) is None  # not ready is no update
    stuck = statefulset.update_stuck(
        row(updated=1, current=2, update_revision="web-77aa"), settings
    )
    assert stuck is not None
    assert stuck.min_age_s == settings.rollout_stuck_after_s
    assert "web-77aa" in stuck.finding.message
    assert "web-5d8f" in stuck.finding.message
    assert stuck.finding.evidence["updated"] == 1
    on_delete = row(updated=0, update_revision="web-77aa", strategy={"type": "OnDelete"})
    assert statefulset.update_stuck(on_delete, settings) is None


def test_status_changes_are_transitions() -> None:
    healthy, broken = row(), row(ready=1)
    news = {
        c.field: c
        for c in changes_between(
            Kind.STATEFULSET,
            signature(Kind.STATEFULSET, healthy),
            signature(Kind.STATEFULSET, broken),
            broken,
        )
    }
    assert news["replicas/ready"][1:4] == ("3/3", "1/3", Severity.WARNING)
    assert set(news) == {"replicas/ready"}  # a replica not ready is no rollout
    # First sight: only what is abnormal is news.
    healthy_sig = signature(Kind.STATEFULSET, healthy)
    assert first_sight_changes(Kind.STATEFULSET, healthy_sig, healthy) == []
    seen = first_sight_changes(Kind.STATEFULSET, signature(Kind.STATEFULSET, broken), broken)
    assert [c.field for c in seen] == ["replicas/ready"]


def test_a_new_update_revision_is_news_with_both_revisions() -> None:
    before = row()
    after = row(updated=0, update_revision="web-77aa", generation=3, observed=3)
    news = {
        c.field: c
        for c in changes_between(
            Kind.STATEFULSET,
            signature(Kind.STATEFULSET, before),
            signature(Kind.STATEFULSET, after),
            after,
        )
    }
    assert news["revision/update"].new == "web-77aa"
    assert news["revision/update"].message == "pods move from web-5d8f to web-77aa"


def test_samples_are_kube_state_metrics_families() -> None:
    samples = {
        (name, labels): value
        for name, labels, value in statefulset.metric_samples(row(ready=2, updated=1))
    }
    key = ("data", "web")
    assert samples[("kube_statefulset_replicas", key)] == 3
    assert samples[("kube_statefulset_status_replicas_ready", key)] == 2
    assert samples[("kube_statefulset_status_replicas_updated", key)] == 1
    assert samples[("kube_statefulset_status_current_revision", (*key, "web-5d8f"))] == 1
    assert samples[("kube_statefulset_status_update_revision", (*key, "web-5d8f"))] == 1
    assert samples[("kube_statefulset_created", key)] == 1767225600
    assert all(
        f.help.startswith("[STABLE] ") for f in statefulset.METRIC_FAMILIES
    )  # as kube-state-metrics prints its stable families


def test_item_is_one_line_of_plain_data() -> None:
    item = statefulset.item(row(ready=2), NOW)
    assert (item["status"], item["ready"], item["rollout"]) == ("Degraded", 2, "complete")
    assert item["age_seconds"] == pytest.approx(NOW - 1767225600, abs=1)
    msgspec.json.encode(item)


def test_optional_spec_parts_have_samples_only_when_set() -> None:
    plain = {name for name, _, _ in statefulset.metric_samples(row())}
    assert not plain & {
        "kube_statefulset_ordinals_start",
        "kube_statefulset_persistentvolumeclaim_retention_policy",
        "kube_statefulset_deletion_timestamp",
        "kube_statefulset_labels",  # no allow-list: no series, as kube-state-metrics
    }
    obj = msgspec.json.decode(msgspec.json.encode(sts()))
    obj["spec"]["ordinals"] = {"start": 5}
    obj["spec"]["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": "Delete",
        "whenScaled": "Retain",
    }
    obj["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z"
    full = statefulset.normalize(msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject))
    samples = {(name, labels): value for name, labels, value in statefulset.metric_samples(full)}
    key = ("data", "web")
    assert samples[("kube_statefulset_ordinals_start", key)] == 5
    policy = ("kube_statefulset_persistentvolumeclaim_retention_policy", (*key, "Delete", "Retain"))
    assert samples[policy] == 1
    assert samples[("kube_statefulset_deletion_timestamp", key)] == 1767312000
