"""Our families in objects mode against kube-state-metrics' documented families.

The reference is kube-state-metrics' own documentation tables
(tests/metrics/data/ksm_families.json, with its source and commit; regenerate
with tests/metrics/reference_data.py), not the agent's declarations: a family
missing, renamed, retyped or relabelled fails here. Each family is checked
on a real scrape of an agent on the simulator, in both exposition formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric

from mcpserver.agent import Agent
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import PROMETHEUS_ACCEPT, Transitions, families, settled_scrape

pytestmark = pytest.mark.anyio

_DATA = json.loads((Path(__file__).parent / "data" / "ksm_families.json").read_text())
WATCHED = ("pod", "deployment", "node", "statefulset")
# A documented label that stands for many (`label_<LABEL>` of the allow-list).
_PLACEHOLDER = re.compile(r"^(label|annotation|nodeselector)_[A-Z_]+$")

STABLE: dict[str, tuple[str, frozenset[str]]] = {
    f["name"]: (f["type"], frozenset(lb for lb in f["labels"] if not _PLACEHOLDER.match(lb)))
    for kind in WATCHED
    for f in _DATA["kinds"][kind]
    if f["stability"] == "STABLE"
}
# Stable families not exported yet (named, so adding one fails until removed here).
NOT_YET: frozenset[str] = frozenset()
# kube_pod_labels and its siblings: the allow-listed labels after these, no series by default.
LABELS_FAMILIES = frozenset({"kube_pod_labels", "kube_deployment_labels", "kube_node_labels"})

FORMATS = {"text": {}, "openmetrics": {"Accept": PROMETHEUS_ACCEPT}}


@pytest.fixture(scope="module")
async def scrapes(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, dict[str, Metric]]]:
    """One scrape per format, of a cluster where some container waits and some was OOM-killed."""
    shape = {"nodes": 6, "deployments": 8, "pods_per_deployment": 2, "churn": 0.0}
    async with start_agent(
        tmp_path_factory.mktemp("ksm"),
        shape=shape,
        metrics_mode="objects",
        kinds=("pods", "deployments", "nodes", "statefulsets"),
    ) as agent:
        assert agent.scenario is not None
        for action, field in (
            ("crash_loop", "/waiting_reason"),
            ("oom_kill", "/last_terminated_reason"),
        ):
            seen = Transitions(agent, _field_ends_with(field))
            agent.scenario.step(action)
            agent.scenario.advance(60)  # virtual time: the crash loop reaches its back-off
            await seen.wait()
        yield {name: await _scrape(agent, headers) for name, headers in FORMATS.items()}


def _field_ends_with(suffix: str) -> Callable[[Any], bool]:
    return lambda t: bool(t.field.endswith(suffix))


async def _scrape(agent: Agent, headers: dict[str, str]) -> dict[str, Metric]:
    await settled_scrape(agent)  # the store holds the cluster's current state
    return await families(agent, **headers)


def test_every_stable_family_is_exported_or_named_as_missing() -> None:
    from mcpserver.ksm.families import KSM

    missing = {name for name in STABLE if name not in KSM}
    assert missing == NOT_YET


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(set(STABLE) - NOT_YET))
async def test_stable_family_matches_kube_state_metrics(
    scrapes: dict[str, dict[str, Metric]], fmt: str, name: str
) -> None:
    type_, labels = STABLE[name]
    fams = scrapes[fmt]
    # Both parsers name a counter family without `_total`; its samples keep it.
    family = fams.get(name.removesuffix("_total") if type_ == "counter" else name)
    assert family is not None, f"{name} is not exported"
    assert family.type == type_
    assert family.documentation.startswith("[STABLE] "), family.documentation
    for sample in family.samples:
        assert sample.name == name
        assert set(sample.labels) == labels, sample


# Families that carry samples in this cluster (the others need a state it lacks: a
# PersistentVolumeClaim volume, a completed or unschedulable pod, an init container; the
# demo shape has no StatefulSets, whose samples tests/kinds check).
WITH_SAMPLES = sorted(
    set(STABLE)
    - NOT_YET
    - {n for n in STABLE if n.startswith("kube_statefulset_")}
    - {
        "kube_pod_completion_time",
        "kube_pod_status_unschedulable",
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
    }
    - {n for n in STABLE if n.startswith("kube_pod_init_container_")}
    - LABELS_FAMILIES  # no series without --metric-labels-allowlist
)


@pytest.mark.parametrize("name", WITH_SAMPLES)
async def test_stable_family_has_samples(scrapes: dict[str, dict[str, Metric]], name: str) -> None:
    fams = scrapes["text"]
    assert fams[name.removesuffix("_total")].samples, f"{name} has no samples"


async def test_labels_families_have_no_series_by_default(
    scrapes: dict[str, dict[str, Metric]],
) -> None:
    # kube-state-metrics exports a `*_labels` series only for a resource its allow-list names.
    for name in LABELS_FAMILIES:
        assert scrapes["text"][name].samples == []


async def test_node_info_has_system_uuid_and_deprecated_kubeproxy_version(
    scrapes: dict[str, dict[str, Metric]],
) -> None:
    nodes = scrapes["text"]["kube_node_info"].samples
    assert nodes
    for sample in nodes:
        assert sample.labels["system_uuid"], sample
        assert sample.labels["kubeproxy_version"] == "deprecated", sample
