"""The informers: one per kind, one reflector per namespace, all feeding one DeltaSink.

`Informers` is what the composition root runs. It owns the reflectors and
decides how what they see reaches the store:

- Watched cluster-wide (the default), a kind's list is streamed into the
  sink as it arrives (`replace_begin`, an ADDED put per listed object,
  `replace_end`), and the store deletes what the list lacks. Nothing is kept
  here, not even the list being read: the store is the cache.
- Watched in a list of namespaces (installs limited to Roles), each namespace
  has its own list/watch, and each namespace's list is applied as it arrives
  (puts, plus DELETED deltas for the objects it no longer has, which needs
  the uids of that namespace: kept here, uids only). The lists are framed by
  one streamed relist of the kind (`replace_begin` before the first,
  `replace_end` once every namespace has listed), so objects deleted while
  the agent was down disappear and namespaces no longer watched are dropped,
  without holding one namespace's rows back for another. After a store
  reset (`relist()`) the frame starts over, so the kind is synced again once
  every namespace has relisted.
- Pods are linked to their Deployment through ReplicaSets (see `links`):
  the ReplicaSet informer runs first and pods start once it has synced (or
  after `link_sync_wait`, with derived names fixed up later).

Readiness: a kind is synced after its first complete list (of every watched
namespace); `synced` is True once every kind is, and `wait_synced()` waits
for it. It stays True across later relists: a relist refreshes a cache that
was already complete, as client-go's HasSynced does.

A namespace that cannot be listed (a 403 because the Role is missing there,
say) is retried with the reflector's backoff, forever, and never holds back
the other namespaces: their rows are stored and served as soon as they are
listed. But the kind is *not* synced, so not ready, while it lasts: the
agent was asked to watch that namespace and cannot answer for it, and
saying "ready" would make every answer about that kind silently partial.
The kind's sync-state error names each such namespace (`/ready` shows it),
a warning is logged when it first fails, and `namespace_status()` gives
the per-namespace picture. Stored objects of that namespace (from an
earlier run) are kept, not deleted on a guess, until it lists again.

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

from kinds import DEFAULT_KINDS, KINDS, STORED, KindSpec
from kinds.replicaset import ReplicaSetLink
from store.model import Delta, DeltaSink, EventType, Kind, PodRow, Row
from watcher.config import Connection
from watcher.links import DeploymentLinks
from watcher.reflector import Reflector
from watcher.settings import WatchSettings
from watcher.stats import WatchStats
from watcher.transport import ApiTransport

__all__ = ["Informers", "run_informers"]

log = logging.getLogger(__name__)


class _StoreFeed:
    """Delivers one stored kind's reflectors into the sink.

    Per namespace (namespace-list scope), a *round* is the time from a
    `replace_begin` to its `replace_end`: it starts with the first list after
    startup or after `restart_round()` (the store was reset), and ends once
    every namespace has listed since it started. Each namespace's list is
    applied as soon as it arrives, so one namespace that cannot be listed
    (RBAC refuses it, say) holds back nobody else's rows; only the end of the
    round, which deletes what no namespace listed and marks the kind synced,
    waits for it. Until then the kind's sync state carries an error naming
    the namespaces not listed, and stored objects of those namespaces are
    left as they were rather than deleted on a guess.
    """

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
        self._namespaces = tuple(namespaces or ())
        self._links = links
        self._known: dict[str, dict[str, str]] = {ns: {} for ns in self._namespaces}
        # The round (see the class docstring): begun in the sink or not, and who listed in it.
        self._round_due = bool(self._namespaces)
        self._round_open = False
        self._round_listed: set[str] = set()
        self._errors: dict[str, str] = {}  # namespace -> its last failure, until it recovers

    def handler(self, namespace: str | None) -> _FeedHandler:
        return _FeedHandler(self, namespace)

    def namespace_status(self) -> dict[str, str]:
        """Per watched namespace: "listed", "listing" or the failure keeping it back."""
        out: dict[str, str] = {}
        for ns in self._namespaces:
            if ns in self._errors:
                out[ns] = self._errors[ns]
            elif self._round_due or self._round_open:
                out[ns] = "listed" if ns in self._round_listed else "listing"
            else:
                out[ns] = "listed"
        return out

    def restart_round(self) -> None:
        """The store started over: the kind is synced again only when every namespace relisted.

        Synchronous (called from `Informers.relist`, itself the store's reset hook);
        the next namespace list opens the new round in the sink.
        """
        if self._namespaces:
            self._round_due = True
            self._round_open = False
            self._round_listed.clear()

    async def on_list(self, namespace: str | None, rows: list[Row], rv: str) -> None:
        if namespace is None:
            await self._replace(rows, rv)
            await self._synced(rv, len(rows))
        else:
            await self._list_namespace(namespace, rows, rv)

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
            await sink.put_many([Delta(kind, "ADDED", row) for row in rows])
            return
        async with links.lock:
            await sink.put_many(
                [Delta(kind, "ADDED", links.resolve(r)) for r in rows if isinstance(r, PodRow)]
            )

    async def list_end(self, rv: str, objects: int) -> None:
        await self._sink.replace_end(self.kind, rv)
        await self._synced(rv, objects)

    async def _synced(self, rv: str, objects: int) -> None:
        self.objects = objects
        await self._sink.sync(self.kind, resource_version=rv, synced=True, listed=True)
        self.synced.set()

    # -- per namespace --------------------------------------------------------------

    async def _list_namespace(self, namespace: str, rows: list[Row], rv: str) -> None:
        """Apply one namespace's complete list: puts, and DELETED for what it lost."""
        if self._round_due:
            # Every put from here on counts as listed for the round's final replace.
            await self._sink.replace_begin(self.kind)
            self._round_due, self._round_open = False, True
        known = self._known[namespace]
        fresh = {r.uid for r in rows}
        make = STORED[self.kind].row_type
        assert make is not None  # a stored kind has its row (tests/kinds/test_registry.py)
        # The deletions first, as one history sends them: an object created again under
        # its name is DELETED (old uid), then ADDED (new uid), never the other way round
        # (the store takes a DELETED for a uid it lost to its name's new holder as a sign
        # of another history).
        events: list[tuple[EventType, Row]] = [
            ("DELETED", make(uid=uid, namespace=namespace, name=name, resource_version=rv))
            for uid, name in known.items()
            if uid not in fresh
        ]
        events += [("MODIFIED" if row.uid in known else "ADDED", row) for row in rows]
        await self.on_events(namespace, events)
        recovered = self._errors.pop(namespace, None) is not None
        if recovered:
            log.info("%s: namespace %s listed again", self.kind, namespace)
        if not self._round_open:
            await self._sink.sync(
                self.kind, resource_version=rv, listed=True, error=self._error_text()
            )
            return
        self._round_listed.add(namespace)
        missing = [ns for ns in self._namespaces if ns not in self._round_listed]
        if missing:
            await self._sink.sync(
                self.kind, resource_version=rv, listed=True, error=self._error_text()
            )
            return
        # The round is complete: what no namespace listed is gone; the kind is synced.
        await self._sink.replace_end(self.kind, rv)
        self._round_open = False
        self._round_listed.clear()
        if self._errors:  # replace_end cleared the error; a namespace failing since says so
            await self._sink.sync(self.kind, error=self._error_text())
        self.objects = sum(len(k) for k in self._known.values())
        self.synced.set()

    def _error_text(self) -> str | None:
        """The kind's sync-state error: every failing namespace, named (None when all is well)."""
        if not self._errors:
            return None
        pending = self._round_due or self._round_open
        parts = []
        for ns in sorted(self._errors):
            state = "not listed" if pending and ns not in self._round_listed else "failing"
            parts.append(f"namespace {ns} {state}: {self._errors[ns]}")
        return "; ".join(parts)

    async def on_namespace_error(self, namespace: str, error: str) -> None:
        first = namespace not in self._errors
        self._errors[namespace] = error
        pending = (self._round_due or self._round_open) and namespace not in self._round_listed
        if first and pending:
            served = [ns for ns in self._namespaces if ns in self._round_listed]
            log.warning(
                "%s: namespace %s cannot be listed (%s); retrying with backoff. The kind is "
                "not ready until it lists; %s served meanwhile",
                self.kind,
                namespace,
                error,
                ", ".join(served) or "the other namespaces are",
            )
        await self._sink.sync(self.kind, error=self._error_text())

    async def on_namespace_bookmark(self, namespace: str, rv: str) -> None:
        self._errors.pop(namespace, None)
        await self._sink.sync(self.kind, resource_version=rv, error=self._error_text())

    async def on_event(self, namespace: str | None, type_: EventType, row: Row) -> None:
        await self.on_events(namespace, [(type_, row)])

    async def on_events(self, namespace: str | None, events: list[tuple[EventType, Row]]) -> None:
        """Events in order (a network read, or a namespace's list) in one hand-over to the sink."""
        if namespace is not None:
            known = self._known[namespace]
            for type_, row in events:
                if type_ == "DELETED":
                    known.pop(row.uid, None)
                else:
                    known[row.uid] = row.name
        kind, links = self.kind, self._links
        if links is None:
            await self._sink.put_many([Delta(kind, type_, row) for type_, row in events])
            return
        deltas = []
        async with links.lock:
            for type_, row in events:
                if isinstance(row, PodRow):
                    if type_ == "DELETED":
                        links.forget(row.uid)
                    else:
                        row = links.resolve(row)
                deltas.append(Delta(kind, type_, row))
            await self._sink.put_many(deltas)

    async def on_bookmark(self, rv: str) -> None:
        await self._sink.sync(self.kind, resource_version=rv)

    async def on_error(self, error: str) -> None:
        await self._sink.sync(self.kind, error=error)


class _FeedHandler:
    """The ReflectorHandler of one namespace (or all) of a stored kind.

    It takes lists piece by piece (a `ListStreamHandler`): cluster-wide they
    go straight into the sink; per namespace they are gathered here, because
    what a namespace's list lacks is known only once it is complete.
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

    async def on_events(self, events: list[tuple[EventType, Row]]) -> None:
        await self._feed.on_events(self._namespace, events)

    async def on_bookmark(self, resource_version: str) -> None:
        if self._namespace is None:
            await self._feed.on_bookmark(resource_version)
        else:
            await self._feed.on_namespace_bookmark(self._namespace, resource_version)

    async def on_error(self, error: str) -> None:
        if self._namespace is None:
            await self._feed.on_error(error)
        else:
            await self._feed.on_namespace_error(self._namespace, error)


class _LinkHandler:
    """The ReflectorHandler of ReplicaSets: updates the links, re-sends corrected pods."""

    def __init__(
        self,
        *,
        links: DeploymentLinks,
        sink: DeltaSink,
        namespace: str | None,
        listed: set[str | None],
        failed: set[str | None],
        scopes: int,
    ) -> None:
        self._links = links
        self._sink = sink
        self._namespace = namespace
        self._listed = listed
        self._failed = failed
        self._scopes = scopes

    def _settle(self) -> None:
        # A namespace whose ReplicaSets cannot be listed does not keep every other
        # namespace's pods waiting `link_sync_wait`: its pods fall back to derived names.
        if len(self._listed | self._failed) >= self._scopes:
            self._links.synced.set()

    async def _send(self, rows: Iterable[PodRow]) -> None:
        await self._sink.put_many([Delta(Kind.POD, "MODIFIED", row) for row in rows])

    async def on_list(self, items: list[ReplicaSetLink], resource_version: str) -> None:
        async with self._links.lock:
            await self._send(self._links.replace(items, namespace=self._namespace))
        self._listed.add(self._namespace)
        self._failed.discard(self._namespace)
        self._settle()

    async def on_event(self, type: EventType, item: ReplicaSetLink) -> None:
        async with self._links.lock:
            if type == "DELETED":
                self._links.drop(item)
            else:
                await self._send(self._links.learn(item))

    async def on_bookmark(self, resource_version: str) -> None:
        return None

    async def on_error(self, error: str) -> None:
        if self._namespace not in self._listed:
            self._failed.add(self._namespace)
            self._settle()


class Informers:
    """Every informer of the agent, feeding one DeltaSink; see the module docstring.

    `kinds`: names from `kinds.KINDS` ("pods", "deployments",
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

    def namespace_status(self) -> dict[str, dict[str, str]]:
        """Per namespaced kind, per watched namespace: "listed", "listing" or its failure.

        Empty when watching all namespaces. The same failures are in the
        kind's sync-state error, which is what /ready shows.
        """
        return {name: st for name, f in self.feeds.items() if (st := f.namespace_status())}

    async def wait_synced(self) -> None:
        for feed in self.feeds.values():
            await feed.synced.wait()

    def relist(self) -> None:
        """Make every informer list again, e.g. after the store started over empty.

        Synchronous, so it can be given to `writer.on_reset` directly.
        """
        log.info("relisting every kind")
        for feed in self.feeds.values():
            feed.restart_round()
        for reflector in self.reflectors:
            reflector.request_relist()

    def history_changed(self, kind: Kind, error: str) -> None:
        """The store saw events of another history for `kind`: relist and replace every kind.

        Given to `writer.on_history_changed`. The store already made `kind`
        stale. The API server's history changed for every kind at once, so
        every informer relists (reason `history-reset`), each stale until it
        has; a second sign before those lists are done adds nothing.
        """
        if all(r.relisting_for == "history-reset" for r in self.reflectors):
            return
        log.warning("%s", error)
        # No new round in namespace-list scope: each namespace's list replaces that
        # namespace (DELETED for the uids it lacks); its error says so until then.
        for reflector in self.reflectors:
            reflector.request_relist(
                reason="history-reset",
                error=f"the API server's history changed under the watch (seen in "
                f"{kind.value} events); relisting",
            )

    # -- running ------------------------------------------------------------------------

    def _scopes(self, spec: KindSpec[object]) -> list[str | None]:
        if spec.resource.namespaced and self.namespaces:
            return list(self.namespaces)
        return [None]

    def _reflector(
        self, spec: KindSpec[object], namespace: str | None, handler: object, *, selector: bool
    ) -> Reflector[object]:
        reflector: Reflector[object] = Reflector(
            spec=spec.configured(reveal_env_values=self.settings.reveal_env_values),
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
                failed: set[str | None] = set()
                for ns in scopes:
                    handler = _LinkHandler(
                        links=self._links,
                        sink=self._sink,
                        namespace=ns,
                        listed=listed,
                        failed=failed,
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
