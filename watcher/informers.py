"""The informers: one per kind, one reflector per namespace, all feeding one DeltaSink.

`Informers` is what the composition root runs. It owns the reflectors and
decides how what they see reaches the store:

- Watched cluster-wide (the default), a kind's list is streamed into the
  sink as it arrives (`replace_begin`, an ADDED put per listed object,
  `replace_end`), and the store deletes what the list lacks. Nothing is kept
  here, not even the list being read: the store is the cache.
- Watched in a list of namespaces (installs limited to Roles), each namespace
  has its own list/watch. The first lists of all namespaces are joined into
  one `replace` (so objects deleted while the agent was down disappear, and
  namespaces no longer watched are dropped); after that, a namespace's relist
  is applied as puts plus DELETED deltas for the objects it no longer has,
  which needs the uids of that namespace (kept here; uids only).
- Pods are linked to their Deployment through ReplicaSets (see `links`):
  the ReplicaSet informer runs first and pods start once it has synced (or
  after `link_sync_wait`, with derived names fixed up later).

Readiness: a kind is synced after its first complete list (of every watched
namespace); `synced` is True once every kind is, and `wait_synced()` waits
for it. It stays True across later relists: a relist refreshes a cache that
was already complete, as client-go's HasSynced does.

A failure of the sink (the store) is not the watcher's to hide: it propagates
out of `run()` and ends the informers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence

import anyio
from kubernetes_asyncio.client import ApiClient

from store.model import ROW_TYPES, Delta, DeltaSink, EventType, Kind, PodRow, Row
from watcher.config import Connection
from watcher.kinds import DEFAULT_KINDS, KINDS, KindSpec
from watcher.kinds.replicasets import ReplicaSetLink
from watcher.links import DeploymentLinks
from watcher.reflector import Reflector
from watcher.settings import WatchSettings
from watcher.stats import WatchStats
from watcher.transport import ApiTransport

__all__ = ["Informers", "run_informers"]

log = logging.getLogger(__name__)


class _StoreFeed:
    """Delivers one stored kind's reflectors into the sink."""

    def __init__(
        self,
        *,
        kind: Kind,
        sink: DeltaSink,
        namespaces: Sequence[str] | None,
        links: DeploymentLinks | None,
    ) -> None:
        self.kind = kind
        self.synced = anyio.Event()
        self.objects = 0
        self._sink = sink
        self._namespaces = namespaces
        self._links = links
        self._first: dict[str, tuple[list[Row], str]] = {}
        self._joined = anyio.Event()
        self._known: dict[str, dict[str, str]] = {ns: {} for ns in namespaces or ()}

    def handler(self, namespace: str | None) -> _FeedHandler:
        return _FeedHandler(self, namespace)

    async def on_list(self, namespace: str | None, rows: list[Row], rv: str) -> None:
        if namespace is None:
            await self._replace(rows, rv)
            await self._synced(rv, len(rows))
        elif not self._joined.is_set():
            await self._join_first_lists(namespace, rows, rv)
        else:
            await self._relist_namespace(namespace, rows, rv)

    async def _replace(self, rows: list[Row], rv: str) -> None:
        if self._links is None:
            await self._sink.replace(self.kind, rows, rv)
            return
        async with self._links.lock:
            self._links.forget_pending()
            resolved: list[Row] = [self._links.resolve(r) for r in rows if isinstance(r, PodRow)]
            await self._sink.replace(self.kind, resolved, rv)

    # -- a streamed relist (cluster-wide scope only) --------------------------------

    async def list_begin(self) -> None:
        if self._links is not None:
            async with self._links.lock:
                self._links.forget_pending()
        await self._sink.replace_begin(self.kind)

    async def list_items(self, rows: list[Row]) -> None:
        links, sink, kind = self._links, self._sink, self.kind
        if links is None:
            for row in rows:
                await sink.put(Delta(kind, "ADDED", row))
            return
        async with links.lock:
            for row in rows:
                if isinstance(row, PodRow):
                    await sink.put(Delta(kind, "ADDED", links.resolve(row)))

    async def list_end(self, rv: str, objects: int) -> None:
        await self._sink.replace_end(self.kind, rv)
        await self._synced(rv, objects)

    async def _synced(self, rv: str, objects: int) -> None:
        self.objects = objects
        await self._sink.sync(self.kind, resource_version=rv, synced=True, listed=True)
        self.synced.set()

    async def _join_first_lists(self, namespace: str, rows: list[Row], rv: str) -> None:
        self._first[namespace] = (rows, rv)
        if len(self._first) < len(self._namespaces or ()):
            await self._joined.wait()
            return
        union: list[Row] = []
        for ns, (ns_rows, _) in self._first.items():
            union.extend(ns_rows)
            self._known[ns] = {r.uid: r.name for r in ns_rows}
        self._first.clear()
        await self._replace(union, rv)
        await self._synced(rv, len(union))
        self._joined.set()

    async def _relist_namespace(self, namespace: str, rows: list[Row], rv: str) -> None:
        known = self._known[namespace]
        fresh = {r.uid for r in rows}
        for row in rows:
            await self._put_one(namespace, "MODIFIED" if row.uid in known else "ADDED", row)
        for uid, name in list(known.items()):
            if uid not in fresh:
                gone = ROW_TYPES[self.kind](
                    uid=uid, namespace=namespace, name=name, resource_version=rv
                )
                await self._put_one(namespace, "DELETED", gone)
        await self._sink.sync(self.kind, resource_version=rv, listed=True)

    async def on_event(self, namespace: str | None, type_: EventType, row: Row) -> None:
        if namespace is None:
            await self._put(type_, row)
        else:
            await self._put_one(namespace, type_, row)

    async def _put_one(self, namespace: str, type_: EventType, row: Row) -> None:
        known = self._known[namespace]
        if type_ == "DELETED":
            known.pop(row.uid, None)
        else:
            known[row.uid] = row.name
        await self._put(type_, row)

    async def _put(self, type_: EventType, row: Row) -> None:
        links = self._links
        if links is None or not isinstance(row, PodRow):
            await self._sink.put(Delta(self.kind, type_, row))
            return
        async with links.lock:
            if type_ == "DELETED":
                links.forget(row.uid)
            else:
                row = links.resolve(row)
            await self._sink.put(Delta(self.kind, type_, row))

    async def on_bookmark(self, rv: str) -> None:
        await self._sink.sync(self.kind, resource_version=rv)

    async def on_error(self, error: str) -> None:
        await self._sink.sync(self.kind, error=error)


