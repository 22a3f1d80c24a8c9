"""Literal env values are redacted while objects are normalized, before the store sees them."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from kinds import KINDS
from kinds import deployment as deployments
from kinds import node as nodes
from kinds import pod as pods
from kinds.meta import KubeObject
from kinds.redaction import REDACTED

SECRET = "hunter2"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
REFERENCE = {"secretKeyRef": {"name": "db", "key": "password"}}


def decode(obj: dict[str, Any]) -> KubeObject:
    return msgspec.json.decode(msgspec.json.encode(obj), type=KubeObject)


def container(name: str, *env: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": "registry.example/app:1", "env": list(env)}


def pod_spec() -> dict[str, Any]:
    return {
        "nodeName": "node-1",
        "containers": [
            container(
                "app",
                {"name": "DB_PASSWORD", "value": SECRET},
                {"name": "DB_PASSWORD_REF", "valueFrom": REFERENCE},
                {"name": "EMPTY", "value": ""},
            ),
            {"name": "sidecar", "image": "registry.example/side:1"},
        ],
        "initContainers": [container("init", {"name": "INIT_TOKEN", "value": SECRET + "-init"})],
        "ephemeralContainers": [container("debug", {"name": "DEBUG_KEY", "value": SECRET + "-e"})],
        "volumes": [{"name": "data", "emptyDir": {}}],
    }


def pod(**annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "api-1",
            "namespace": "shop",
            "uid": "uid-1",
            "resourceVersion": "7",
            "annotations": {"team": "payments", **annotations},
        },
        "spec": pod_spec(),
        "status": {"phase": "Running"},
    }


def pod_without_env() -> dict[str, Any]:
    obj = pod()
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in obj["spec"][key]:
            c.pop("env", None)
    return obj


def stored(row: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(row.obj)
    return document


def test_pod_env_values_are_redacted_names_and_references_kept() -> None:
    row = pods.normalize(decode(pod()))
    assert SECRET.encode() not in row.obj
    spec = stored(row)["spec"]
    app = spec["containers"][0]["env"]
    assert app == [
        {"name": "DB_PASSWORD", "value": REDACTED},
        {"name": "DB_PASSWORD_REF", "valueFrom": REFERENCE},
        {"name": "EMPTY", "value": REDACTED},
    ]
    assert spec["initContainers"][0]["env"] == [{"name": "INIT_TOKEN", "value": REDACTED}]
    assert spec["ephemeralContainers"][0]["env"] == [{"name": "DEBUG_KEY", "value": REDACTED}]
    # Everything else of the spec is kept as it came.
    expected = pod_spec()
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in expected[key]:
            c.pop("env", None)
        for c in spec[key]:
            c.pop("env", None)
    assert spec == expected
    assert row.node == "node-1"
    # Without env variables, the spec is stored byte for byte.
    assert msgspec.json.encode(expected) in pods.normalize(decode(pod_without_env())).obj


def test_last_applied_configuration_is_redacted_inside() -> None:
    applied = json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-1"}, "spec": pod_spec()}
    )
    row = pods.normalize(decode(pod(**{LAST_APPLIED: applied})))
    assert SECRET.encode() not in row.obj
    annotations = stored(row)["metadata"]["annotations"]
    assert annotations["team"] == "payments"
    copy = json.loads(annotations[LAST_APPLIED])
    assert copy["spec"]["containers"][0]["env"][0] == {"name": "DB_PASSWORD", "value": REDACTED}
    assert copy["spec"]["containers"][0]["env"][1] == {
        "name": "DB_PASSWORD_REF",
        "valueFrom": REFERENCE,
    }
    assert copy["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


@pytest.mark.parametrize(
    "annotation",
    [
        # Not JSON, but names an env key: nothing of it can be vouched for.
        '{"env": [{"name": "X", "value": "hunter2"}',
        # The key spelled with an escape inside the annotation's JSON.
        '{"spec": {"containers": [{"\\u0065nv": [{"name": "X", "value": "hunter2"}]}]}}',
        # A copy of another tool (kapp), nested deeper.
        json.dumps({"original": {"spec": {"template": {"spec": pod_spec()}}}}),
    ],
)
def test_any_annotation_repeating_env_is_redacted(annotation: str) -> None:
    row = pods.normalize(decode(pod(**{"example.com/original": annotation})))
    assert SECRET.encode() not in row.obj
    assert stored(row)["metadata"]["annotations"]["team"] == "payments"


def test_a_hostile_deeply_nested_annotation_does_not_break_normalizing() -> None:
    deep = "[" * 5000 + '{"env": [{"value": "hunter2"}]}' + "]" * 5000
    row = pods.normalize(decode(pod(**{"example.com/deep": deep})))
    assert SECRET.encode() not in row.obj


def test_escaped_env_key_in_the_spec_is_found() -> None:
    raw = msgspec.json.encode(pod()).replace(b'"env"', b'"\\u0065nv"')
    row = pods.normalize(msgspec.json.decode(raw, type=KubeObject))
    assert SECRET.encode() not in row.obj
    assert stored(row)["spec"]["containers"][0]["env"][0]["value"] == REDACTED


def test_null_env_and_lists_are_kept() -> None:
    obj = pod()
    obj["spec"]["containers"][0]["env"] = None
    obj["spec"]["ephemeralContainers"] = None
    obj["spec"]["initContainers"][0]["env"] = [{"name": "N", "value": None}]
    row = pods.normalize(decode(obj))
    spec = stored(row)["spec"]
    assert spec["containers"][0]["env"] is None
    assert spec["ephemeralContainers"] is None
    assert spec["initContainers"][0]["env"] == [{"name": "N", "value": REDACTED}]


def test_deployment_pod_template_and_last_applied_are_redacted() -> None:
    template = {"metadata": {"labels": {"app": "api"}}, "spec": pod_spec()}
    spec = {"replicas": 2, "selector": {"matchLabels": {"app": "api"}}, "template": template}
    applied = json.dumps({"kind": "Deployment", "spec": spec})
    obj = {
        "metadata": {
            "name": "api",
            "namespace": "shop",
            "uid": "uid-d",
            "resourceVersion": "3",
            "generation": 1,
            "annotations": {LAST_APPLIED: applied},
        },
        "spec": spec,
        "status": {"observedGeneration": 1},
    }
    row = deployments.normalize(decode(obj))
    assert SECRET.encode() not in row.obj
    kept = stored(row)
    env = kept["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "DB_PASSWORD", "value": REDACTED}
    assert env[1] == {"name": "DB_PASSWORD_REF", "valueFrom": REFERENCE}
    assert kept["spec"]["template"]["metadata"] == {"labels": {"app": "api"}}
    assert row.replicas == 2
    assert row.selector == {"app": "api"}


def test_revealing_keeps_values_and_the_registry_picks_the_variant() -> None:
    applied = json.dumps({"spec": pod_spec()})
    obj = pod(**{LAST_APPLIED: applied})
    assert SECRET.encode() in pods.normalize(decode(obj), reveal_env_values=True).obj
    spec = KINDS["pods"]
    assert spec.configured(reveal_env_values=False) is spec
    revealing = spec.configured(reveal_env_values=True)
    assert SECRET.encode() in revealing.normalize(decode(obj)).obj
    assert SECRET.encode() not in spec.normalize(decode(obj)).obj


def test_nodes_accept_the_same_keyword() -> None:
    obj = {"metadata": {"name": "n1", "uid": "u"}, "status": {}}
    assert nodes.normalize(decode(obj), reveal_env_values=True).name == "n1"
