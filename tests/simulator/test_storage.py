"""ObjectStore rules, without HTTP: resourceVersions, copies, status, history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from simulator import AlreadyExists, Conflict, Expired, NotFound, ObjectStore

from .kit import make_deployment, make_pod


def test_every_change_gets_the_next_global_resource_version() -> None:
    store = ObjectStore()
    a = store.create("pods", make_pod("a"))
    n = store.create("nodes", {"metadata": {"name": "n"}})
    changed = store.get("pods", "default", "a")
    assert changed is not None
    changed["metadata"]["labels"] = {"app": "other"}
    b = store.update("pods", changed)
    gone = store.delete("nodes", None, "n")
    assert gone is not None
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (a, n, b, gone)]
    assert rvs == [1, 2, 3, 4]
    assert store.resource_version == 4


def test_create_fills_server_fields_and_refuses_duplicates() -> None:
    store = ObjectStore(clock=lambda: datetime(2025, 3, 1, 12, 0, 5, 999, tzinfo=UTC))
    dep = store.create("deployments", make_deployment("web"))
    meta = dep["metadata"]
    assert dep["kind"] == "Deployment"
    assert dep["apiVersion"] == "apps/v1"
    assert meta["creationTimestamp"] == "2025-03-01T12:00:05Z"
    assert meta["generation"] == 1
    assert len(meta["uid"]) == 36
    with pytest.raises(AlreadyExists, match=r'deployments\.apps "web" already exists'):
        store.create("deployments", make_deployment("web"))


def test_get_and_list_hand_out_copies_that_do_not_touch_the_store() -> None:
    store = ObjectStore()
    store.create("pods", make_pod("a"))
    copy = store.get("pods", "default", "a")
    assert copy is not None
    copy["spec"]["nodeName"] = "elsewhere"
    store.list("pods")[0]["metadata"]["name"] = "renamed"
    again = store.get("pods", "default", "a")
    assert again is not None
    assert again["spec"]["nodeName"] == "node-1"


def test_create_does_not_change_the_callers_nested_dicts() -> None:
    store = ObjectStore()
    shared_status: dict[str, Any] = {"podIP": "10.0.0.1"}
    pod = make_pod("a")
    pod["status"] = shared_status
    store.create("pods", pod)
    assert shared_status == {"podIP": "10.0.0.1"}


def test_stale_resource_version_is_a_conflict() -> None:
    store = ObjectStore()
    first = store.create("pods", make_pod("a"))
    fresh = store.get("pods", "default", "a")
    assert fresh is not None
    fresh["metadata"]["labels"] = {"v": "2"}
    store.update("pods", fresh)
    stale = {**first, "metadata": {**first["metadata"], "labels": {"v": "3"}}}
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update("pods", stale)


def test_status_is_a_subresource() -> None:
    store = ObjectStore()
    store.create("pods", make_pod("a", phase="Running"))
    pod = store.get("pods", "default", "a")
    assert pod is not None
    pod["status"]["phase"] = "Failed"
    pod["spec"]["nodeName"] = "node-9"
    # Through the main resource the status change is dropped, the spec change kept.
    main = store.update("pods", pod)
    assert main["status"]["phase"] == "Running"
    assert main["spec"]["nodeName"] == "node-9"
    # Through /status only the status is taken.
    pod["spec"]["nodeName"] = "node-0"
    pod["metadata"]["resourceVersion"] = main["metadata"]["resourceVersion"]
    status = store.update("pods", pod, subresource="status")
    assert status["status"]["phase"] == "Failed"
    assert status["spec"]["nodeName"] == "node-9"


def test_generation_follows_spec_changes_only() -> None:
    store = ObjectStore()
    store.create("deployments", make_deployment("web"))
    dep = store.get("deployments", "default", "web")
    assert dep is not None
    dep["metadata"]["annotations"] = {"note": "x"}
    assert store.update("deployments", dep)["metadata"]["generation"] == 1
    dep = store.get("deployments", "default", "web")
    assert dep is not None
    dep["spec"]["replicas"] = 5
    assert store.update("deployments", dep)["metadata"]["generation"] == 2


def test_an_update_that_changes_nothing_is_not_an_event() -> None:
    store = ObjectStore()
    events: list[str] = []
    store.add_listener(lambda kind, resource, obj: events.append(kind))
    store.create("pods", make_pod("a"))
    same = store.get("pods", "default", "a")
    assert same is not None
    result = store.update("pods", same)
    assert result["metadata"]["resourceVersion"] == "1"
    assert events == ["ADDED"]
    assert store.resource_version == 1


def test_listeners_see_changes_in_commit_order() -> None:
    store = ObjectStore()
    seen: list[tuple[str, str, str]] = []
    store.add_listener(
        lambda kind, resource, obj: seen.append(
            (kind, resource, obj["metadata"]["resourceVersion"])
        )
    )
    store.create("pods", make_pod("a"))
    pod = store.get("pods", "default", "a")
    assert pod is not None
    pod["metadata"]["labels"] = {}
    store.update("pods", pod)
    store.delete("pods", "default", "a", grace_period_seconds=0)
    assert seen == [("ADDED", "pods", "1"), ("MODIFIED", "pods", "2"), ("DELETED", "pods", "3")]


def test_finalizers_hold_deletion_until_removed() -> None:
    store = ObjectStore()
    events: list[tuple[str, Any]] = []
    store.add_listener(lambda kind, resource, obj: events.append((kind, obj)))
    dep = make_deployment("web")
    dep["metadata"]["finalizers"] = ["example.com/hold"]
    store.create("deployments", dep)
    marked = store.delete("deployments", "default", "web")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert marked["metadata"]["generation"] == 2  # the first deletion request bumps it
    assert store.delete("deployments", "default", "web") == marked  # no new version
    marked["metadata"]["finalizers"] = []
    returned = store.update("deployments", marked)
    assert returned["metadata"]["finalizers"] == []
    assert store.get("deployments", "default", "web") is None
    assert [kind for kind, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    # The DELETED event carries the last stored version, as etcd's delete does.
    assert events[-1][1]["metadata"]["finalizers"] == ["example.com/hold"]


def test_a_finalizer_outlasts_a_pods_grace_period() -> None:
    store = ObjectStore()
    pod = make_pod("a")
    pod["metadata"]["finalizers"] = ["example.com/hold"]
    store.create("pods", pod)
    terminating = store.delete("pods", "default", "a")
    assert terminating is not None
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    # The kubelet's final delete: due now, but the finalizer still holds it.
    due = store.delete("pods", "default", "a", grace_period_seconds=0)
    assert due is not None
    assert due["metadata"]["deletionGracePeriodSeconds"] == 0
    assert store.get("pods", "default", "a") is not None
    due["metadata"]["finalizers"] = []
    store.update("pods", due)
    assert store.get("pods", "default", "a") is None


def test_a_removed_listener_hears_nothing_more() -> None:
    store = ObjectStore()
    heard: list[str] = []
    raw: list[int] = []

    def listener(kind: str, resource: str, obj: Any) -> None:
        heard.append(kind)

    store.add_listener(listener)
    store.add_event_listener(lambda event: raw.append(event.rv))
    store.create("pods", make_pod("a"))
    store.remove_listener(listener)
    store.create("pods", make_pod("b"))
    assert heard == ["ADDED"]
    assert raw == [1, 2]  # the other listener is untouched
    with pytest.raises(ValueError, match="not listening"):
        store.remove_listener(listener)


def test_update_of_a_missing_object_is_not_found() -> None:
    store = ObjectStore()
    with pytest.raises(NotFound):
        store.update("pods", make_pod("ghost"))
    assert store.delete("pods", "default", "ghost") is None


def test_list_is_sorted_by_namespace_then_name() -> None:
    store = ObjectStore()
    for ns, name in (("b", "x"), ("a", "z"), ("a", "y")):
        store.create("pods", make_pod(name, namespace=ns))
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.list("pods")] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]
    assert [p["metadata"]["name"] for p in store.list("pods", "a")] == ["y", "z"]


def test_each_version_is_encoded_once_and_reused() -> None:
    store = ObjectStore()
    store.create("pods", make_pod("a"))
    entry = store.get_entry("pods", "default", "a")
    assert entry is not None
    page = store.page("pods", namespace=None)
    assert page.entries[0].raw is entry.raw
    assert store.events_since(0)[0].entry.raw is entry.raw


def test_the_window_is_bounded_and_compaction_forgets_it() -> None:
    store = ObjectStore(window=3)
    for i in range(5):
        store.create("pods", make_pod(f"p{i}"))
    assert [e.rv for e in store.events_since(2)] == [3, 4, 5]
    with pytest.raises(Expired, match="too old resource version: 1"):
        store.events_since(1)
    store.compact()
    with pytest.raises(Expired):
        store.events_since(4)
    assert store.events_since(5) == []


def test_a_list_at_an_older_version_rolls_back_through_the_window() -> None:
    store = ObjectStore()
    store.create("pods", make_pod("a"))
    store.create("pods", make_pod("b"))
    then = store.resource_version
    store.delete("pods", "default", "a")
    store.create("pods", make_pod("c"))
    pod = store.get("pods", "default", "b")
    assert pod is not None
    pod["metadata"]["labels"] = {"v": "new"}
    store.update("pods", pod)
    old = store.page("pods", namespace="default", at_rv=then)
    assert [e.key[1] for e in old.entries] == ["a", "b"]
    assert old.entries[1].labels == {"app": "web"}


def test_unknown_resources_are_refused() -> None:
    store = ObjectStore()
    with pytest.raises(NotFound, match="not served"):
        store.create("services", {"metadata": {"name": "x", "namespace": "default"}})
