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
from store.quantity import QuantityError, cpu_millicores, memory_bytes, parse_quantity

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
    "QuantityError",
    "Row",
    "Severity",
    "SyncState",
    "Taint",
    "Transition",
    "cpu_millicores",
    "memory_bytes",
    "parse_quantity",
]
