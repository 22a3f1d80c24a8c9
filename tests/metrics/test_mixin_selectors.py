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

from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import families, settled_scrape

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