class _FeedHandler:
    """The ReflectorHandler of one namespace (or all) of a stored kind.

    It takes lists piece by piece (a `ListStreamHandler`): cluster-wide they
    go straight into the sink; per namespace they are gathered here, because
    the first lists of all namespaces are joined into one replace.
    """

    def __init__(self, feed: _StoreFeed, namespace: str | None) -> None:
        self._feed = feed
        self._namespace = namespace
        self._gathered: list[Row] = []

    async def on_list_begin(self) -> None:
        if self._namespace is None:
            await self._feed.list_begin()
        else:
            self._gathered = []

    async def on_list_items(self, items: list[Row]) -> None:
        if self._namespace is None:
            await self._feed.list_items(items)
        else:
            self._gathered.extend(items)

    async def on_list_end(self, resource_version: str, count: int) -> None:
        if self._namespace is None:
            await self._feed.list_end(resource_version, count)
        else:
            rows, self._gathered = self._gathered, []
            await self._feed.on_list(self._namespace, rows, resource_version)

    async def on_list(self, items: list[Row], resource_version: str) -> None:
        await self._feed.on_list(self._namespace, items, resource_version)

    async def on_event(self, type: EventType, item: Row) -> None:
        await self._feed.on_event(self._namespace, type, item)

    async def on_bookmark(self, resource_version: str) -> None:
        await self._feed.on_bookmark(resource_version)

    async def on_error(self, error: str) -> None:
        await self._feed.on_error(error)


class _LinkHandler:
    """The ReflectorHandler of ReplicaSets: updates the links, re-sends corrected pods."""

    def __init__(
        self,
        *,
        links: DeploymentLinks,
        sink: DeltaSink,
        namespace: str | None,
        listed: set[str | None],
        scopes: int,
    ) -> None:
        self._links = links
        self._sink = sink
        self._namespace = namespace
        self._listed = listed
        self._scopes = scopes

    async def _send(self, rows: Iterable[PodRow]) -> None:
        for row in rows:
            await self._sink.put(Delta(Kind.POD, "MODIFIED", row))

    async def on_list(self, items: list[ReplicaSetLink], resource_version: str) -> None:
        async with self._links.lock:
            await self._send(self._links.replace(items, namespace=self._namespace))
        self._listed.add(self._namespace)
        if len(self._listed) >= self._scopes:
            self._links.synced.set()

    async def on_event(self, type: EventType, item: ReplicaSetLink) -> None:
        async with self._links.lock:
            if type == "DELETED":
                self._links.drop(item)
            else:
                await self._send(self._links.learn(item))

    async def on_bookmark(self, resource_version: str) -> None:
        return None

    async def on_error(self, error: str) -> None:
        return None


