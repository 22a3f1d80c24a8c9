"""Dispatch: the store's committed transitions, fanned out to whoever listens.

Downstream of the store and of nothing else: the store computes status
transitions in the transaction that writes the rows and hands each
committed batch to a listener; this package delivers them, off the ingest
path, to callbacks (the log, MCP resource notifications, webhooks), each
behind its own bounded queue. The composition root wires it:

    registry = CallbackRegistry()
    store.writer.subscribe(registry.publish)       # the store's committed transitions
    registry.subscribe(TransitionLog())            # people's console; log_transition: JSON
    registry.subscribe(WebhookSink(url, secret=s), min_severity="warning", timeout=None)
    registry.subscribe(mcp_hook)                   # async def mcp_hook(t: Transition)

    async with anyio.create_task_group() as tg:
        tg.start_soon(registry.run)
        ...  # metrics: registry.stats, registry.subscriptions
        await registry.drain()                     # at shutdown, bounded by the caller

With several replicas, a callback that leaves the process runs on the
Lease holder only (the election itself is the watcher's, since it talks to
the API server):

    subscribe_while_leading(elector, registry, WebhookSink(url), replay=history_since)

`registry.run()` runs until cancelled. A callback that raises is logged
and counted, never propagated into the dispatcher.
"""

from dispatch.callbacks import (
    Callback,
    CallbackRegistry,
    DeliveryError,
    DispatchStats,
    Subscription,
    TransitionFilter,
    log_transition,
)
from dispatch.leader_gate import History, Leadership, subscribe_while_leading
from dispatch.transition_log import TransitionLog
from dispatch.webhook import WebhookError, WebhookSink

__all__ = [
    "Callback",
    "CallbackRegistry",
    "DeliveryError",
    "DispatchStats",
    "History",
    "Leadership",
    "Subscription",
    "TransitionFilter",
    "TransitionLog",
    "WebhookError",
    "WebhookSink",
    "log_transition",
    "subscribe_while_leading",
]
