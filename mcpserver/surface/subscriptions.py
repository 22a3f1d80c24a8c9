"""Resource-updated notifications for both MCP protocol generations.

Transitions committed by the store arrive here (from the dispatcher, off the
ingest path). Each one marks the URI of the object it touched as changed, and a
warning or critical one also marks `k8s://health`. A background task publishes
the marked URIs at most every `interval` seconds, coalescing bursts (a rollout
of 300 pods is 300 changes, not 3,000 notifications).

- 2026-07-28 clients open `subscriptions/listen` streams; the SDK's
  `SubscriptionBus` fans a `ResourceUpdated` event out to them and each stream
  filters by the URIs it asked for.
- Earlier clients send `resources/subscribe`; the session that asked is kept
  per URI and gets `notifications/resources/updated` on its standalone stream.
  A subscription is dropped when its connection closes or a send to it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from kinds import STORED
from store import Kind, Severity, Transition

__all__ = ["ResourceNotifier", "resource_uri", "uris_for_transition"]

log = logging.getLogger(__name__)

HEALTH_URI = "k8s://health"
_MAX_LEGACY_SUBSCRIPTIONS = 10_000


def resource_uri(kind: Kind | str, namespace: str, name: str) -> str:
    """The resource URI of one object, as the resource templates spell it."""
    spec = STORED[Kind(kind)]
    if spec.resource.namespaced:
        return f"k8s://{spec.name}/{namespace}/{name}"
    return f"k8s://{spec.name}/{name}"


def uris_for_transition(transition: Transition) -> list[str]:
    """The resources a transition changes: its object, and the health report if it matters."""
    uris = [resource_uri(transition.kind, transition.namespace, transition.name)]
    if Severity(transition.severity).rank >= Severity.WARNING.rank:
        uris.append(HEALTH_URI)
    return uris


class ResourceNotifier:
    """Collects changed URIs and pushes them to subscribers of both protocol generations."""

    def __init__(
        self,
        bus: SubscriptionBus,
        *,
        interval: float = 0.1,
        on_publish: Callable[[str, int], None] | None = None,
    ) -> None:
        self._bus = bus
        self._interval = interval
        self._on_publish = on_publish  # (protocol, count) for metrics
        self._pending: dict[str, None] = {}
        self._wake = anyio.Event()
        # uri -> {connection key: session that subscribed}
        self._legacy: dict[str, dict[int, ServerSession]] = {}
        self._legacy_count = 0

    # -- input ---------------------------------------------------------------

    def on_transitions(self, transitions: Iterable[Transition]) -> None:
        """Mark the URIs these transitions touch; cheap and synchronous, safe on any path."""
        for transition in transitions:
            for uri in uris_for_transition(transition):
                self._pending[uri] = None
        if self._pending:
            self._wake.set()

    def mark(self, uri: str) -> None:
        self._pending[uri] = None
        self._wake.set()

    # -- legacy resources/subscribe -------------------------------------------

    async def handle_subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        uri = str(params.uri)
        key, connection = _connection_of(ctx.session)
        sessions = self._legacy.setdefault(uri, {})
        if key not in sessions:
            if self._legacy_count >= _MAX_LEGACY_SUBSCRIPTIONS:
                raise MCPError(INTERNAL_ERROR, "subscription limit reached")
            sessions[key] = ctx.session
            self._legacy_count += 1
            if connection is not None:
                connection.exit_stack.callback(self._forget_connection, key)
        return EmptyResult()

    async def handle_unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        key, _ = _connection_of(ctx.session)
        self._drop(str(params.uri), key)
        return EmptyResult()

    def _drop(self, uri: str, key: int) -> None:
        sessions = self._legacy.get(uri)
        if sessions is not None and sessions.pop(key, None) is not None:
            self._legacy_count -= 1
            if not sessions:
                del self._legacy[uri]

    def _forget_connection(self, key: int) -> None:
        for uri in [u for u, sessions in self._legacy.items() if key in sessions]:
            self._drop(uri, key)

    @property
    def legacy_subscriptions(self) -> int:
        return self._legacy_count

    # -- output ----------------------------------------------------------------

    async def publish_now(self) -> None:
        """Send everything pending (the loop calls this; tests may too)."""
        pending, self._pending = self._pending, {}
        modern = legacy = 0
        for uri in pending:
            await self._bus.publish(ResourceUpdated(uri=uri))
            modern += 1
            for key, session in list(self._legacy.get(uri, {}).items()):
                try:
                    await session.send_resource_updated(uri)
                    legacy += 1
                except Exception as exc:  # a closed or broken session: forget it
                    log.debug("dropping subscription to %s: %r", uri, exc)
                    self._drop(uri, key)
        if self._on_publish is not None:
            if modern:
                self._on_publish("2026-07-28", modern)
            if legacy:
                self._on_publish("legacy", legacy)

    async def run(self) -> None:
        """Publish pending URIs until cancelled, at most once per interval."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self.publish_now()
            await anyio.sleep(self._interval)


def _connection_of(session: ServerSession) -> tuple[int, Any]:
    """A stable key for the connection a session belongs to, and the connection itself.

    The SDK builds one `ServerSession` per request; the connection behind it is
    what lives as long as the client does. It is private to the SDK, so this is
    the one place that reaches for it, with a fallback to the session itself.
    """
    connection = getattr(session, "_connection", None)
    if connection is None or not hasattr(connection, "exit_stack"):
        return id(session), None
    return id(connection), connection
