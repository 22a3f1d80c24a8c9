"""labelSelector and fieldSelector over HTTP, one test per operator, plus the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import BadRequest
from simulator.selectors import parse_label_selector

from .kit import make_pod, names, serve

pytestmark = pytest.mark.anyio

# name -> labels
PODS = {
    "a": {"app": "web", "tier": "frontend"},
    "b": {"app": "web", "tier": "backend"},
    "c": {"app": "db"},
    "d": {},
}


async def _select(param: str, value: str, *, namespace: str = "default") -> list[str]:
    async with serve() as (sim, client):
        for name, labels in PODS.items():
            sim.store.create(
                "pods",
                make_pod(
                    name,
                    labels=labels,
                    node="node-1" if name in "ab" else "node-2",
                    phase="Running" if name != "c" else "Pending",
                ),
            )
        sim.store.create(
            "pods", make_pod("z", namespace="kube-system", labels={"app": "web"}, node="node-2")
        )
        response = await client.get("/api/v1/pods", params={param: value})
        assert response.status_code == 200, response.text
        return names(response.json())


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b", "z"]),
        ("app==web", ["a", "b", "z"]),
        ("app!=web", ["c", "d"]),
        ("tier in (frontend,backend)", ["a", "b"]),
        ("tier notin (frontend)", ["b", "c", "d", "z"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d", "z"]),
        ("app=web,tier!=backend", ["a", "z"]),
    ],
    ids=["eq", "double-eq", "not-eq", "in", "notin", "exists", "not-exists", "and"],
)
async def test_label_selector_operator(selector: str, expected: list[str]) -> None:
    assert await _select("labelSelector", selector) == sorted(expected, key=lambda n: (n == "z", n))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=b", ["b"]),
        ("metadata.namespace=kube-system", ["z"]),
        ("metadata.namespace!=kube-system", ["a", "b", "c", "d"]),
        ("spec.nodeName=node-1", ["a", "b"]),
        ("spec.nodeName==node-2", ["c", "d", "z"]),
        ("status.phase=Pending", ["c"]),
        ("status.phase!=Pending", ["a", "b", "d", "z"]),
        ("spec.nodeName=node-2,status.phase!=Pending", ["d", "z"]),
    ],
    ids=["name", "namespace", "namespace-ne", "node", "node-eqeq", "phase", "phase-ne", "and"],
)
async def test_field_selector(selector: str, expected: list[str]) -> None:
    assert await _select("fieldSelector", selector) == expected


async def test_an_unsupported_field_is_400_bad_request() -> None:
    async with serve() as (_, client):
        response = await client.get("/api/v1/pods", params={"fieldSelector": "spec.image=nginx"})
        assert response.status_code == 400
        status = response.json()
        assert status["reason"] == "BadRequest"
        assert "field label not supported: spec.image" in status["message"]
        # Fields of one kind are not selectable on another.
        nodes = await client.get("/api/v1/nodes", params={"fieldSelector": "spec.nodeName=x"})
        assert nodes.status_code == 400


async def test_a_malformed_label_selector_is_400() -> None:
    async with serve() as (_, client):
        response = await client.get("/api/v1/pods", params={"labelSelector": "app in (web"})
        assert response.status_code == 400
        assert response.json()["reason"] == "BadRequest"


@pytest.mark.parametrize("bad", ["app=(x", "=web", "a b", "app in web", "x>y"])
def test_parser_rejects_malformed_selectors(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_label_selector(bad)


_keys = st.sampled_from(["app", "tier", "example.com/team"])
_values = st.sampled_from(["web", "db", "a-1", "x.y"])
_labels = st.dictionaries(_keys, _values, max_size=3)


@given(labels=_labels, key=_keys, values=st.lists(_values, min_size=1, max_size=3))
def test_parsed_selectors_mean_what_the_api_says(
    labels: dict[str, str], key: str, values: list[str]
) -> None:
    value = values[0]
    joined = ",".join(values)
    expectations = {
        f"{key}={value}": labels.get(key) == value,
        f"{key}!={value}": labels.get(key) != value,
        f"{key} in ({joined})": key in labels and labels[key] in values,
        f"{key} notin ({joined})": key not in labels or labels[key] not in values,
        key: key in labels,
        f"!{key}": key not in labels,
    }
    for text, expected in expectations.items():
        assert parse_label_selector(text).matches(labels) is expected, text


async def test_event_fields_kubectl_describe_selects_on() -> None:
    async with serve() as (sim, client):
        for name, target in (("e1", "web-0"), ("e2", "web-1")):
            sim.store.create(
                "events",
                {
                    "metadata": {"name": name, "namespace": "default"},
                    "involvedObject": {"kind": "Pod", "name": target, "namespace": "default"},
                    "reason": "BackOff",
                    "type": "Warning",
                    "source": {"component": "kubelet"},
                },
            )
        selector = "involvedObject.kind=Pod,involvedObject.name=web-1,source=kubelet,type=Warning"
        response = await client.get("/api/v1/events", params={"fieldSelector": selector})
        assert names(response.json()) == ["e2"]