class Informers:
    """Every informer of the agent, feeding one DeltaSink; see the module docstring.

    `kinds`: names from `watcher.kinds.KINDS` ("pods", "deployments",
    "nodes"); ReplicaSets are added for pod -> deployment links when "pods" is
    watched and `link_deployments` is on. `namespaces`: None (or empty) for
    all namespaces, else one list/watch per namespace (nodes stay cluster-wide).
    `label_selector` applies to namespaced stored kinds (pods, deployments),
    not to nodes nor to the ReplicaSets used for linking.
    """

    def __init__(
        self,
        api: ApiClient | Connection,
        sink: DeltaSink,
        *,
        kinds: Sequence[str] = DEFAULT_KINDS,
        namespaces: Sequence[str] | None = None,
        label_selector: str | None = None,
        settings: WatchSettings | None = None,
        link_deployments: bool = True,
        stats: WatchStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        unknown = [k for k in kinds if k not in KINDS or KINDS[k].store_kind is None]
        if unknown:
            stored = sorted(k for k, s in KINDS.items() if s.store_kind is not None)
            raise ValueError(f"unknown kinds {unknown}; choose from {stored}")
        client = api.api if isinstance(api, Connection) else api
        self.settings = settings or WatchSettings()
        self.stats = stats or WatchStats()
        self.namespaces: tuple[str, ...] | None = tuple(dict.fromkeys(namespaces or ())) or None
        self._kinds = tuple(dict.fromkeys(kinds))
        self._selector = label_selector or None
        self._sink = sink
        self._rng = rng or random.Random()
        self._transport = ApiTransport(client, connect_timeout=self.settings.connect_timeout)
        self._links = (
            DeploymentLinks(pending_limit=self.settings.pending_link_limit, stats=self.stats)
            if link_deployments and "pods" in self._kinds
            else None
        )
        self.feeds: dict[str, _StoreFeed] = {}
        for name in self._kinds:
            spec = KINDS[name]
            assert spec.store_kind is not None
            self.feeds[name] = _StoreFeed(
                kind=spec.store_kind,
                sink=sink,
                namespaces=self.namespaces if spec.resource.namespaced else None,
                links=self._links if name == "pods" else None,
            )
        self.reflectors: list[Reflector[object]] = []

    # -- readiness --------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once every kind has completed its first list (what /ready reports)."""
        return all(f.synced.is_set() for f in self.feeds.values())

    def sync_status(self) -> dict[str, bool]:
        return {name: f.synced.is_set() for name, f in self.feeds.items()}

    async def wait_synced(self) -> None:
        for feed in self.feeds.values():
            await feed.synced.wait()

    def relist(self) -> None:
        """Make every informer list again, e.g. after the store started over empty.

        Synchronous, so it can be given to `writer.on_reset` directly.
        """
        log.info("relisting every kind")
        for reflector in self.reflectors:
            reflector.request_relist()

    # -- running ------------------------------------------------------------------------

    def _scopes(self, spec: KindSpec[object]) -> list[str | None]:
        if spec.resource.namespaced and self.namespaces:
            return list(self.namespaces)
        return [None]

    def _reflector(
        self, spec: KindSpec[object], namespace: str | None, handler: object, *, selector: bool
    ) -> Reflector[object]:
        reflector: Reflector[object] = Reflector(
            spec=spec,
            transport=self._transport,
            handler=handler,  # type: ignore[arg-type]
            settings=self.settings,
            stats=self.stats,
            namespace=namespace,
            label_selector=self._selector if selector else None,
            rng=random.Random(self._rng.random()),
        )
        self.reflectors.append(reflector)
        return reflector

    async def run(self) -> None:
        """Run every informer until cancelled."""
        started = time.monotonic()
        scope = ", ".join(self.namespaces) if self.namespaces else "all namespaces"
        log.info("informers starting: %s in %s", ", ".join(self._kinds), scope)
        async with anyio.create_task_group() as tg:
            if self._links is not None:
                spec = KINDS["replicasets"]
                scopes = self._scopes(spec)
                listed: set[str | None] = set()
                for ns in scopes:
                    handler = _LinkHandler(
                        links=self._links,
                        sink=self._sink,
                        namespace=ns,
                        listed=listed,
                        scopes=len(scopes),
                    )
                    tg.start_soon(self._reflector(spec, ns, handler, selector=False).run)
            for name, feed in self.feeds.items():
                spec = KINDS[name]
                for ns in self._scopes(spec):
                    reflector = self._reflector(
                        spec, ns, feed.handler(ns), selector=spec.resource.namespaced
                    )
                    if name == "pods" and self._links is not None:
                        tg.start_soon(self._run_after_links, reflector)
                    else:
                        tg.start_soon(reflector.run)
            await self.wait_synced()
            counts = ", ".join(f"{n}={f.objects}" for n, f in self.feeds.items())
            log.info("informers synced in %.1f s: %s", time.monotonic() - started, counts)

    async def _run_after_links(self, reflector: Reflector[object]) -> None:
        assert self._links is not None
        with anyio.move_on_after(self.settings.link_sync_wait):
            await self._links.synced.wait()
        if not self._links.synced.is_set():
            log.warning(
                "replicasets not synced after %.0f s; pods start with deployments derived "
                "from pod-template-hash, corrected as ReplicaSets arrive",
                self.settings.link_sync_wait,
            )
        await reflector.run()


async def run_informers(
    api: ApiClient | Connection,
    sink: DeltaSink,
    *,
    kinds: Sequence[str] = DEFAULT_KINDS,
    namespaces: Sequence[str] | None = None,
    label_selector: str | None = None,
    settings: WatchSettings | None = None,
) -> None:
    """Run the informers until cancelled (for callers that need no handle on them)."""
    informers = Informers(
        api,
        sink,
        kinds=kinds,
        namespaces=namespaces,
        label_selector=label_selector,
        settings=settings,
    )
    await informers.run()
