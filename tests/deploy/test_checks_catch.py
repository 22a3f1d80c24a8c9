"""The manifest checks fail on manifests that break the rules.

A minimal install that keeps every rule is built here by hand (no kubectl
needed); it must pass every check, and each deliberate breakage of it must be
reported by the check responsible, so a check that silently passes everything
would fail this file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.deploy.manifest_checks import (
    REQUIRED_LABELS,
    label_violations,
    network_policy_violations,
    probe_violations,
    rbac_gaps,
    rbac_violations,
    schema_violations,
    scrape_job_violations,
    wiring_violations,
    workload_violations,
)

Manifest = dict[str, Any]
NS = "kube-watchcache"
SELECTOR = {"app.kubernetes.io/name": "kube-watchcache"}


def meta(name: str, namespace: str | None = NS) -> Manifest:
    result: Manifest = {"name": name, "labels": dict(REQUIRED_LABELS)}
    if namespace:
        result["namespace"] = namespace
    return result


def good_install() -> list[Manifest]:
    read = ["get", "list", "watch"]
    subject = [{"kind": "ServiceAccount", "name": "kube-watchcache", "namespace": NS}]
    container: Manifest = {
        "name": "kube-watchcache",
        "image": "kube-watchcache:0.1.0",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "KUBE_WATCHCACHE_HOST", "value": "0.0.0.0"},
            {"name": "KUBE_WATCHCACHE_DB", "value": "/var/lib/kube-watchcache/state.db"},
            {"name": "KUBE_WATCHCACHE_TOKEN_FILE", "value": "/etc/kube-watchcache/tokens/tokens"},
        ],
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
        "startupProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 60,
        },
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/kube-watchcache"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "tokens", "mountPath": "/etc/kube-watchcache/tokens", "readOnly": True},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(NS, None)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("kube-watchcache")},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": meta("reader", None),
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": read},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": read},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta("reader", None),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "reader",
            },
            "subjects": copy.deepcopy(subject),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("leader"),
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "resourceNames": ["kube-watchcache"],
                    "verbs": ["get", "update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("leader"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader"},
            "subjects": copy.deepcopy(subject),
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta("kube-watchcache"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(SELECTOR)},
                "template": {
                    "metadata": {"labels": dict(REQUIRED_LABELS)},
                    "spec": {
                        "serviceAccountName": "kube-watchcache",
                        "terminationGracePeriodSeconds": 30,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {"name": "tmp", "emptyDir": {}},
                            {"name": "tokens", "secret": {"secretName": "kube-watchcache-tokens"}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("kube-watchcache"),
            "spec": {
                "selector": dict(SELECTOR),
                "ports": [{"name": "http", "port": 8080, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("kube-watchcache"),
            "spec": {
                "podSelector": {"matchLabels": dict(SELECTOR)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": 8080}]}],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {
                        "ports": [
                            {"protocol": "TCP", "port": 443},
                            {"protocol": "TCP", "port": 6443},
                        ]
                    },
                ],
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta("kube-watchcache"),
            "spec": {
                "selector": {"matchLabels": dict(SELECTOR)},
                "endpoints": [
                    {
                        "port": "http",
                        "honorLabels": True,
                        "relabelings": [
                            {"targetLabel": "job", "replacement": "kube-state-metrics"}
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta("kube-watchcache"),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(SELECTOR)}},
        },
    ]


def schema(objects: list[Manifest]) -> list[str]:
    return schema_violations(objects, kubernetes_version="1.32.0")


def rbac(objects: list[Manifest]) -> list[str]:
    return rbac_violations(objects, agent_namespace=NS)


def probes(objects: list[Manifest]) -> list[str]:
    return probe_violations(find(objects, "Deployment"))


def find(objects: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    return next(
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    )


def pod(objects: list[Manifest]) -> Manifest:
    spec: Manifest = find(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(objects: list[Manifest]) -> Manifest:
    main: Manifest = pod(objects)["containers"][0]
    return main


def context(objects: list[Manifest]) -> Manifest:
    security: Manifest = container(objects)["securityContext"]
    return security


def add_rule(kind: str, rule: Manifest) -> Callable[[list[Manifest]], None]:
    def mutate(objects: list[Manifest]) -> None:
        name = "reader" if kind == "ClusterRole" else "leader"
        find(objects, kind, name)["rules"].append(rule)

    return mutate


def init_container(objects: list[Manifest]) -> None:
    """An init container that sets nothing: every per-container rule must catch it."""
    pod(objects)["initContainers"] = [{"name": "setup", "image": "busybox:1.36.1"}]


Check = Callable[[list[Manifest]], list[str]]
Mutation = Callable[[list[Manifest]], None]

#: (name, the check responsible, the breakage, a phrase its report must contain)
BREAKAGES: list[tuple[str, Check, Mutation, str]] = [
    # RBAC
    (
        "delete on pods",
        rbac,
        add_rule("ClusterRole", {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}),
        "verbs beyond get/list/watch",
    ),
    (
        "secrets readable",
        rbac,
        add_rule("ClusterRole", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
        "touches secrets",
    ),
    (
        "configmaps readable",
        rbac,
        add_rule(
            "ClusterRole", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}
        ),
        "touches configmaps",
    ),
    (
        "wildcard resources",
        rbac,
        add_rule("ClusterRole", {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}),
        "wildcard in resources",
    ),
    (
        "wildcard verbs",
        rbac,
        add_rule("ClusterRole", {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}),
        "wildcard in verbs",
    ),
    (
        "pods/exec",
        rbac,
        add_rule("ClusterRole", {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}),
        "not watched",
    ),
    (
        "rule without api groups",
        rbac,
        add_rule("ClusterRole", {"resources": ["pods"], "verbs": ["delete"]}),
        "without apiGroups",
    ),
    (
        "every namespace readable",
        rbac,
        add_rule("ClusterRole", {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}),
        "namespaces only as get on",
    ),
    (
        "non-resource urls",
        rbac,
        add_rule("ClusterRole", {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}),
        "non-resource URLs",
    ),
    (
        "lease delete",
        rbac,
        add_rule(
            "Role",
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["kube-watchcache"],
                "verbs": ["delete"],
            },
        ),
        "leases verbs beyond",
    ),
    (
        "lease update on any name",
        rbac,
        add_rule(
            "Role",
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"]},
        ),
        "not restricted by resourceNames",
    ),
    (
        "leases cluster-wide",
        rbac,
        add_rule(
            "ClusterRole",
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        ),
        "only by a Role in the agent's namespace",
    ),
    (
        "binding to cluster-admin",
        rbac,
        lambda objs: find(objs, "ClusterRoleBinding")["roleRef"].update(name="cluster-admin"),
        "does not define",
    ),
    # restricted profile
    (
        "privileged",
        workload_violations,
        lambda objs: context(objs).update(privileged=True),
        "privileged",
    ),
    (
        "privilege escalation",
        workload_violations,
        lambda objs: context(objs).pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation",
    ),
    (
        "writable root",
        workload_violations,
        lambda objs: context(objs).update(readOnlyRootFilesystem=False),
        "readOnlyRootFilesystem",
    ),
    (
        "capabilities kept",
        workload_violations,
        lambda objs: context(objs).update(capabilities={"drop": ["NET_RAW"]}),
        "drop ALL",
    ),
    (
        "capability added",
        workload_violations,
        lambda objs: context(objs).update(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        "adds capabilities",
    ),
    (
        "root user",
        workload_violations,
        lambda objs: context(objs).update(runAsUser=0),
        "runAsUser is 0",
    ),
    (
        "runAsNonRoot overridden",
        workload_violations,
        lambda objs: context(objs).update(runAsNonRoot=False),
        "runAsNonRoot is not true",
    ),
    (
        "seccomp unconfined",
        workload_violations,
        lambda objs: context(objs).update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile is 'Unconfined'",
    ),
    (
        "host network",
        workload_violations,
        lambda objs: pod(objs).update(hostNetwork=True),
        "hostNetwork",
    ),
    (
        "hostPath volume",
        workload_violations,
        lambda objs: pod(objs)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
        "hostPath",
    ),
    (
        "host port",
        workload_violations,
        lambda objs: container(objs)["ports"][0].update(hostPort=8080),
        "hostPort",
    ),
    (
        "bare init container",
        workload_violations,
        init_container,
        "initContainers[setup]: allowPrivilegeEscalation",
    ),
    # probes
    (
        "liveness on ready",
        probes,
        lambda objs: container(objs)["livenessProbe"]["httpGet"].update(path="/ready"),
        "livenessProbe on '/ready'",
    ),
    (
        "readiness by number",
        probes,
        lambda objs: container(objs)["readinessProbe"]["httpGet"].update(port=8080),
        "not the named 'http'",
    ),
    (
        "short startup",
        probes,
        lambda objs: container(objs)["startupProbe"].update(failureThreshold=6),
        "startupProbe allows 60s",
    ),
    (
        "no startup probe",
        probes,
        lambda objs: container(objs).pop("startupProbe"),
        "no startupProbe",
    ),
    (
        "grace below shutdown",
        probes,
        lambda objs: pod(objs).update(terminationGracePeriodSeconds=5),
        "terminationGracePeriodSeconds 5",
    ),
    # labels
    (
        "component label missing",
        label_violations,
        lambda objs: find(objs, "Service")["metadata"]["labels"].pop("app.kubernetes.io/component"),
        "missing labels ['app.kubernetes.io/component=mcp-server']",
    ),
    # wiring
    (
        "service selects nothing",
        wiring_violations,
        lambda objs: find(objs, "Service")["spec"].update(selector={"app": "other"}),
        "selector does not select",
    ),
    (
        "misspelt env",
        wiring_violations,
        lambda objs: container(objs)["env"].append(
            {"name": "KUBE_WATCHCACHE_TOKENFILE", "value": "x"}
        ),
        "does not read: ['KUBE_WATCHCACHE_TOKENFILE']",
    ),
    (
        "db on the root filesystem",
        wiring_violations,
        lambda objs: container(objs)["env"][3].update(value="/state.db"),
        "is not on an emptyDir or PVC",
    ),
    (
        "committed token",
        wiring_violations,
        lambda objs: objs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta("kube-watchcache-tokens"),
                "stringData": {"tokens": "hunter2"},
            }
        ),
        "a Secret with data is committed",
    ),
    (
        "lease renamed without the role",
        wiring_violations,
        lambda objs: container(objs)["env"].append(
            {"name": "KUBE_WATCHCACHE_LEASE_NAME", "value": "other"}
        ),
        "update Lease 'other'",
    ),
    # network policy
    (
        "egress without api server",
        network_policy_violations,
        lambda objs: find(objs, "NetworkPolicy")["spec"]["egress"].pop(),
        "egress misses TCP 443",
    ),
    (
        "ingress on every port",
        network_policy_violations,
        lambda objs: find(objs, "NetworkPolicy")["spec"]["ingress"].append({}),
        "opens every port",
    ),
    # Prometheus scrape
    (
        "ServiceMonitor without a job relabeling (the job is the Service name)",
        scrape_job_violations,
        lambda objs: find(objs, "ServiceMonitor")["spec"]["endpoints"][0].pop("relabelings"),
        'targets get job="kube-watchcache"; kubernetes-mixin selects job="kube-state-metrics"',
    ),
    (
        "ServiceMonitor jobLabel naming a Service label with another value",
        scrape_job_violations,
        lambda objs: (
            find(objs, "ServiceMonitor")["spec"]["endpoints"][0].pop("relabelings"),
            find(objs, "ServiceMonitor")["spec"].update(jobLabel="app.kubernetes.io/part-of"),
        ),
        'targets get job="kube-watchcache"',
    ),
    (
        "ServiceMonitor without honorLabels",
        scrape_job_violations,
        lambda objs: find(objs, "ServiceMonitor")["spec"]["endpoints"][0].pop("honorLabels"),
        "honorLabels is not true",
    ),
    # schema
    (
        "misspelt field",
        schema,
        lambda objs: container(objs).update(securityContxt={}),
        "'securityContxt' was unexpected",
    ),
]


CHECKS: list[Check] = [
    schema,
    rbac,
    workload_violations,
    probes,
    label_violations,
    wiring_violations,
    network_policy_violations,
    scrape_job_violations,
]


def test_the_good_install_passes_every_check() -> None:
    objects = good_install()
    assert [problem for check in CHECKS for problem in check(objects)] == []


def test_every_check_has_a_breakage_it_catches() -> None:
    assert {id(check) for _, check, _, _ in BREAKAGES} == {id(check) for check in CHECKS}


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [pytest.param(check, mutate, expected, id=name) for name, check, mutate, expected in BREAKAGES],
)
def test_each_breakage_is_caught_by_its_check(
    check: Check, mutate: Mutation, expected: str
) -> None:
    objects = good_install()
    assert check(objects) == []
    mutate(objects)
    problems = check(objects)
    assert any(expected in problem for problem in problems), problems


def test_a_watched_kind_without_its_rule_is_a_gap() -> None:
    objects = good_install()
    assert rbac_gaps(objects, watched=["pods", "nodes"]) == []
    # Pods with deployments start the replicasets informer too; the good install's
    # role grants deployments only.
    assert rbac_gaps(objects, watched=["pods", "deployments", "nodes"]) == [
        "apps/replicasets: no rule grants ['list', 'watch']"
    ]
    role = find(objects, "ClusterRole")
    role["rules"][0]["resources"] = ["pods"]
    assert rbac_gaps(objects, watched=["pods", "nodes"]) == [
        "core/nodes: no rule grants ['list', 'watch']"
    ]
