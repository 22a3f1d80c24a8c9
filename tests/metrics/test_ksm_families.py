"""Every kube-state-metrics family we export has KSM's name, type, help and label set.

The table is kube-state-metrics v2's own documentation (docs/metrics/*/*.md,
and the help text its exposition prints, with the `[STABLE]` marker),
written out here rather than imported from the agent, so a drift in the
agent's table fails this test. Each family is checked on a real scrape, in
both exposition formats, and must carry samples.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric

from mcpserver.agent import Agent
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import PROMETHEUS_ACCEPT, Transitions, families, settled_scrape

pytestmark = pytest.mark.anyio

POD = ("namespace", "pod", "uid")
CONTAINER = (*POD, "container")
DEPLOYMENT = ("namespace", "deployment")

KUBE_STATE_METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "kube_pod_status_phase": ("gauge", "[STABLE] The pods current phase.", (*POD, "phase")),
    "kube_pod_status_ready": (
        "gauge",
        "[STABLE] Describes whether the pod is ready to serve requests.",
        (*POD, "condition"),
    ),
    "kube_pod_container_status_restarts_total": (
        "counter",
        "[STABLE] The number of container restarts per container.",
        CONTAINER,
    ),
    "kube_pod_container_status_waiting_reason": (
        "gauge",
        "[STABLE] Describes the reason the container is currently in waiting state.",
        (*CONTAINER, "reason"),
    ),
    "kube_pod_container_status_last_terminated_reason": (
        "gauge",
        "Describes the last reason the container was in terminated state.",
        (*CONTAINER, "reason"),
    ),
    "kube_pod_info": (
        "gauge",
        "[STABLE] Information about pod.",
        (
            *POD,
            "host_ip",
            "pod_ip",
            "node",
            "created_by_kind",
            "created_by_name",
            "priority_class",
            "host_network",
        ),
    ),
    "kube_pod_owner": (
        "gauge",
        "[STABLE] Information about the Pod's owner.",
        (*POD, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    "kube_pod_container_resource_requests": (
        "gauge",
        "The number of requested request resource by a container. It is recommended to use the "
        "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*CONTAINER, "node", "resource", "unit"),
    ),
    "kube_pod_container_resource_limits": (
        "gauge",
        "The number of requested limit resource by a container. It is recommended to use the "
        "kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more "
        "precise.",
        (*CONTAINER, "node", "resource", "unit"),
    ),
    "kube_deployment_spec_replicas": (
        "gauge",
        "[STABLE] Number of desired pods for a deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_replicas": (
        "gauge",
        "[STABLE] The number of replicas per deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_replicas_ready": (
        "gauge",
        "[STABLE] The number of ready replicas per deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_replicas_available": (
        "gauge",
        "[STABLE] The number of available replicas per deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_replicas_unavailable": (
        "gauge",
        "[STABLE] The number of unavailable replicas per deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_replicas_updated": (
        "gauge",
        "[STABLE] The number of updated replicas per deployment.",
        DEPLOYMENT,
    ),
    "kube_deployment_status_condition": (
        "gauge",
        "[STABLE] The current status conditions of a deployment.",
        (*DEPLOYMENT, "reason", "condition", "status"),
    ),
    "kube_deployment_status_observed_generation": (
        "gauge",
        "[STABLE] The generation observed by the deployment controller.",
        DEPLOYMENT,
    ),
    "kube_deployment_metadata_generation": (
        "gauge",
        "[STABLE] Sequence number representing a specific generation of the desired state.",
        DEPLOYMENT,
    ),
    "kube_node_status_condition": (
        "gauge",
        "[STABLE] The condition of a cluster node.",
        ("node", "condition", "status"),
    ),
    "kube_node_spec_unschedulable": (
        "gauge",
        "[STABLE] Whether a node can schedule new pods.",
        ("node",),
    ),
    "kube_node_spec_taint": (
        "gauge",
        "[STABLE] The taint of a cluster node.",
        ("node", "key", "value", "effect"),
    ),
    "kube_node_status_allocatable": (
        "gauge",
        "[STABLE] The allocatable for different resources of a node that are available for "
        "scheduling.",
        ("node", "resource", "unit"),
    ),
    "kube_node_status_capacity": (
        "gauge",
        "[STABLE] The capacity for different resources of a node.",
        ("node", "resource", "unit"),
    ),
    "kube_node_info": (
        "gauge",
        "[STABLE] Information about a cluster node.",
        (
            "node",
            "kernel_version",
            "os_image",
            "container_runtime_version",
            "kubelet_version",
            "kubeproxy_version",
            "pod_cidr",
            "provider_id",
            "system_uuid",
            "internal_ip",
        ),
    ),
}

FORMATS = {"text": {}, "openmetrics": {"Accept": PROMETHEUS_ACCEPT}}


@pytest.fixture(scope="module")
async def scrapes(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, dict[str, Metric]]]:
    """One scrape per format, of a cluster where some container waits and some was OOM-killed."""
    shape = {"nodes": 6, "deployments": 8, "pods_per_deployment": 2, "churn": 0.0}
    async with start_agent(
        tmp_path_factory.mktemp("ksm"), shape=shape, metrics_mode="objects"
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


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", KUBE_STATE_METRICS)
async def test_family_matches_kube_state_metrics(
    scrapes: dict[str, dict[str, Metric]], fmt: str, name: str
) -> None:
    type_, help_text, labels = KUBE_STATE_METRICS[name]
    fams = scrapes[fmt]
    # Both parsers name a counter family without `_total`; its samples keep it.
    family = fams[name.removesuffix("_total")] if type_ == "counter" else fams[name]
    assert family.type == type_
    assert family.documentation == help_text
    assert family.samples, f"{name} has no samples"
    for sample in family.samples:
        assert sample.name == name
        assert set(sample.labels) == set(labels), sample


async def test_the_table_covers_every_kube_family_exported(
    scrapes: dict[str, dict[str, Metric]],
) -> None:
    exported = {
        n for n in scrapes["text"] if n.startswith(("kube_pod", "kube_deployment", "kube_node"))
    }
    assert exported == {
        n.removesuffix("_total") if n.endswith("_total") else n for n in KUBE_STATE_METRICS
    }
