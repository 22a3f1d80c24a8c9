"""The simulated API server: an aiohttp application around an ObjectStore.

Why aiohttp rather than Starlette under uvicorn: the faults we inject live
below the ASGI abstraction. Closing a watch stream in the middle of an
event, or sending half of a chunk and dropping the connection, needs direct
access to the transport, which aiohttp's request handlers have and ASGI
apps do not. aiohttp also terminates TLS natively from an `SSLContext`, it
is the HTTP stack of the agent's own client (kubernetes-asyncio), so the
simulator adds no dependency, and `AppRunner`/`TCPSite` start and stop a
server inside the caller's event loop, which is what a test fixture, the
embedded demo and `restart()` need, with no uvicorn lifecycle to drive.

`Simulator` is the entry point:

    async with Simulator(token="t", tls=True) as sim:
        sim.store.create("pods", {...})
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        sim.faults.fail_next(2, status=429, verb="list")
        await sim.restart(compact=True)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from .discovery import (
    AGGREGATED_MEDIA,
    SERVER_VERSION,
    aggregated_discovery,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    served_group_versions,
)
from .errors import ApiError, MethodNotAllowed, NotFound, Unauthorized
from .faults import Faults
from .kubeconfig import kubeconfig, write_kubeconfig
from .negotiation import discovery_version, error_response, json_response, table_version
from .requestlog import RequestLog
from .resources import lookup
from .rest import ResourceHandlers, Target, flag
from .storage import ObjectStore
from .tls import TlsMaterial, generate_tls
from .watch import WatchHub

__all__ = ["DEFAULT_NAMESPACES", "Simulator"]

log = logging.getLogger(__name__)

# Namespaces every cluster has; creating objects in a namespace needs it to exist.
DEFAULT_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_UNAUTHENTICATED_PATHS = ("/healthz", "/readyz", "/livez", "/version")
_HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthenticated(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _UNAUTHENTICATED_PATHS)


class Simulator:
    """A Kubernetes API server on loopback, backed by `store`, with fault injection.

    `port=0` picks a free port (read it back from `url`/`port`; `restart()`
    keeps it). `window` sizes the replay history of a store created here and
    is ignored when a `store` is passed. `bookmark_interval` is the period of
    BOOKMARK events on watches that allow them. With `tls`, a throwaway CA
    and serving certificate are written to `tls_dir` (a temporary directory,
    removed on stop, when not given). `future_rv_wait` is how long a request
    for a resourceVersion the store has not reached yet waits before 504.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        tls: bool = False,
        bookmark_interval: float = 60.0,
        window: int = 10_000,
        store: ObjectStore | None = None,
        tls_dir: str | os.PathLike[str] | None = None,
        future_rv_wait: float = 3.0,
    ) -> None:
        if bookmark_interval <= 0:
            raise ValueError(f"bookmark_interval must be > 0 seconds, got {bookmark_interval}")
        self.host = host
        self.token = token
        self.tls = tls
        self.store = store if store is not None else ObjectStore(window=window)
        self.faults = Faults()
        self.requests = RequestLog()
        self._hub = WatchHub(self.store, bookmark_interval=bookmark_interval)
        self._handlers = ResourceHandlers(
            store=self.store, hub=self._hub, faults=self.faults, future_rv_wait=future_rv_wait
        )
        self._port = port
        self._tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._own_tls_dir = False
        self._tls_material: TlsMaterial | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Create the default namespaces and start listening."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        for name in DEFAULT_NAMESPACES:
            if self.store.get_entry("namespaces", None, name) is None:
                self.store.create("namespaces", {"metadata": {"name": name}})
        if self.tls and self._tls_material is None:
            if self._tls_dir is None:
                self._tls_dir = Path(tempfile.mkdtemp(prefix="kube-watchcache-sim-tls-"))
                self._own_tls_dir = True
            self._tls_material = generate_tls(self._tls_dir, hosts=_tls_hosts(self.host))
        self._hub.attach()
        try:
            await self._listen()
        except BaseException:
            self._hub.detach()
            raise

    async def stop(self) -> None:
        """End every watch cleanly, close connections, stop listening, let go of the store."""
        await self._shutdown()
        self._hub.detach()
        if self._own_tls_dir and self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None
            self._tls_material = None
            self._own_tls_dir = False

    async def restart(
        self, *, compact: bool = True, down_for: float = 0.0, history_reset: bool = False
    ) -> tuple[int, int]:
        """Stop and listen again on the same port, as an API server restart looks.

        Open watches end and keep-alive connections drop. With `compact`, the
        event history is dropped too: every resourceVersion older than now
        answers 410, so clients must relist. With `history_reset`, the server
        comes back restored or replaced (`ObjectStore.reset_history`): a lower
        resourceVersion, the same names with new uids (ValueError, still up,
        when the store's objects never changed and it cannot go lower).
        Returns the store's resourceVersion when the server went down and
        when it came back up: the scenario may write while the server stops
        and starts, so reads before and after the call miss the jump.
        """
        if history_reset:
            self.store.check_reset_history()
        await self._shutdown()
        if compact:
            self.store.compact()
        before = self.store.resource_version
        if history_reset:
            try:
                self.store.reset_history()
            except ValueError:
                await self._listen()
                raise
        after = self.store.resource_version
        if down_for > 0:
            await asyncio.sleep(down_for)
        await self._listen()
        return before, after

    async def _listen(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        ssl_context = self._tls_material.server_context() if self._tls_material else None
        site = web.TCPSite(
            runner, self.host, self._port, ssl_context=ssl_context, reuse_address=True
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._hub.stop_all()
        await runner.cleanup()

    # -- what tests and the CLI read --------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def ca_pem(self) -> bytes | None:
        return None if self._tls_material is None else self._tls_material.ca_pem

    @property
    def ca_path(self) -> Path | None:
        return None if self._tls_material is None else self._tls_material.ca_path

    def open_watches(self, resource: str | None = None) -> int:
        """How many watch streams are open now (for `resource`, or all)."""
        return self._hub.count(resource)

    async def wait_for_watches(self, count: int, *, resource: str | None = None) -> None:
        """Wait until at least `count` watches are open: a test's "client is watching"."""
        changed = asyncio.Event()
        remove = self._hub.on_change(changed.set)
        try:
            while self._hub.count(resource) < count:
                changed.clear()
                await changed.wait()
        finally:
            remove()

    def kubeconfig(self) -> dict[str, Any]:
        return kubeconfig(server=self.url, ca_pem=self.ca_pem, token=self.token)

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> Path:
        """Write a kubeconfig for kubectl, client-go and kubernetes-asyncio.

        Note that client-go sends no bearer token over plain http: use
        `tls=True` when a token is set and Go clients must authenticate.
        """
        if not self.running:
            raise RuntimeError("start the simulator first: the kubeconfig needs its port")
        return write_kubeconfig(path, self.kubeconfig())

    # -- HTTP --------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            if self.token is not None and not _unauthenticated(request.path):
                header = request.headers.get("Authorization", "")
                scheme, _, presented = header.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    presented.strip().encode(), self.token.encode()
                ):
                    self.requests.record(verb="unauthenticated", resource=request.path)
                    raise Unauthorized("Unauthorized")
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            log.exception("simulator: unhandled error for %s %s", request.method, request.path)
            return error_response(ApiError(f"Internal error occurred: {exc}"))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        segments = [unquote(s) for s in request.path.strip("/").split("/") if s != ""]
        if not segments:
            return json_response({"paths": _root_paths()})
        head = segments[0]
        if request.path in _HEALTH_PATHS or (
            head in ("healthz", "readyz", "livez") and len(segments) > 1
        ):
            self.requests.record(verb="get", resource=request.path)
            return web.Response(text="ok", content_type="text/plain")
        if head == "version" and len(segments) == 1:
            self.requests.record(verb="get", resource="/version")
            return json_response(SERVER_VERSION)
        if head == "api":
            group, rest = "", segments[1:]
            if not rest:
                return self._discovery(request, aggregated_core=True)
            version, rest = rest[0], rest[1:]
        elif head == "apis":
            if len(segments) == 1:
                return self._discovery(request, aggregated_core=False)
            group = segments[1]
            if len(segments) == 2:
                self.requests.record(verb="get", resource=request.path)
                if group not in served_group_versions():
                    raise NotFound("the server could not find the requested resource")
                return json_response(api_group(group))
            version, rest = segments[2], segments[3:]
        else:
            self.requests.record(verb="get", resource=request.path)
            raise NotFound("the server could not find the requested resource")
        if not rest:
            self.requests.record(verb="get", resource=request.path)
            doc = api_resource_list(group, version)
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return json_response(doc)
        if group == "authorization.k8s.io" and version == "v1":
            return await self._access_review(request, rest)
        target = _resolve(group, version, rest)
        return await self._resource(request, target)

    def _discovery(self, request: web.Request, *, aggregated_core: bool) -> web.Response:
        self.requests.record(verb="get", resource=request.path)
        version = discovery_version(request.headers.get("Accept"))
        if version is not None:
            return json_response(
                aggregated_discovery(core=aggregated_core, version=version),
                content_type=AGGREGATED_MEDIA.format(v=version),
            )
        if aggregated_core:
            return json_response(api_versions(f"{self.host}:{self._port}"))
        return json_response(api_group_list())

    async def _access_review(self, request: web.Request, rest: list[str]) -> web.Response:
        if rest != ["selfsubjectaccessreviews"]:
            raise NotFound("the server could not find the requested resource")
        self.requests.record(verb="create", resource="selfsubjectaccessreviews")
        if request.method != "POST":
            raise MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        spec: Any = {}
        raw = await request.read()
        try:  # kubectl sends JSON; client-go may send protobuf, which we do not parse
            parsed = msgspec.json.decode(raw)
            if isinstance(parsed, dict) and isinstance(parsed.get("spec"), dict):
                spec = parsed["spec"]
        except msgspec.DecodeError:
            pass
        return json_response(
            {
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": {"allowed": True, "reason": "the simulator authorizes every request"},
            },
            status=201,
        )

    async def _resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        verb = _verb(request, target)
        plural = target.info.plural
        self.requests.record(verb=verb, resource=plural)
        delay = self.faults.take_delay(verb=verb, resource=plural)
        if delay:
            await asyncio.sleep(delay)
        injected = self.faults.take_failure(verb=verb, resource=plural)
        if injected is not None and not (verb == "watch" and injected.code == 410):
            raise injected
        if verb in ("list", "get"):
            table_version(request.headers.get("Accept"))  # 406 early if unacceptable
        handlers = self._handlers
        if verb == "watch":
            return await handlers.watch(request, target, injected)
        if verb == "list":
            return await handlers.list(request, target)
        if verb == "get":
            return await handlers.get(request, target)
        if verb == "create":
            return await handlers.create(request, target)
        if verb == "update":
            return await handlers.update(request, target)
        if verb == "patch":
            return await handlers.patch(request, target)
        if verb == "delete":
            return await handlers.delete(request, target)
        return await handlers.delete_collection(request, target)


def _tls_hosts(host: str) -> tuple[str, ...]:
    hosts = ["127.0.0.1", "localhost", "::1"]
    if host not in hosts and host not in ("0.0.0.0", "::"):
        hosts.append(host)
    return tuple(hosts)


def _root_paths() -> list[str]:
    paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
    for group, versions in served_group_versions().items():
        if group:
            paths.append(f"/apis/{group}")
            paths.extend(f"/apis/{group}/{v}" for v in versions)
    return sorted(paths)


def _resolve(group: str, version: str, rest: list[str]) -> Target:
    """Parse `[watch/][namespaces/NS/]PLURAL[/NAME[/SUBRESOURCE]]`."""
    not_found = NotFound("the server could not find the requested resource")
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        inner = lookup(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found
    info = lookup(group, version, rest[0])
    if info is None:
        raise not_found
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and (subresource != "status" or not info.status_subresource):
        raise not_found
    if legacy_watch and subresource is not None:
        raise not_found
    if info.namespaced and name is not None and namespace is None:
        raise not_found
    return Target(
        info=info,
        namespace=namespace,
        name=name,
        subresource=subresource,
        legacy_watch=legacy_watch,
    )


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    not_allowed = MethodNotAllowed(
        "the server does not allow this method on the requested resource"
    )
    if target.legacy_watch:
        if method != "GET":
            raise not_allowed
        return "watch"
    if target.name is None:
        if method == "GET":
            return "watch" if flag(request.query, "watch") else "list"
        if method == "POST":
            if target.info.namespaced and target.namespace is None:
                raise not_allowed
            return "create"
        if method == "DELETE":
            return "deletecollection"
        raise not_allowed
    if target.subresource is not None:
        verbs = {"GET": "get", "PUT": "update", "PATCH": "patch"}
    else:
        verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method not in verbs:
        raise not_allowed
    return verbs[method]
