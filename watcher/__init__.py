"""Informers: list/watch the API server and turn objects into store rows.

Entry points for the composition root (mcpserver):

    conn = await load_connection()                 # in-cluster if present, else kubeconfig
    conn = await load_connection(kubeconfig=path, context=name)
    conn = await load_connection(server=url, token=tok, ca_cert=path)

    informers = Informers(conn, writer, kinds=("pods", "deployments", "nodes"),
                          namespaces=None, label_selector=None,
                          settings=WatchSettings())
    cluster = await wait_for_cluster_identity(conn)  # kube-system uid, else the URL
    await store.claim(cluster)                     # before the informers write
    registry = CallbackRegistry()
    registry.subscribe(TransitionLog())            # people's console; log_transition: JSON
    registry.subscribe(WebhookSink(url, secret=s), min_severity="warning", timeout=None)
    registry.subscribe(mcp_hook)                   # async def mcp_hook(t: Transition)
    writer.subscribe(registry.publish)             # the store's committed transitions
    writer.on_reset(informers.relist)              # the store started over: list again
    writer.on_history_changed(informers.history_changed)  # another history: list again

    async with anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        tg.start_soon(registry.run)
        ...  # /ready: informers.synced (or await informers.wait_synced())
             # metrics: informers.stats.snapshot(), registry.stats, registry.subscriptions
    await conn.close()

With several replicas, webhooks fire from the Lease holder only::

    elector = LeaderElector(conn.api, name="kube-watchcache", namespace=ns, identity=pod)
    subscribe_while_leading(elector, registry, WebhookSink(url))
    tg.start_soon(elector.run)

`writer` is anything implementing `store.model.DeltaSink` (the store's
writer). `informers.run()` and `registry.run()` run until cancelled; a
failure of the sink propagates out of `informers.run()`; API and network
failures never do (they are retried, logged and recorded in the sync state).
"""

from kinds import DEFAULT_KINDS, KINDS, KindSpec
from watcher.callbacks import (
    Callback,
    CallbackRegistry,
    DispatchStats,
    Subscription,
    TransitionFilter,
    log_transition,
)
from watcher.config import Connection, in_cluster_available, load_connection
from watcher.errors import (
    ApiError,
    ConfigError,
    GoneError,
    MalformedEventError,
    StalledStreamError,
    TooManyRequestsError,
    TransportError,
    WatcherError,
)
from watcher.identity import read_cluster_identity, wait_for_cluster_identity
from watcher.informers import Informers, run_informers
from watcher.leader import LeaderElector, LeaseTiming, subscribe_while_leading
from watcher.settings import WatchSettings
from watcher.stats import WatchStats
from watcher.transition_log import TransitionLog
from watcher.webhook import WebhookError, WebhookSink

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "ApiError",
    "Callback",
    "CallbackRegistry",
    "ConfigError",
    "Connection",
    "DispatchStats",
    "GoneError",
    "Informers",
    "KindSpec",
    "LeaderElector",
    "LeaseTiming",
    "MalformedEventError",
    "StalledStreamError",
    "Subscription",
    "TooManyRequestsError",
    "TransitionFilter",
    "TransitionLog",
    "TransportError",
    "WatchSettings",
    "WatchStats",
    "WatcherError",
    "WebhookError",
    "WebhookSink",
    "in_cluster_available",
    "load_connection",
    "log_transition",
    "read_cluster_identity",
    "run_informers",
    "subscribe_while_leading",
    "wait_for_cluster_identity",
]
