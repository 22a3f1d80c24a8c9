"""What counts as a status change, field by field, and how severe the new value is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kinds import STORED
from kinds.pod.status import changes_same_containers
from store import Condition, Kind, Row, Severity
from store.transitions import (
    changes_between,
    changes_by_fields,
    deletion_change,
    first_sight_changes,
    signature,
)

from .factories import (
    container,
    crash_looping,
    deployment,
    evolve,
    node,
    node_conditions,
    not_ready_conditions,
    pod,
)


def diff(kind: Kind, old: Row, new: Row) -> dict[str, tuple[str | None, str | None, Severity]]:
    changes = changes_between(kind, signature(kind, old), signature(kind, new), new)
    return {c.field: (c.old, c.new, c.severity) for c in changes}


def test_a_modified_event_that_changes_no_tracked_field_records_nothing() -> None:
    before = pod()
    after = evolve(before, labels={"app": "web", "extra": "x"}, pod_ip="10.244.9.9", obj=b"{}")
    assert diff(Kind.POD, before, after) == {}


def test_pod_crash_loop_changes_ready_waiting_reason_restarts_and_last_termination() -> None:
    before = pod()
    after = evolve(
        before,
        ready=False,
        status="CrashLoopBackOff",
        conditions=not_ready_conditions(),
        containers=(crash_looping(restarts=2),),
        restarts=2,
    )
    changes = changes_between(
        Kind.POD, signature(Kind.POD, before), signature(Kind.POD, after), after
    )
    by_field = {c.field: c for c in changes}
    assert set(by_field) == {
        "ready",
        "restarts",
        "container/app/waiting_reason",
        "container/app/last_terminated_reason",
    }
    assert by_field["container/app/waiting_reason"].new == "CrashLoopBackOff"
    assert by_field["container/app/waiting_reason"].severity is Severity.CRITICAL
    assert by_field["container/app/waiting_reason"].message.startswith("back-off")
    assert by_field["ready"].reason == "ContainersNotReady"
    assert by_field["ready"].severity is Severity.WARNING
    assert (by_field["restarts"].old, by_field["restarts"].new) == ("0", "2")
    assert by_field["container/app/last_terminated_reason"].message == "exit code 1"


def test_restart_count_is_recorded_only_when_it_rises() -> None:
    five = pod(containers=(container(restarts=5),), restarts=5)
    assert diff(Kind.POD, five, evolve(five, restarts=7))["restarts"] == (
        "5",
        "7",
        Severity.WARNING,
    )
    assert "restarts" not in diff(Kind.POD, five, evolve(five, restarts=3))


def test_oom_killed_last_termination_is_critical() -> None:
    before = pod()
    after = evolve(
        before,
        containers=(
            container(
                restarts=1, last_terminated_reason="OOMKilled", last_terminated_exit_code=137
            ),
        ),
        restarts=1,
    )
    assert diff(Kind.POD, before, after)["container/app/last_terminated_reason"] == (
        None,
        "OOMKilled",
        Severity.CRITICAL,
    )


def test_scheduling_and_deletion_are_informational() -> None:
    pending = pod(node=None, phase="Pending", ready=False, status="Pending", containers=())
    scheduled = evolve(pending, node="node-b")
    assert diff(Kind.POD, pending, scheduled) == {"node": (None, "node-b", Severity.INFO)}
    running = pod()
    deleting = evolve(running, deletion_at="2024-05-01T11:00:00Z", status="Terminating")
    assert diff(Kind.POD, running, deleting) == {
        "deletion_started": ("false", "true", Severity.INFO)
    }


def test_phase_severity_unknown_is_critical_failed_is_warning() -> None:
    running = pod()
    assert (
        diff(Kind.POD, running, evolve(running, phase="Unknown"))["phase"][2] is Severity.CRITICAL
    )
    failed = diff(Kind.POD, running, evolve(running, phase="Failed", reason="Evicted", ready=False))
    assert failed["phase"] == ("Running", "Failed", Severity.WARNING)
    # Not ready because it failed: readiness is not the news, the phase is.
    assert failed["ready"][2] is Severity.INFO


def test_first_sight_of_a_healthy_object_records_nothing() -> None:
    for kind, row in ((Kind.POD, pod()), (Kind.DEPLOYMENT, deployment()), (Kind.NODE, node())):
        assert first_sight_changes(kind, signature(kind, row), row) == []
    completed = pod(
        phase="Succeeded",
        ready=False,
        status="Completed",
        containers=(container(ready=False, state="terminated", terminated_reason="Completed"),),
    )
    assert first_sight_changes(Kind.POD, signature(Kind.POD, completed), completed) == []


def test_first_sight_records_only_abnormal_fields_and_never_past_restarts() -> None:
    row = pod(
        ready=False,
        status="CrashLoopBackOff",
        conditions=not_ready_conditions(),
        containers=(crash_looping(restarts=9),),
        restarts=9,
    )
    fields = {
        c.field: (c.old, c.new)
        for c in first_sight_changes(Kind.POD, signature(Kind.POD, row), row)
    }
    assert fields == {
        "ready": (None, "False"),
        "container/app/waiting_reason": (None, "CrashLoopBackOff"),
        "container/app/last_terminated_reason": (None, "Error"),
    }


def test_deployment_conditions_replicas_and_rollout() -> None:
    before = deployment()
    rolling = evolve(
        before, generation=5, updated_replicas=1, available_replicas=2, ready_replicas=2
    )
    d = diff(Kind.DEPLOYMENT, before, rolling)
    assert d["rollout"] == ("complete", "progressing", Severity.INFO)
    assert d["replicas/updated"] == ("3/3", "1/3", Severity.INFO)
    assert d["replicas/available"] == ("3/3", "2/3", Severity.WARNING)
    stuck = evolve(
        rolling,
        conditions={
            **rolling.conditions,
            "Progressing": Condition(status="False", reason="ProgressDeadlineExceeded"),
            "Available": Condition(status="False", reason="MinimumReplicasUnavailable"),
            "ReplicaFailure": Condition(status="True", reason="FailedCreate"),
        },
        available_replicas=0,
        ready_replicas=0,
    )
    d = diff(Kind.DEPLOYMENT, rolling, stuck)
    assert d["condition/Progressing"] == ("True", "False", Severity.WARNING)
    assert d["condition/Available"] == ("True", "False", Severity.CRITICAL)
    assert d["condition/ReplicaFailure"] == (None, "True", Severity.CRITICAL)
    assert d["replicas/available"] == ("2/3", "0/3", Severity.CRITICAL)
    paused = evolve(before, paused=True)
    assert diff(Kind.DEPLOYMENT, before, paused) == {
        "rollout": ("complete", "paused", Severity.INFO)
    }


def test_node_ready_pressure_network_and_cordon() -> None:
    before = node()
    sick = evolve(
        before,
        conditions=node_conditions(
            Ready="Unknown", MemoryPressure="True", NetworkUnavailable="True"
        ),
        ready="Unknown",
        unschedulable=True,
    )
    d = diff(Kind.NODE, before, sick)
    assert d == {
        "condition/Ready": ("True", "Unknown", Severity.CRITICAL),
        "condition/MemoryPressure": ("False", "True", Severity.WARNING),
        "condition/NetworkUnavailable": ("False", "True", Severity.CRITICAL),
        "unschedulable": ("false", "true", Severity.WARNING),
    }
    assert diff(Kind.NODE, sick, before)["condition/Ready"] == ("Unknown", "True", Severity.INFO)


def test_deletions_carry_the_last_status() -> None:
    assert deletion_change(Kind.POD, "Running")[:4] == ("deleted", "Running", None, Severity.INFO)
    assert deletion_change(Kind.NODE, "Ready").severity is Severity.WARNING


def test_a_container_that_disappears_clears_its_fields() -> None:
    two = pod(
        containers=(container("app"), container("sidecar", waiting_reason="ImagePullBackOff"))
    )
    one = evolve(two, containers=(container("app"),))
    assert diff(Kind.POD, two, one) == {
        "container/sidecar/waiting_reason": ("ImagePullBackOff", None, Severity.INFO)
    }


_PHASES = st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown", "Weird"])
_SCALARS = st.tuples(
    _PHASES,
    st.booleans(),
    st.sampled_from([None, "node-a", "node-b"]),
    st.booleans(),
    st.integers(min_value=0, max_value=5),
)


@settings(max_examples=200, deadline=None)
@given(old=_SCALARS, new=_SCALARS, reason=st.sampled_from([None, "Evicted"]))
def test_the_pod_fast_path_gives_the_generic_paths_changes(
    old: tuple[object, ...], new: tuple[object, ...], reason: str | None
) -> None:
    """The written-out common case (containers unchanged) must match the generic field route."""
    row = evolve(
        pod(containers=(container(last_terminated_reason="OOMKilled", restarts=2),)),
        ready=bool(new[1]),
        reason=reason,
        message="m" if reason else None,
        conditions=not_ready_conditions(),
    )
    containers = signature(Kind.POD, row)[5]
    before, after = (*old, containers), (*new, containers)
    assert changes_same_containers(before, after, row) == changes_by_fields(
        STORED[Kind.POD], before, after, row
    )
