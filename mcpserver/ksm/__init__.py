"""What /metrics exports beyond the MCP server's own counters.

- `families`: the kube-state-metrics families (names, types, help, labels as
  kube-state-metrics prints them) and the summary-mode families.
- `collector`: `ClusterCollector`, one consistent cluster snapshot per scrape,
  shared by concurrent scrapes; objects mode (read from the tables in a
  worker thread) or summary mode (the store's in-memory aggregates).
- `renderer`, `worker`: objects mode's snapshots and rendering, in a child
  process reading the store file (`RenderWorker`), or in a thread.
- `objects`, `summary`: render a snapshot, piece by piece, as exposition text.
- `state`: `AgentStateCollector`, the watcher's, store's and callbacks' live
  counters as a prometheus_client collector; `TransitionCounts`.
- `exposition`: the HTTP response (OpenMetrics or text, gzip, streamed).
- `textformat`: escaping and units.
"""

from mcpserver.ksm.collector import (
    DEFAULT_OBJECTS_LIMIT,
    MODES,
    ClusterCollector,
    ClusterSnapshot,
    MetricsMode,
    SnapshotFailed,
)
from mcpserver.ksm.exposition import metrics_response
from mcpserver.ksm.families import KSM, SUMMARY, Family
from mcpserver.ksm.state import AgentStateCollector, TransitionCounts
from mcpserver.ksm.worker import LocalRenderer, RenderFailed, RenderWorker

__all__ = [
    "DEFAULT_OBJECTS_LIMIT",
    "KSM",
    "MODES",
    "SUMMARY",
    "AgentStateCollector",
    "ClusterCollector",
    "ClusterSnapshot",
    "Family",
    "LocalRenderer",
    "MetricsMode",
    "RenderFailed",
    "RenderWorker",
    "SnapshotFailed",
    "TransitionCounts",
    "metrics_response",
]
