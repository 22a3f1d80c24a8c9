"""Every kube_* metric kubernetes-mixin's alerts and recording rules use, in objects mode.

The reference (tests/metrics/data/mixin_selectors.json, with its source
commit; regenerate with tests/metrics/reference_data.py) lists, per metric,
the labels the mixin's expressions match, group by or join on. A real agent
on the simulator is scraped in objects mode; each metric must be exported,
carry those labels, and carry samples in a cluster where the state it
describes exists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from mcpserver.ksm.summary import ALERT_SCOPE_DROPS
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import Transitions, families, settled_scrape

pytestmark = pytest.mark.anyio

_DATA = json.loads((Path(__file__).parent / "data" / "mixin_selectors.json").read_text())
USED: dict[str, frozenset[str]] = {
    name: frozenset(entry["labels"]) for name, entry in _DATA["metrics"].items()
}
# Metrics whose series exist only for a state this cluster lacks (a pod with a status reason
# such as Evicted or SchedulingGated, a waiting container).
NO_SAMPLES_HERE = frozenset({"kube_pod_status_reason", "kube_pod_container_status_waiting_reason"})


@pytest.fixture(scope="module")
async def scrape(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Metric]]:
    shape = {"nodes": 6, "deployments": 8, "pods_per_deployment": 2, "churn": 0.0}
    async with start_agent(
        tmp_path_factory.mktemp("mixin"),
        shape=shape,
        metrics_mode="objects",
        kinds=("pods", "deployments", "nodes", "statefulsets"),
    ) as agent:
        await settled_scrape(agent)
        yield await families(agent)


def test_the_reference_covers_the_kinds() -> None:
    prefixes = {name.split("_")[1] for name in USED}
    assert prefixes == {"pod", "deployment", "node", "statefulset", "replicaset"}


@pytest.mark.parametrize("name", sorted(USED))
async def test_mixin_metric_is_exported_with_its_labels(
    scrape: dict[str, Metric], name: str
) -> None:
    from mcpserver.ksm.families import KSM

    family = scrape.get(name)
    assert family is not None, f"{name} (used by the mixin) is not exported"
    assert USED[name] <= set(KSM[name].labels), (name, USED[name] - set(KSM[name].labels))
    if name in NO_SAMPLES_HERE or name.startswith("kube_statefulset_"):
        return
    assert family.samples, f"{name} has no samples"
    for sample in family.samples:
        assert USED[name] <= set(sample.labels), sample


async def test_replicaset_owner_links_every_replicaset_controlled_pod(
    scrape: dict[str, Metric],
) -> None:
    owned = {
        (s.labels["namespace"], s.labels["owner_name"])
        for s in scrape["kube_pod_owner"].samples
        if s.labels["owner_kind"] == "ReplicaSet"
    }
    linked = {
        (s.labels["namespace"], s.labels["replicaset"])
        for s in scrape["kube_replicaset_owner"].samples
        if s.labels["owner_kind"] == "Deployment"
    }
    assert owned
    assert owned == linked


# What the mixin's alerts read (the rules/ files are recording rules and dashboards' inputs).
ALERTS_USE = sorted(
    name
    for name, entry in _DATA["metrics"].items()
    if any(f.startswith("alerts/") for f in entry["files"])
)


@pytest.fixture(scope="module")
async def above_limit(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Metric]]:
    """`auto` mode on a cluster above its object limit, with a crash-looping pod in it."""
    shape = {"nodes": 6, "deployments": 8, "pods_per_deployment": 2, "churn": 0.0}
    async with start_agent(
        tmp_path_factory.mktemp("mixin-above"),
        shape=shape,
        metrics_mode="auto",
        metrics_objects_limit=10,
        kinds=("pods", "deployments", "nodes", "statefulsets"),
    ) as agent:
        assert agent.scenario is not None
        crashing = Transitions(agent, lambda t: t.field.endswith("/waiting_reason"))
        agent.scenario.step("crash_loop")
        agent.scenario.advance(60)  # virtual time: the crash loop reaches its back-off
        await crashing.wait()
        await settled_scrape(agent)
        yield await families(agent)


def test_some_alerts_read_pods_and_some_read_the_rest() -> None:
    assert any(name.startswith("kube_pod_") for name in ALERTS_USE)
    assert any(name.startswith("kube_node_") for name in ALERTS_USE)


@pytest.mark.parametrize("name", ALERTS_USE)
async def test_an_alert_metric_stays_above_the_object_limit(
    above_limit: dict[str, Metric], name: str
) -> None:
    mode = above_limit["kube_watchcache_metrics_cluster_mode"].samples
    assert [s.labels["mode"] for s in mode if s.value == 1] == ["summary"]
    family = above_limit.get(name)
    if name in ALERT_SCOPE_DROPS:  # sums over every pod: documented to go empty, not wrong
        assert family is None or not family.samples
        return
    assert family is not None, f"{name} (read by a mixin alert) is gone above the limit"
    if name in NO_SAMPLES_HERE or name.startswith("kube_statefulset_"):
        return
    assert family.samples, f"{name} has no samples above the limit"
    for sample in family.samples:
        assert USED[name] <= set(sample.labels), sample
