"""The SQLite state store: the agent's memory of the cluster and its history."""

from store.model import (
    Condition,
    ContainerRow,
    Delta,
    DeltaSink,
    DeploymentRow,
    EventType,
    Kind,
    NodeRow,
    PodRow,
    Row,
    Severity,
    SyncState,
    Taint,
    Transition,
)

__all__ = [
    "Condition",
    "ContainerRow",
    "Delta",
    "DeltaSink",
    "DeploymentRow",
    "EventType",
    "Kind",
    "NodeRow",
    "PodRow",
    "Row",
    "Severity",
    "SyncState",
    "Taint",
    "Transition",
]
