"""Everything the agent knows about each Kubernetes kind, one module per kind.

The bottom of the package graph: `watcher`, `store`, `dispatch` and
`mcpserver` import it, it imports none of them. `KINDS` (in
`kinds.registry`) drives the informers, the tables, the tracked status, the
health analyzers, the MCP answers, the exported metrics and the RBAC check.
"""

from kinds import (
    common,
    deployment,
    meta,
    names,
    node,
    pod,
    quantity,
    redaction,
    registry,
    replicaset,
    spec,
)
from kinds.common import (
    Candidate,
    Change,
    Condition,
    Finding,
    HealthSettings,
    Severity,
    Taint,
)
from kinds.names import Kind
from kinds.registry import DEFAULT_KINDS, KINDS, STORED, missing_parts, spec_of
from kinds.spec import KindSpec, MetricFamily, ObjectState, Row, Signature

# The modules are public too: each kind's module is where its facts live.
__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "STORED",
    "Candidate",
    "Change",
    "Condition",
    "Finding",
    "HealthSettings",
    "Kind",
    "KindSpec",
    "MetricFamily",
    "ObjectState",
    "Row",
    "Severity",
    "Signature",
    "Taint",
    "common",
    "deployment",
    "meta",
    "missing_parts",
    "names",
    "node",
    "pod",
    "quantity",
    "redaction",
    "registry",
    "replicaset",
    "spec",
    "spec_of",
]
