"""In-cluster rehearsal: the agent started with exactly what the Deployment gives its pod.

The environment is read from deploy/base/deployment.yaml (plus the `ha`
overlay's patch for the leader-election variant): every `env` entry, with
the downward-API fields resolved as the kubelet would; the volumes are
directories in tmp_path at the same relative places; the kubelet's own
additions are KUBERNETES_SERVICE_HOST/PORT and the service-account directory
(token, ca.crt, namespace). The API server is the simulator over TLS with a
bearer token, so syncing at all proves the in-cluster path: service env ->
https URL, CA from ca.crt, token from the file.

Two deviations, both because a test shares its machine: the HTTP port is 0
(any free port) instead of 8080 and the bind address is loopback instead of
0.0.0.0. The service-account directory is the one path a pod cannot choose,
so the test points the watcher's default at tmp_path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed; only safe_load is used

import watcher.config
from kinds import STORED
from mcpserver.agent import running_agent
from mcpserver.config import ENV_PREFIX, resolve_settings
from simulator import ObjectStore, Simulator
from simulator.scenario import Scenario

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
POD_NAMESPACE = "kube-watchcache"
POD_NAME = "kube-watchcache-6d5f7c9b8-x2vqk"
SA_TOKEN = "sa-token-for-the-simulator"
MCP_TOKEN = "mcp-client-token"
DOWNWARD_API = {"metadata.namespace": POD_NAMESPACE, "metadata.name": POD_NAME}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["kube-watchcache"]
    return dict(containers[0])


def _deployment_env(overlay: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The pod spec and the container's env list, with an overlay's env patch merged by name."""
    base = yaml.safe_load((DEPLOY / "base" / "deployment.yaml").read_text())
    pod_spec = base["spec"]["template"]["spec"]
    env = {e["name"]: e for e in _container(base)["env"]}
    if overlay is not None:
        patch = yaml.safe_load(
            (DEPLOY / "overlays" / overlay / "deployment-patch.yaml").read_text()
        )
        env.update({e["name"]: e for e in _container(patch).get("env", [])})
    return pod_spec, list(env.values())


def pod_environment(tmp_path: Path, sim: Simulator, overlay: str | None) -> dict[str, str]:
    """The process environment of the agent's container, its volumes under tmp_path."""
    pod_spec, env_list = _deployment_env(overlay)
    assert pod_spec.get("automountServiceAccountToken") is True, "the agent needs its token"
    mounts: dict[str, Path] = {}
    for mount in pod_spec["containers"][0]["volumeMounts"]:
        local = tmp_path / "volumes" / mount["name"]
        local.mkdir(parents=True)
        mounts[mount["mountPath"]] = local

    def local_path(value: str) -> str:
        for mount_path, local in mounts.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                return str(local) + value[len(mount_path) :]
        return value

    env: dict[str, str] = {}
    for entry in env_list:
        if "value" in entry:
            env[entry["name"]] = local_path(str(entry["value"]))
            continue
        field_path = ((entry.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if field_path not in DOWNWARD_API:
            pytest.fail(f"env {entry['name']} comes from {entry.get('valueFrom')}: not simulated")
        env[entry["name"]] = DOWNWARD_API[field_path]
    env[ENV_PREFIX + "HOST"] = "127.0.0.1"
    env[ENV_PREFIX + "PORT"] = "0"
    # What the kubelet adds: the API server's Service, and the pod's hostname.
    env["KUBERNETES_SERVICE_HOST"] = sim.host
    env["KUBERNETES_SERVICE_PORT"] = str(sim.port)
    env["HOSTNAME"] = POD_NAME
    # The Secret the README asks the operator to create, mounted where the pod has it.
    Path(env[ENV_PREFIX + "TOKEN_FILE"]).write_text(MCP_TOKEN + "\n")
    return env


@pytest.fixture
async def tls_sim() -> AsyncIterator[Simulator]:
    objects = ObjectStore()
    scenario = Scenario(objects, seed=7, nodes=4, deployments=5, pods_per_deployment=2, churn=0.0)
    scenario.populate()
    scenario.close()
    async with Simulator(tls=True, token=SA_TOKEN, store=objects) as sim:
        sim.store.create("namespaces", {"metadata": {"name": POD_NAMESPACE}})
        yield sim


@pytest.fixture
def service_account(tmp_path: Path, tls_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/var/run/secrets/kubernetes.io/serviceaccount as the kubelet projects it."""
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(SA_TOKEN)
    assert tls_sim.ca_pem is not None
    (sa / "ca.crt").write_bytes(tls_sim.ca_pem)
    (sa / "namespace").write_text(POD_NAMESPACE)
    monkeypatch.setattr(watcher.config, "DEFAULT_SERVICE_ACCOUNT_DIR", sa)
    return sa


@pytest.mark.anyio
@pytest.mark.parametrize("overlay", [None, "ha"], ids=["base", "ha"])
async def test_agent_syncs_in_cluster_over_tls(
    overlay: str | None,
    tls_sim: Simulator,
    service_account: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = pod_environment(tmp_path, tls_sim, overlay)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in ("KUBECONFIG", "POD_NAME", "POD_NAMESPACE"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO, logger="watcher")
    settings = resolve_settings()  # `serve` with no flags: the Deployment's `args: ["serve"]`
    assert settings.kubeconfig is None
    assert str(settings.db).startswith(str(tmp_path))

    async with running_agent(settings) as agent, httpx.AsyncClient(timeout=10) as http:
        assert agent.url is not None
        base = agent.url.removesuffix("/mcp")
        with anyio.fail_after(20):
            await agent.informers.wait_synced()
            await agent.store.writer.flush()
        ready = await http.get(base + "/ready")
        assert ready.status_code == 200, ready.text
        objects = agent.store.counts()["objects"]
        assert objects == {
            kind.value: tls_sim.store.count(spec.name) for kind, spec in STORED.items()
        }
        assert objects["Pod"] == 10
        assert objects["Node"] == 4

        # /mcp takes the token from the mounted Secret, and nothing else.
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "rehearsal", "version": "0"},
            },
        }
        headers = {"Accept": "application/json, text/event-stream", "Host": "localhost"}
        refused = await http.post(agent.url, json=initialize, headers=headers)
        assert refused.status_code == 401
        accepted = await http.post(
            agent.url, json=initialize, headers={**headers, "Authorization": f"Bearer {MCP_TOKEN}"}
        )
        assert accepted.status_code == 200, accepted.text

        if overlay == "ha":
            assert agent.elector is not None
            with anyio.fail_after(10):
                await agent.elector.wait_for(True)
            lease = tls_sim.store.get("leases", POD_NAMESPACE, settings.lease_name)
            assert lease is not None
            assert lease["spec"]["holderIdentity"] == POD_NAME
            metrics = (await http.get(base + "/metrics")).text
            assert f'kube_watchcache_leader{{identity="{POD_NAME}"}} 1.0' in metrics
        else:
            assert agent.elector is None
            assert tls_sim.requests.count(resource="leases") == 0

    assert any(
        r.name == "watcher.config"
        and "(in-cluster)" in r.getMessage()
        and "https://" in r.getMessage()
        for r in caplog.records
    )
    # The lease verbs used are those the Role grants (deploy/base/leader-election-rbac.yaml).
    lease_verbs = {verb for (verb, res) in tls_sim.requests.snapshot() if res == "leases"}
    assert lease_verbs <= {"get", "create", "update"}
