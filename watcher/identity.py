"""Which cluster the API server serves: the identity the state file is claimed with.

The strong identity is the uid of the `kube-system` namespace, what many
tools use as a cluster ID: every cluster has that namespace, it is never
deleted, and its uid is random per cluster and survives API server
restarts, address changes and certificate rotation. Reading it needs `get`
on that one namespace.

A Role-limited install (a namespaced overlay, no ClusterRole) gets a 403,
and a server that does not serve it a 404: then the identity is the API
server's URL alone. That is weaker, and the recorded identity says so
(`ClusterIdentity.source`): one cluster reached at a new address looks like
a new cluster (its state file is moved aside and rebuilt by a list), and two
clusters behind one address look alike (an in-cluster agent always talks to
`kubernetes.default`, but then it only ever sees its own cluster).

Any other failure (the API server unreachable, 5xx, 401) is not an answer:
`wait_for_cluster_identity` retries it with the reflectors' backoff, for as
long as it lasts, while the agent serves the rows restored from the state
file, every answer saying stale.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable

import anyio
import msgspec

from retry import Backoff
from store.model import ClusterIdentity
from watcher.config import Connection
from watcher.errors import ApiError, MalformedEventError, TooManyRequestsError, TransportError
from watcher.retry_log import RetryLog
from watcher.settings import WatchSettings
from watcher.transport import ApiTransport

__all__ = ["KUBE_SYSTEM_PATH", "read_cluster_identity", "wait_for_cluster_identity"]

log = logging.getLogger(__name__)

KUBE_SYSTEM_PATH = "/api/v1/namespaces/kube-system"
# Statuses that mean "you may not (or cannot) read it": fall back to the URL.
_NOT_READABLE = (403, 404)


class _Metadata(msgspec.Struct):
    uid: str = ""


class _Namespace(msgspec.Struct):
    metadata: _Metadata = msgspec.field(default_factory=_Metadata)


async def read_cluster_identity(
    transport: ApiTransport, *, server: str, request_timeout: float = 10.0
) -> ClusterIdentity:
    """One try: the kube-system namespace's uid, or the URL when it may not be read.

    Raises `ApiError` (other than 403/404), `TransportError` or
    `MalformedEventError` when the server gave no answer to go by.
    """
    server = server.rstrip("/")
    try:
        body = await transport.get(KUBE_SYSTEM_PATH, [], request_timeout=request_timeout)
    except ApiError as e:
        if e.status in _NOT_READABLE:
            log.info(
                "cluster identity: cannot read the kube-system namespace (%s); "
                "using the API server URL %s instead",
                e,
                server,
            )
            return ClusterIdentity(server=server)
        raise
    try:
        namespace = msgspec.json.decode(body, type=_Namespace)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise MalformedEventError(f"GET {KUBE_SYSTEM_PATH}: {e}", line=body) from e
    return ClusterIdentity(server=server, uid=namespace.metadata.uid or None)


def _unreachable(error: Exception, server: str) -> str | None:
    """A connection-level failure in plain words, or None for any other failure.

    "cannot reach <server>: connection refused" (or reset, or a host name that
    does not resolve) says more to an operator than the connector's repr.
    """
    cause: BaseException | None = error
    while cause is not None:
        os_error = getattr(cause, "os_error", None)  # aiohttp's connector errors carry it
        if isinstance(os_error, socket.gaierror):
            return f"cannot reach {server}: host name not resolved ({os_error.strerror})"
        if isinstance(os_error, ConnectionError) and os_error.errno:
            return f"cannot reach {server}: {os.strerror(os_error.errno).lower()}"
        cause = cause.__cause__
    return None


async def wait_for_cluster_identity(
    connection: Connection,
    *,
    settings: WatchSettings | None = None,
    on_failure: Callable[[str], Awaitable[None]] | None = None,
    rng: random.Random | None = None,
) -> ClusterIdentity:
    """Read the identity, retrying failures with backoff (and Retry-After) until it answers.

    `on_failure(message)` is awaited after each failed try, so the caller can
    say why nothing is being listed yet. The log says when the failures
    start, change and end, not every try (`RetryLog`).
    """
    settings = settings or WatchSettings()
    transport = ApiTransport(connection.api, connect_timeout=settings.connect_timeout)
    server = connection.host
    backoff = Backoff(settings.backoff, rng=rng)
    retries = RetryLog(log, "")
    while True:
        try:
            identity = await read_cluster_identity(
                transport, server=server, request_timeout=settings.list_request_timeout
            )
        except (ApiError, TransportError, MalformedEventError) as e:
            retry_after = e.retry_after if isinstance(e, TooManyRequestsError) else None
            delay = backoff.next_delay(retry_after=retry_after)
            unreachable = _unreachable(e, server)
            message = (
                f"cannot read the cluster's identity: {unreachable}"
                if unreachable
                else f"cannot read the cluster's identity from {server}: {e}"
            )
            retries.failed(message, retry_in=delay)
            if on_failure is not None:
                await on_failure(message)
            await anyio.sleep(delay)
            continue
        retries.succeeded(f"read the cluster's identity from {server}")
        return identity
