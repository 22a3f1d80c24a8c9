"""Helpers for the /metrics tests: the real agent on the real simulator, scraped over HTTP.

`expected_*` compute, from the simulator's raw Kubernetes objects, what
kube-state-metrics would export for them — independently of the agent's
renderers — so the tests compare the exposition with the cluster, not with
the agent's own idea of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from mcpserver.agent import Agent
from store import Store, parse_quantity

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

Samples = dict[tuple[tuple[str, str], ...], float]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def base_url(agent: Agent) -> str:
    assert agent.url is not None
    return agent.url.removesuffix("/mcp")


async def scrape(agent: Agent, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30.0) as http:
        response = await http.get(base_url(agent) + "/metrics", headers=headers)
    assert response.status_code == 200, response.text[:500]
    return response


def parse_text(text: str) -> list[Metric]:
    """prometheus_client's parser of the classic text format."""
    return list(text_string_to_metric_families(text))


def parse_openmetrics(text: str) -> list[Metric]:
    """prometheus_client's (strict) OpenMetrics parser."""
    return list(openmetrics_families(text))  # type: ignore[no-untyped-call]


def parse(response: httpx.Response) -> dict[str, Metric]:
    """The families of a response, parsed by prometheus_client's parser for its format."""
    if response.headers["content-type"].startswith("application/openmetrics-text"):
        found = parse_openmetrics(response.text)
    else:
        found = parse_text(response.text)
    names = [f.name for f in found]
    assert len(names) == len(set(names)), "a family appears twice"
    return {f.name: f for f in found}


async def families(agent: Agent, **headers: str) -> dict[str, Metric]:
    return parse(await scrape(agent, **headers))


def samples(fams: dict[str, Metric], name: str, *, keep: tuple[str, ...] | None = None) -> Samples:
    """One family's samples as {sorted label items: value}, optionally only some labels."""
    out: Samples = {}
    family = fams[name.removesuffix("_total") if name not in fams else name]
    for s in family.samples:
        labels = s.labels if keep is None else {k: v for k, v in s.labels.items() if k in keep}
        key = tuple(sorted(labels.items()))
        assert key not in out, f"duplicate series {name}{key}"
        out[key] = float(s.value)
    return out


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


# --- waiting for the store to hold what the simulator holds -------------------------------------


class Commits:
    """Wakes waiters after each store commit (the writer's commit hook)."""

    def __init__(self, store: Store) -> None:
        self._event = anyio.Event()
        self.close = store.writer.on_commit(self._committed)

    def _committed(self, rows: int, seconds: float) -> None:
        self._event.set()
        self._event = anyio.Event()

    def next(self) -> anyio.Event:
        return self._event


PLURAL_TABLES = {"pods": "pods", "deployments": "deployments", "nodes": "nodes"}


def sim_versions(agent: Agent) -> dict[str, dict[str, str]]:
    assert agent.simulator is not None
    return {
        plural: {
            o["metadata"]["uid"]: o["metadata"]["resourceVersion"]
            for o in agent.simulator.store.list(plural)
        }
        for plural in PLURAL_TABLES
    }


async def store_versions(agent: Agent) -> dict[str, dict[str, str]]:
    out = {}
    for plural, table in PLURAL_TABLES.items():
        result = await agent.store.reader.query(
            f"SELECT uid, resource_version FROM {table}", max_rows=10_000
        )
        out[plural] = {row[0]: row[1] for row in result.rows}
    return out


async def converge(agent: Agent, *, within: float = 15.0) -> dict[str, dict[str, str]]:
    """Until the store holds exactly the simulator's objects at their versions; those versions."""
    commits = Commits(agent.store)
    try:
        with anyio.fail_after(within):
            while True:
                committed = commits.next()
                wanted = sim_versions(agent)
                if await store_versions(agent) == wanted:
                    return wanted
                await committed.wait()
    finally:
        commits.close()


async def settled_scrape(agent: Agent, **headers: str) -> dict[str, Metric]:
    """A scrape taken while the store equals the simulator (retried if the cluster moved)."""
    for _ in range(5):
        versions = await converge(agent)
        fams = await families(agent, **headers)
        if sim_versions(agent) == versions:
            return fams
    raise AssertionError("the simulated cluster kept changing under the scrape")


