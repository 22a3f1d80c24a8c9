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
    writer.on_reset(informers.relist)              # the store started over: list again
    writer.on_history_changed(informers.history_changed)  # another history: list again

    async with anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        ...  # /ready: informers.synced (or await informers.wait_synced())
             # metrics: informers.stats.snapshot()
    await conn.close()

With several replicas, the Lease decides which one sends webhooks (the
gate that follows it is `dispatch.subscribe_while_leading`)::

    elector = LeaderElector(conn.api, name="kube-watchcache", namespace=ns, identity=pod)
    tg.start_soon(elector.run)

`writer` is anything implementing `store.model.DeltaSink` (the store's
writer). The store's transitions flow on to `dispatch`, never back here.
`informers.run()` runs until cancelled; a failure of the sink propagates
out of it; API and network failures never do (they are retried, logged and
recorded in the sync state).
"""

from kinds import DEFAULT_KINDS, KINDS, KindSpec
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
from watcher.leader import LeaderElector, LeaseTiming
from watcher.settings import WatchSettings
from watcher.stats import WatchStats

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "ApiError",
    "ConfigError",
    "Connection",
    "GoneError",
    "Informers",
    "KindSpec",
    "LeaderElector",
    "LeaseTiming",
    "MalformedEventError",
    "StalledStreamError",
    "TooManyRequestsError",
    "TransportError",
    "WatchSettings",
    "WatchStats",
    "WatcherError",
    "in_cluster_available",
    "load_connection",
    "read_cluster_identity",
    "run_informers",
    "wait_for_cluster_identity",
]
