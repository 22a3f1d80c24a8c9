"""The SQLite state store: the agent's memory of the cluster and its history.

Open it once, in the composition root::

    from store import open_store, StoreSettings

    async with open_store("/var/lib/kwc/state.db", settings=StoreSettings()) as store:
        # the file is this cluster's (another cluster's file is moved aside)
        await store.claim(ClusterIdentity(server=url, uid=kube_system_uid))
        # informers write through the DeltaSink
        await store.writer.put(Delta(Kind.POD, "ADDED", pod_row))
        await store.writer.replace(Kind.POD, rows, resource_version="123")
        await store.writer.sync(Kind.POD, resource_version="124", synced=True)
        store.writer.subscribe(lambda transitions: queue.put_nowait(transitions))

        # the MCP server and metrics read
        page = await store.reader.list_pods(namespace="web", limit=50)
        pod = await store.reader.get_pod("web", "api-7d9f")
        changes = await store.reader.history(since=t0, min_severity="warning")
        report = await store.reader.health_report(limit=50)
        summary = await store.cluster_summary(top=5)
        rows = await store.reader.query("SELECT phase, count(*) FROM pods GROUP BY phase")
        store.healthy, store.last_error   # for /ready
        store.counts()                    # gauges from memory, no I/O

Modules: `model` (the contracts), `writer` (the single writer), `reader`
(read-only connections, lists, history, guarded SQL), `view` (aggregates
maintained incrementally), `health` (analyzers), `summaries`, `transitions`
and `severity` (what counts as a status change and how bad it is),
`selector` (label selectors), `quantity` (Kubernetes quantities), `schema`
(migrations), `storage` (opening files, corruption handling), `cluster` (which
cluster a file caches), `errors`.
"""

from kinds.quantity import QuantityError, cpu_millicores, memory_bytes, parse_quantity
from store import snapshot
from store.cluster import ClaimOutcome, ClaimVerdict
from store.columns import TABLES, Column
from store.errors import (
    CorruptStore,
    InvalidQuery,
    InvalidRow,
    InvalidSelector,
    QueryTimeout,
    StoreClosed,
    StoreError,
    StoreUnavailable,
)
from store.findings import ReportItem
from store.health import Finding, HealthReport
from store.model import (
    ClusterIdentity,
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
from store.reader import GroupCount, ObjectHistory, Page, QueryResult, Reader
from store.selector import Selector, parse_selector
from store.service import Store, open_store
from store.settings import HealthSettings, QuerySettings, StoreSettings
from store.summaries import (
    ClusterSummary,
    DeploymentSummary,
    NamespaceSummary,
    NodeSummary,
)
from store.view import View
from store.writer import Subscriber, Writer

# `snapshot` is public as a module: the exporter's reads of the store (`/metrics`).
__all__ = [
    "TABLES",
    "ClaimOutcome",
    "ClaimVerdict",
    "ClusterIdentity",
    "ClusterSummary",
    "Column",
    "Condition",
    "ContainerRow",
    "CorruptStore",
    "Delta",
    "DeltaSink",
    "DeploymentRow",
    "DeploymentSummary",
    "EventType",
    "Finding",
    "GroupCount",
    "HealthReport",
    "HealthSettings",
    "InvalidQuery",
    "InvalidRow",
    "InvalidSelector",
    "Kind",
    "NamespaceSummary",
    "NodeRow",
    "NodeSummary",
    "ObjectHistory",
    "Page",
    "PodRow",
    "QuantityError",
    "QueryResult",
    "QuerySettings",
    "QueryTimeout",
    "Reader",
    "ReportItem",
    "Row",
    "Selector",
    "Severity",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "Subscriber",
    "SyncState",
    "Taint",
    "Transition",
    "View",
    "Writer",
    "cpu_millicores",
    "memory_bytes",
    "open_store",
    "parse_quantity",
    "parse_selector",
    "snapshot",
]