class Transitions:
    """Watches the store's committed transitions for one matching `match`, from creation on."""

    def __init__(self, agent: Agent, match: Callable[[Any], bool]) -> None:
        self._match = match
        self._seen = anyio.Event()
        self._unsubscribe = agent.store.writer.subscribe(self._on)

    def _on(self, transitions: Any) -> None:
        if any(self._match(t) for t in transitions):
            self._seen.set()

    async def wait(self, within: float = 15.0) -> None:
        try:
            with anyio.fail_after(within):
                await self._seen.wait()
        finally:
            self._unsubscribe()


# --- what kube-state-metrics would export for the simulator's objects ---------------------------


def _meta(obj: dict[str, Any]) -> dict[str, str]:
    m = obj["metadata"]
    return {"namespace": m.get("namespace", ""), "pod": m["name"], "uid": m["uid"]}


def _controller(obj: dict[str, Any]) -> tuple[str, str]:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref["kind"], ref["name"]
    return "", ""


def _cores_or_bytes(resource: str, quantity: str) -> float:
    value = parse_quantity(quantity)
    return math.ceil(value * 1000) / 1000 if resource == "cpu" else float(math.ceil(value))


def expected_pods(pods: list[dict[str, Any]]) -> dict[str, Samples]:
    out: dict[str, Samples] = {
        name: {}
        for name in (
            "kube_pod_info",
            "kube_pod_owner",
            "kube_pod_status_phase",
            "kube_pod_status_ready",
            "kube_pod_container_status_restarts_total",
            "kube_pod_container_status_waiting_reason",
            "kube_pod_container_status_last_terminated_reason",
            "kube_pod_container_resource_requests",
            "kube_pod_container_resource_limits",
        )
    }
    for pod in pods:
        meta, spec, status = _meta(pod), pod["spec"], pod.get("status") or {}
        kind, name = _controller(pod)
        out["kube_pod_info"][
            key(
                **meta,
                host_ip=status.get("hostIP", ""),
                pod_ip=status.get("podIP", ""),
                node=spec.get("nodeName", ""),
                created_by_kind=kind,
                created_by_name=name,
                priority_class=spec.get("priorityClassName", ""),
                host_network="true" if spec.get("hostNetwork") else "false",
            )
        ] = 1
        owners = pod["metadata"].get("ownerReferences") or []
        for ref in owners:
            out["kube_pod_owner"][
                key(
                    **meta,
                    owner_kind=ref["kind"],
                    owner_name=ref["name"],
                    owner_is_controller="true" if ref.get("controller") else "false",
                )
            ] = 1
        if not owners:
            out["kube_pod_owner"][
                key(**meta, owner_kind="", owner_name="", owner_is_controller="")
            ] = 1
        phase = status.get("phase", "Pending")
        for p in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            out["kube_pod_status_phase"][key(**meta, phase=p)] = float(p == phase)
        for cond in status.get("conditions") or []:
            if cond["type"] == "Ready":
                for s in ("true", "false", "unknown"):
                    out["kube_pod_status_ready"][key(**meta, condition=s)] = float(
                        cond["status"].lower() == s
                    )
        statuses = {cs["name"]: cs for cs in status.get("containerStatuses") or []}
        for c in spec["containers"]:
            cs = statuses.get(c["name"], {})
            ck = {**meta, "container": c["name"]}
            # The agent exports 0 restarts for a container not started yet (no status).
            out["kube_pod_container_status_restarts_total"][key(**ck)] = cs.get("restartCount", 0)
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                out["kube_pod_container_status_waiting_reason"][
                    key(**ck, reason=waiting["reason"])
                ] = 1
            last = (cs.get("lastState") or {}).get("terminated")
            if last is not None:
                out["kube_pod_container_status_last_terminated_reason"][
                    key(**ck, reason=last.get("reason", ""))
                ] = 1
            resources = c.get("resources") or {}
            for field, family in (
                ("requests", "kube_pod_container_resource_requests"),
                ("limits", "kube_pod_container_resource_limits"),
            ):
                for resource, quantity in (resources.get(field) or {}).items():
                    if resource in ("cpu", "memory"):
                        out[family][
                            key(
                                **ck,
                                node=spec.get("nodeName", ""),
                                resource=resource,
                                unit="core" if resource == "cpu" else "byte",
                            )
                        ] = _cores_or_bytes(resource, quantity)
    return out


