"""`--metric-labels-allowlist`: the Kubernetes labels `kube_*_labels` carry, as kube-state-metrics.

A real agent on the simulator, objects mode, rendered by the renderer
process; the expected labels are the simulated objects' own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mcpserver.cli import build_parser
from mcpserver.config import parse_labels_allowlist, resolve_settings
from mcpserver.errors import ConfigError
from tests.mcpserver.conftest import start_agent
from tests.metrics.conftest import settled_scrape

pytestmark = pytest.mark.anyio


def _prom(labels: dict[str, str], allowed: set[str] | None) -> dict[str, str]:
    return {
        "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
        for k, v in labels.items()
        if allowed is None or k in allowed
    }


def _objects_labels(agent: Any, plural: str) -> dict[str, dict[str, str]]:
    return {
        o["metadata"]["name"]: o["metadata"].get("labels") or {}
        for o in agent.simulator.store.list(plural)
    }


async def test_allow_listed_labels_are_exported(tmp_path: Any) -> None:
    async with start_agent(
        tmp_path, metrics_mode="objects", metric_labels_allowlist="pods=[app],nodes=[*]"
    ) as agent:
        fams = await settled_scrape(agent)
        pods = _objects_labels(agent, "pods")
        nodes = _objects_labels(agent, "nodes")
        got_pods = {
            s.labels["pod"]: {k: v for k, v in s.labels.items() if k.startswith("label_")}
            for s in fams["kube_pod_labels"].samples
        }
        got_nodes = {
            s.labels["node"]: {k: v for k, v in s.labels.items() if k.startswith("label_")}
            for s in fams["kube_node_labels"].samples
        }
        deployments = fams["kube_deployment_labels"].samples  # not named: no series
    assert got_pods == {name: _prom(labels, {"app"}) for name, labels in pods.items()}
    assert any(got_pods.values())
    assert got_nodes == {name: _prom(labels, None) for name, labels in nodes.items()}
    assert any(len(v) > 1 for v in got_nodes.values())
    assert deployments == []


def test_the_allowlist_reads_kube_state_metrics_format() -> None:
    assert parse_labels_allowlist(" pods=[app, team],deployments=[*] ") == {
        "pods": ("app", "team"),
        "deployments": ("*",),
    }
    assert parse_labels_allowlist("") == {}
    # A `*` resource gives its list to every resource and wins over the others.
    assert parse_labels_allowlist("pods=[app],*=[team]") == {
        "pods": ("team",),
        "deployments": ("team",),
        "nodes": ("team",),
    }


def test_the_allowlist_picks_labels_as_kube_state_metrics() -> None:
    from mcpserver.ksm.families import LabelsFilter, labels_line

    labels = (("app", "web"), ("app.kubernetes.io/name", "shop"), ("team", "a"))
    assert LabelsFilter(("*",)).pairs(labels) == (
        ',label_app="web",label_app_kubernetes_io_name="shop",label_team="a"'
    )
    assert LabelsFilter(("app.kubernetes.io/*", "team")).pairs(labels) == (
        ',label_app_kubernetes_io_name="shop",label_team="a"'
    )
    assert LabelsFilter(("missing",)).pairs(labels) == ""
    assert labels_line("kube_pod_labels", 'pod="p"', labels, None) == ""


@pytest.mark.parametrize(
    ("value", "needle"),
    [("pods=app", "expected resource=\\[label"), ("services=[app]", "unknown resource")],
)
def test_a_bad_allowlist_is_a_clear_config_error(value: str, needle: str) -> None:
    args = build_parser().parse_args(["serve"])
    with pytest.raises(ConfigError, match="KUBE_WATCHCACHE_METRIC_LABELS_ALLOWLIST"):
        resolve_settings(args, environ={"KUBE_WATCHCACHE_METRIC_LABELS_ALLOWLIST": value})
    with pytest.raises(ValueError, match=needle):
        parse_labels_allowlist(value)
