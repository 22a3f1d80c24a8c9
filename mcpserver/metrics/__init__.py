"""The agent's own metrics; with `mcpserver.ksm`, everything /metrics exports.

- `agent_metrics`: `AgentMetrics`, the agent's metric families on one
  registry, and the /metrics response; `HttpMetricsMiddleware`, which
  counts every HTTP response.

`mcpserver.ksm` (the cluster gauges and the exposition) is imported on first
`AgentMetrics.attach()`, so `kube-watchcache --help` stays quick.
"""

from mcpserver.metrics.agent_metrics import AgentMetrics, HttpMetricsMiddleware

__all__ = ["AgentMetrics", "HttpMetricsMiddleware"]