def expected_deployments(deployments: list[dict[str, Any]]) -> dict[str, Samples]:
    values: dict[str, Callable[[dict[str, Any]], int]] = {
        "kube_deployment_spec_replicas": lambda d: d["spec"].get("replicas", 1),
        "kube_deployment_status_replicas": lambda d: d["status"].get("replicas", 0),
        "kube_deployment_status_replicas_ready": lambda d: d["status"].get("readyReplicas", 0),
        "kube_deployment_status_replicas_available": lambda d: d["status"].get(
            "availableReplicas", 0
        ),
        "kube_deployment_status_replicas_unavailable": lambda d: d["status"].get(
            "unavailableReplicas", 0
        ),
        "kube_deployment_status_replicas_updated": lambda d: d["status"].get("updatedReplicas", 0),
        "kube_deployment_status_observed_generation": lambda d: d["status"].get(
            "observedGeneration", 0
        ),
        "kube_deployment_metadata_generation": lambda d: d["metadata"].get("generation", 0),
    }
    out: dict[str, Samples] = {name: {} for name in values}
    out["kube_deployment_status_condition"] = {}
    for d in deployments:
        d.setdefault("status", {})
        labels = {"namespace": d["metadata"]["namespace"], "deployment": d["metadata"]["name"]}
        for name, value in values.items():
            out[name][key(**labels)] = float(value(d))
        for cond in d["status"].get("conditions") or []:
            for s in ("true", "false", "unknown"):
                out["kube_deployment_status_condition"][
                    key(
                        **labels,
                        condition=cond["type"],
                        status=s,
                        reason=cond.get("reason", ""),
                    )
                ] = float(cond["status"].lower() == s)
    return out


def expected_nodes(nodes: list[dict[str, Any]]) -> dict[str, Samples]:
    out: dict[str, Samples] = {
        name: {}
        for name in (
            "kube_node_spec_unschedulable",
            "kube_node_spec_taint",
            "kube_node_status_condition",
            "kube_node_status_capacity",
            "kube_node_status_allocatable",
        )
    }
    for n in nodes:
        node = n["metadata"]["name"]
        out["kube_node_spec_unschedulable"][key(node=node)] = float(
            bool(n["spec"].get("unschedulable"))
        )
        for t in n["spec"].get("taints") or []:
            out["kube_node_spec_taint"][
                key(node=node, key=t["key"], value=t.get("value", ""), effect=t["effect"])
            ] = 1
        for cond in n["status"].get("conditions") or []:
            for s in ("true", "false", "unknown"):
                out["kube_node_status_condition"][
                    key(node=node, condition=cond["type"], status=s)
                ] = float(cond["status"].lower() == s)
        for field, family in (
            ("capacity", "kube_node_status_capacity"),
            ("allocatable", "kube_node_status_allocatable"),
        ):
            for resource, quantity in n["status"].get(field, {}).items():
                unit = {"cpu": "core", "pods": "integer"}.get(resource, "byte")
                out[family][key(node=node, resource=resource.replace("-", "_"), unit=unit)] = (
                    _cores_or_bytes(resource, quantity)
                )
    return out


def _unix(value: str | None) -> float | None:
    if not value:
        return None
    return float(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()))


_POD_REASONS = (
    "Evicted",
    "NodeAffinity",
    "NodeLost",
    "PreemptionByScheduler",
    "SchedulingGated",
    "Shutdown",
    "TerminationByKubelet",
    "UnexpectedAdmissionError",
)


