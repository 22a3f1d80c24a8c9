"""What the agent must know about one kind, as data and pure functions: `KindSpec`.

Each kind module builds one `KindSpec` and `kinds.registry` gathers them;
the generic machinery reads nothing else about a kind:

- the watcher: `resource`, `verbs`, `normalize` (decode, trim, redact);
- the store: `row_type` and `table` (columns follow the row's fields),
  `indexed` and `filters` (what lists filter on), the tracked status
  (`signature`, `fields`, `severity`, `explain`, `counters`), the health
  analyzers (`analyzers`) and what the writer remembers (`state`);
- the MCP answers: `item` (one line of a list) and `report_order`;
- /metrics: `metric_families` and `metric_samples`, kube-state-metrics'
  families for the kind;
- deploy/: the RBAC rule (`resource`, `verbs`).

A kind that only links others (ReplicaSet, which ties pods to their
Deployment) has `stored=False` and leaves the store's parts at their
defaults. `kinds.registry.missing_parts` says what a stored kind lacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar

from kinds.common import Candidate, Change, HealthSettings, Severity
from kinds.meta import Resource
from kinds.names import Kind

__all__ = [
    "READ_VERBS",
    "KindSpec",
    "MetricFamily",
    "ObjectState",
    "Row",
    "RowAnalyzer",
    "Sample",
    "Signature",
    "status_signature",
    "untracked",
]

# What the informers do with every kind: list it, then watch it.
READ_VERBS: Final = ("list", "watch")

R = TypeVar("R")
Signature = tuple[Any, ...]
RowAnalyzer = Callable[[Any, HealthSettings], Candidate | None]


class Row(Protocol):
    """What every stored row has: identity, version and the trimmed object."""

    @property
    def uid(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def resource_version(self) -> str: ...
    @property
    def obj(self) -> bytes: ...


class ObjectState(NamedTuple):
    """What the writer remembers of an object of a kind without a summary of its own.

    Identity and indexed columns (to keep the name index and to choose the
    narrow update), the tracked status signature and the problem rank.
    """

    namespace: str
    name: str
    status: str
    signature: Signature
    problem: int


@dataclasses.dataclass(frozen=True)
class MetricFamily:
    """One kube-state-metrics family: spelled as kube-state-metrics prints it."""

    name: str
    type: str  # "gauge" | "counter"
    help: str
    labels: tuple[str, ...]


def status_signature(fields: dict[str, str | None]) -> Signature:
    """The signature of a kind whose tracked fields are few: the fields themselves."""
    return tuple(fields.items())


def untracked(row: Any) -> Signature:
    """The signature of a kind that tracks no status (one watched only to link others)."""
    return ()


def _fields_of_pairs(signature: Signature) -> dict[str, str | None]:
    return dict(signature)


def _no_explanation(field: str, value: str | None, row: Any) -> tuple[str, str]:
    return "", ""


def _info(field: str, value: str | None, signature: Signature) -> Severity:
    return Severity.INFO


def _object_state(row: Any, signature: Signature, problem: int) -> Any:
    return ObjectState(row.namespace, row.name, row.status, signature, problem)


def _same_indexed(old: Any, new: Any) -> bool:
    return bool(
        old.name == new.name
        and old.namespace == new.namespace
        and old.status == new.status
        and old.problem == new.problem
    )


# One sample: its family's name, its label values (in the family's label order), its value.
Sample = tuple[str, tuple[str, ...], float]


@dataclasses.dataclass(frozen=True, kw_only=True)
class KindSpec(Generic[R]):
    """Every fact about one kind that the generic machinery uses."""

    resource: Resource
    normalize: Callable[..., R]  # (obj, *, reveal_env_values=False) -> row
    verbs: tuple[str, ...] = READ_VERBS
    stored: bool = True
    # --- the store -------------------------------------------------------------------------
    kind: Kind | None = None
    row_type: type[R] | None = None
    table: str = ""
    # Columns with an index (besides uid); a list filter on them is cheap.
    indexed: frozenset[str] = frozenset({"uid", "namespace", "name", "status", "problem"})
    # The filters `list` accepts: column names of the row.
    filters: frozenset[str] = frozenset({"namespace", "status"})
    # The tracked status: a hashable signature, the named fields it holds, how bad a value is.
    signature: Callable[[R], Signature] = untracked
    fields: Callable[[Signature], dict[str, str | None]] = _fields_of_pairs
    severity: Callable[[str, str | None, Signature], Severity] = _info
    explain: Callable[[str, str | None, R], tuple[str, str]] = _no_explanation
    # Fields that count something, and what a message calls them: news only when
    # they rise, never on first sight.
    counters: dict[str, str] = dataclasses.field(default_factory=dict)
    # Faster equivalents of the generic comparison, for kinds with many events (pods).
    changes: Callable[[Signature, Signature, R], list[Change] | None] | None = None
    plainly_healthy: Callable[[Signature], bool] | None = None
    deletion_severity: Severity = Severity.INFO
    analyzers: tuple[RowAnalyzer, ...] = ()
    analyzers_skip: Callable[[R], bool] | None = None  # rows no analyzer can flag
    state: Callable[[R, Signature, int], Any] = _object_state
    same_indexed: Callable[[Any, Any], bool] = _same_indexed
    # --- answers ---------------------------------------------------------------------------
    report_order: int = 50  # causes first: nodes, then workloads, then pods
    item: Callable[[R, float], dict[str, Any]] | None = None
    # --- /metrics --------------------------------------------------------------------------
    metric_families: tuple[MetricFamily, ...] = ()
    # The samples of one object. None: the exporter renders the kind itself (pods,
    # deployments and nodes, whose incremental renderer was measured to be needed).
    metric_samples: Callable[[R], Iterable[Sample]] | None = None

    @property
    def name(self) -> str:
        """The informer's name for the kind: its plural (`pods`, `statefulsets`)."""
        return self.resource.plural

    def configured(self, *, reveal_env_values: bool) -> KindSpec[R]:
        """This kind as an informer runs it: redacting env values unless told to keep them."""
        if not reveal_env_values:
            return self
        normalize = self.normalize
        return dataclasses.replace(
            self, normalize=lambda obj: normalize(obj, reveal_env_values=True)
        )

    @property
    def store_kind(self) -> Kind | None:
        """The store's kind, None for a kind watched only to link others."""
        return self.kind if self.stored else None
