"""Every kind the agent knows, one line each: the registry the generic machinery reads.

Adding a kind is a module in this package that builds a `KindSpec` (see
`kinds.spec` and README's "Adding a kind") and a line here, plus its name in
`kinds.names.Kind`. `tests/kinds/test_registry.py` fails when a stored kind
lacks a part (`missing_parts`).
"""

from __future__ import annotations

from typing import Any, Final

from kinds import deployment, node, pod, replicaset, statefulset
from kinds.names import Kind
from kinds.spec import KindSpec, untracked

__all__ = ["DEFAULT_KINDS", "KINDS", "STORED", "missing_parts", "spec_of"]

KINDS: Final[dict[str, KindSpec[Any]]] = {
    spec.name: spec
    for spec in (
        pod.SPEC,
        deployment.SPEC,
        node.SPEC,
        statefulset.SPEC,
        replicaset.SPEC,
    )
}

# The stored kinds by their store name: what tables, sync rows and answers cover.
STORED: Final[dict[Kind, KindSpec[Any]]] = {
    spec.kind: spec for spec in KINDS.values() if spec.stored and spec.kind is not None
}

# What the agent watches unless told otherwise; replicasets come along with
# pods (to link them to deployments) whenever both pods and deployments run.
DEFAULT_KINDS: Final[tuple[str, ...]] = tuple(spec.name for spec in KINDS.values() if spec.stored)


def spec_of(kind: Kind) -> KindSpec[Any]:
    """The spec of a stored kind."""
    return STORED[kind]


def missing_parts(spec: KindSpec[Any]) -> list[str]:
    """The parts a stored kind must have and lacks (empty for a complete kind)."""
    if not spec.stored:
        return []
    required = {
        "kind": spec.kind,
        "row_type": spec.row_type,
        "table": spec.table,
        "signature": spec.signature is not untracked,
        "analyzers": spec.analyzers,
        "item": spec.item,
        "metric_families": spec.metric_families,
    }
    missing = [name for name, value in required.items() if not value]
    if spec.kind is not None and spec.kind.value != spec.resource.kind:
        missing.append("kind (differs from the resource's kind)")
    return missing