def _container_families(
    out: dict[str, Samples],
    prefix: str,
    meta: dict[str, str],
    specs: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
) -> None:
    """kube-state-metrics' per-container-status families: a series per container status."""
    init = prefix == "kube_pod_init_container"
    images = {c["name"]: c for c in specs}
    for cs in statuses:
        ck = {**meta, "container": cs["name"]}
        state = cs.get("state") or {}
        c = images.get(cs["name"])
        if c is not None:
            info = {
                "image_spec": c.get("image", ""),
                "image": cs.get("image", ""),
                "image_id": cs.get("imageID", ""),
                "container_id": cs.get("containerID", ""),
            }
            if init:
                info["restart_policy"] = c.get("restartPolicy", "")
            out[f"{prefix}_info"][key(**ck, **info)] = 1
        for s in ("waiting", "running", "terminated"):
            out[f"{prefix}_status_{s}"][key(**ck)] = float(state.get(s) is not None)
        out[f"{prefix}_status_ready"][key(**ck)] = float(bool(cs.get("ready")))
        if init:
            out[f"{prefix}_status_restarts_total"][key(**ck)] = cs.get("restartCount", 0)
        else:
            started = (state.get("running") or state.get("terminated") or {}).get("startedAt")
            if (state.get("running") or state.get("terminated")) is not None:
                out[f"{prefix}_state_started"][key(**ck)] = _unix(started) or 0.0


def expected_pods_more(pods: list[dict[str, Any]]) -> dict[str, Samples]:
    """The pod families added for the mixin and KSM's stable set, from the API objects.

    `*_labels` families have no series without an allow-list (as kube-state-metrics).
    """
    names = (
        "kube_pod_created",
        "kube_pod_start_time",
        "kube_pod_completion_time",
        "kube_pod_labels",
        "kube_pod_restart_policy",
        "kube_pod_status_scheduled",
        "kube_pod_status_scheduled_time",
        "kube_pod_status_unschedulable",
        "kube_pod_status_reason",
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
        *(
            f"kube_pod_container_{n}"
            for n in (
                "info",
                "status_waiting",
                "status_running",
                "status_terminated",
                "status_ready",
                "state_started",
            )
        ),
        *(
            f"kube_pod_init_container_{n}"
            for n in (
                "info",
                "status_waiting",
                "status_running",
                "status_terminated",
                "status_ready",
                "status_restarts_total",
            )
        ),
    )
    out: dict[str, Samples] = {name: {} for name in names}
    for pod in pods:
        meta, spec, status = _meta(pod), pod["spec"], pod.get("status") or {}
        for family, value in (
            ("kube_pod_created", _unix(pod["metadata"].get("creationTimestamp"))),
            ("kube_pod_start_time", _unix(status.get("startTime"))),
        ):
            if value is not None:
                out[family][key(**meta)] = value
        finished = [
            _unix(cs["state"]["terminated"].get("finishedAt")) or 0.0
            for cs in status.get("containerStatuses") or []
            if (cs.get("state") or {}).get("terminated") is not None
        ]
        if finished and max(finished) > 0:
            out["kube_pod_completion_time"][key(**meta)] = max(finished)
        if spec.get("restartPolicy"):
            out["kube_pod_restart_policy"][key(**meta, type=spec["restartPolicy"])] = 1
        conditions = status.get("conditions") or []
        for cond in conditions:
            if cond["type"] != "PodScheduled":
                continue
            for s in ("true", "false", "unknown"):
                out["kube_pod_status_scheduled"][key(**meta, condition=s)] = float(
                    cond["status"].lower() == s
                )
            if cond["status"] == "True":
                out["kube_pod_status_scheduled_time"][key(**meta)] = (
                    _unix(cond.get("lastTransitionTime")) or 0.0
                )
            if cond["status"] == "False" and cond.get("reason") == "Unschedulable":
                out["kube_pod_status_unschedulable"][key(**meta)] = 1
        terminated = {
            (cs.get("state") or {}).get("terminated", {}).get("reason")
            for cs in status.get("containerStatuses") or []
            if (cs.get("state") or {}).get("terminated")
        }
        for reason in _POD_REASONS:
            if (
                status.get("reason") == reason
                or any(c.get("reason") == reason for c in conditions)
                or reason in terminated
            ):
                out["kube_pod_status_reason"][key(**meta, reason=reason)] = 1
        if status.get("reason") and status["reason"] not in _POD_REASONS:
            out["kube_pod_status_reason"][key(**meta, reason="Other")] = 1
        for v in spec.get("volumes") or []:
            pvc, eph = v.get("persistentVolumeClaim"), v.get("ephemeral")
            if pvc is None and eph is None:
                continue
            claim = pvc["claimName"] if pvc is not None else f"{meta['pod']}-{v['name']}"
            labels = key(
                **meta,
                volume=v["name"],
                persistentvolumeclaim=claim,
                ephemeral="false" if pvc is not None else "true",
            )
            out["kube_pod_spec_volumes_persistentvolumeclaims_info"][labels] = 1
            out["kube_pod_spec_volumes_persistentvolumeclaims_readonly"][labels] = float(
                bool(pvc and pvc.get("readOnly"))
            )
        _container_families(
            out,
            "kube_pod_container",
            meta,
            spec["containers"],
            status.get("containerStatuses") or [],
        )
        _container_families(
            out,
            "kube_pod_init_container",
            meta,
            spec.get("initContainers") or [],
            status.get("initContainerStatuses") or [],
        )
    return out


def _scaled(value: int | str | None, replicas: int, *, up: bool) -> float | None:
    if isinstance(value, int):
        return float(value)
    if not isinstance(value, str) or not value.endswith("%"):
        return None
    scaled = int(value[:-1]) * replicas / 100
    return float(math.ceil(scaled) if up else math.floor(scaled))


def expected_deployments_more(deployments: list[dict[str, Any]]) -> dict[str, Samples]:
    names = (
        "kube_deployment_spec_paused",
        "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
        "kube_deployment_spec_strategy_rollingupdate_max_surge",
        "kube_deployment_created",
        "kube_deployment_labels",
    )
    out: dict[str, Samples] = {name: {} for name in names}
    for d in deployments:
        labels = key(namespace=d["metadata"]["namespace"], deployment=d["metadata"]["name"])
        out["kube_deployment_spec_paused"][labels] = float(bool(d["spec"].get("paused")))
        created = _unix(d["metadata"].get("creationTimestamp"))
        if created is not None:
            out["kube_deployment_created"][labels] = created
        rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate")
        replicas = d["spec"].get("replicas")
        if rolling is None or replicas is None:
            continue
        for field, family, up in (
            (
                "maxUnavailable",
                "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
                False,
            ),
            ("maxSurge", "kube_deployment_spec_strategy_rollingupdate_max_surge", True),
        ):
            value = _scaled(rolling.get(field), replicas, up=up)
            if value is not None:
                out[family][labels] = value
    return out


def expected_nodes_more(nodes: list[dict[str, Any]]) -> dict[str, Samples]:
    names = ("kube_node_created", "kube_node_labels", "kube_node_role", "kube_node_info")
    out: dict[str, Samples] = {name: {} for name in names}
    for n in nodes:
        node = n["metadata"]["name"]
        created = _unix(n["metadata"].get("creationTimestamp"))
        if created is not None:
            out["kube_node_created"][key(node=node)] = created
        for label in n["metadata"].get("labels") or {}:
            if label.startswith("node-role.kubernetes.io/"):
                role = label.removeprefix("node-role.kubernetes.io/")
                out["kube_node_role"][key(node=node, role=role)] = 1
        info = n["status"].get("nodeInfo") or {}
        addresses = n["status"].get("addresses") or []
        out["kube_node_info"][
            key(
                node=node,
                kernel_version=info.get("kernelVersion", ""),
                os_image=info.get("osImage", ""),
                container_runtime_version=info.get("containerRuntimeVersion", ""),
                kubelet_version=info.get("kubeletVersion", ""),
                kubeproxy_version="deprecated",
                pod_cidr=n["spec"].get("podCIDR", ""),
                provider_id=n["spec"].get("providerID", ""),
                system_uuid=info.get("systemUUID", ""),
                internal_ip=next(
                    (a["address"] for a in addresses if a["type"] == "InternalIP"), ""
                ),
            )
        ] = 1
    return out
