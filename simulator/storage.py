"""The simulated cluster's object store: one global resourceVersion, encode once.

Every committed change gets the next value of a single, monotonically
increasing resourceVersion, exactly like etcd's revision behind a real API
server; clients compare them, resume watches from them and page lists at
them, so the rules must hold across kinds.

Each object version is encoded to JSON bytes once, when it is written, and
only those bytes are kept (plus a tiny index of labels and selectable
fields). A LIST concatenates stored bytes and a watch event wraps them, so a
100k-pod list costs a join, not 100k encodes, and memory stays near the
size of the JSON rather than of Python dicts. Reads that hand out a dict
decode a fresh copy, which is also the deep copy callers may mutate.

A bounded window of past events serves watch replay and lists at an older
resourceVersion (by rolling the current state back through the window);
anything older than the window is gone, and callers get 410 `Expired`, as
they would after an etcd compaction.

`reset_history` is the other way history goes away: the store is restored
or replaced under the same names, its resourceVersion counter starts again
lower, and its objects are new objects (new uids). Clients that resume from
the old resourceVersion must notice and relist (see `Faults` for what the
server then answers them).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import builtins
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias

import msgspec

from .errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    not_found,
    precondition_failed,
    qualified,
)
from .errors import object_details as _details
from .resources import RESOURCES, ResourceInfo
from .selectors import field_values
from .virtual_clock import format_time

__all__ = [
    "Entry",
    "Event",
    "EventType",
    "Key",
    "ObjectStore",
    "Page",
    "decode_continue",
    "encode_continue",
]

EventType: TypeAlias = Literal["ADDED", "MODIFIED", "DELETED"]
Key: TypeAlias = tuple[str, str]  # (namespace or "", name)
Listener: TypeAlias = Callable[[str, str, dict[str, Any]], None]
EventListener: TypeAlias = Callable[["Event"], None]

_encode = msgspec.json.encode
_decode = msgspec.json.decode
# Sorts after every real name in a namespace: namespaces cannot hold "\0".
_NS_END = "\x00"
# A pod's grace period when neither the DELETE nor its spec gives one (the API default).
_DEFAULT_POD_GRACE = 30


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Entry:
    """One stored object version: its bytes and what selectors look at."""

    __slots__ = ("fields", "key", "labels", "raw", "rv")

    def __init__(
        self, *, key: Key, raw: bytes, rv: int, labels: dict[str, str], fields: dict[str, str]
    ) -> None:
        self.key = key
        self.raw = raw
        self.rv = rv
        self.labels = labels
        self.fields = fields

    def decode(self) -> dict[str, Any]:
        """A fresh dict of this version (a deep copy: safe to mutate)."""
        obj: dict[str, Any] = _decode(self.raw)
        return obj


class Event:
    """One committed change, kept in the replay window and fanned out to watchers.

    `prev` is the version before the change (None for ADDED); watchers with
    selectors need it to turn "stopped matching" into DELETED, and lists at an
    older resourceVersion need it to roll back.
    """

    __slots__ = ("_line", "_obj", "entry", "key", "prev", "resource", "rv", "type")

    def __init__(
        self,
        *,
        type: EventType,
        resource: str,
        entry: Entry,
        prev: Entry | None,
        obj: dict[str, Any] | None = None,
    ) -> None:
        self.type = type
        self.resource = resource
        self.entry = entry
        self.prev = prev
        self.key = entry.key
        self.rv = entry.rv
        self._line: bytes | None = None
        self._obj = obj

    @property
    def line(self) -> bytes:
        """The watch-stream line for this event, built once for every watcher."""
        if self._line is None:
            self._line = b'{"type":"%s","object":%s}\n' % (self.type.encode(), self.entry.raw)
        return self._line

    @property
    def obj(self) -> dict[str, Any]:
        """The object after the change, decoded once and shared: do not mutate."""
        if self._obj is None:
            self._obj = self.entry.decode()
        return self._obj


@dataclass(frozen=True, slots=True)
class Page:
    """One chunk of a LIST: the entries, the list's RV and where to continue."""

    entries: list[Entry]
    rv: int
    last_key: Key | None  # set when more items may follow
    remaining: int | None  # remainingItemCount, when it is known exactly


def encode_continue(*, rv: int, key: Key) -> str:
    """An opaque continue token holding the list's RV and the last key served."""
    start = f"{key[0]}/{key[1]}" if key[0] else key[1]
    payload = _encode({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    """Undo `encode_continue`; a token we did not make is a 400, not a crash."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = _decode(base64.urlsafe_b64decode(padded.encode()))
        rv = int(data["rv"])
        start = str(data["start"]).rstrip("\x00")
    except (binascii.Error, msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"continue key is not valid: {exc}") from exc
    ns, _, name = start.rpartition("/")
    return rv, (ns, name)


class ObjectStore:
    """Objects of every served kind, their history window, and change listeners."""

    def __init__(
        self, *, window: int = 10_000, clock: Callable[[], datetime] | None = None
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1 event, got {window}")
        self._clock = clock or _utcnow
        self._rv = 0
        self._objects: dict[str, dict[Key, Entry]] = {plural: {} for plural in RESOURCES}
        self._keys: dict[str, list[Key]] = {plural: [] for plural in RESOURCES}
        self._window: deque[Event] = deque(maxlen=window)
        # Every event with rv > _window_start is in the window; an RV below it
        # can no longer be replayed or listed at.
        self._window_start = 0
        # (what the caller added, what is called): the first is what removal matches.
        self._listeners: list[tuple[object, EventListener]] = []
        self._stamp_second = -1
        self._stamp = ""

    # -- the interface the scenario engine and tests use ----------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def window_start(self) -> int:
        """The oldest resourceVersion a watch may still resume from."""
        return self._window_start

    def add_listener(self, fn: Listener) -> None:
        """Call `fn(event_type, resource, obj)` after every committed change.

        Called synchronously, in commit order; `obj` is shared between
        listeners and must not be mutated.
        """
        self._listeners.append((fn, lambda ev: fn(ev.type, ev.resource, ev.obj)))

    def add_event_listener(self, fn: EventListener) -> None:
        """Like `add_listener`, with the raw `Event` (bytes, previous version)."""
        self._listeners.append((fn, fn))

    def remove_listener(self, fn: Listener | EventListener) -> None:
        """Stop calling `fn`, added by either method; ValueError if it is not listening.

        Whoever attaches to a store that outlives it (a server stopped while
        its store is kept) must detach, or the store keeps calling it.
        """
        for index, (added, _) in enumerate(self._listeners):
            if added == fn:  # bound methods are equal, not identical, each time
                del self._listeners[index]
                return
        raise ValueError(f"{fn!r} is not listening to this store")

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; AlreadyExists if the name is taken.

        uid, resourceVersion and generation are assigned here. A
        creationTimestamp given by the caller is kept (the scenario engine may
        seed an old cluster); the HTTP layer strips it as the API server does.
        The returned object shares nested values with `obj`: treat both as
        frozen (the stored truth is the encoded bytes; `get` gives copies).
        """
        info = self._info(resource)
        meta = dict(obj.get("metadata") or {})
        key = self._key_for(info, meta)
        table = self._objects[resource]
        if key in table:
            raise AlreadyExists(
                f'{qualified(info.plural, info.group)} "{key[1]}" already exists',
                details=_details(resource=resource, name=key[1], group=info.group),
            )
        new = _typed(info, obj)
        meta["name"] = key[1]
        if info.namespaced:
            meta["namespace"] = key[0]
        meta.setdefault("uid", str(uuid.uuid4()))
        if "creationTimestamp" not in meta:
            meta["creationTimestamp"] = self._now()
        meta.pop("deletionTimestamp", None)
        meta.pop("deletionGracePeriodSeconds", None)
        if info.has_generation:
            meta["generation"] = 1
        new["metadata"] = meta
        _apply_defaults(info, new)
        entry = self._commit(info, key, new)
        table[key] = entry
        bisect.insort(self._keys[resource], key)
        self._record(Event(type="ADDED", resource=resource, entry=entry, prev=None, obj=new))
        return new

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        entry = self.get_entry(resource, namespace, name)
        return None if entry is None else entry.decode()

    def update(
        self, resource: str, obj: dict[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        """Replace an object (or its status); Conflict on a stale resourceVersion.

        An update that changes nothing is not a change: no new
        resourceVersion, no event, as on a real cluster. An object whose
        deletion is due (deletionTimestamp set, grace period 0) is deleted by
        the update that leaves it without finalizers.
        """
        info = self._info(resource)
        if subresource not in (None, "status"):
            raise NotFound(f"{resource} has no subresource {subresource!r}")
        meta_in = obj.get("metadata") or {}
        key = self._key_for(info, dict(meta_in))
        current = self._objects[resource].get(key)
        if current is None:
            raise not_found(resource=resource, name=key[1], group=info.group)
        wanted_rv = meta_in.get("resourceVersion")
        if wanted_rv not in (None, "") and str(wanted_rv) != str(current.rv):
            what = qualified(info.plural, info.group)
            raise Conflict(
                f'Operation cannot be fulfilled on {what} "{key[1]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                details=_details(resource=resource, name=key[1], group=info.group),
            )
        old = current.decode()
        old_meta = old["metadata"]
        wanted_uid = meta_in.get("uid")
        if wanted_uid not in (None, "") and wanted_uid != old_meta.get("uid"):
            raise precondition_failed(
                field="UID",
                wanted=wanted_uid,
                actual=old_meta.get("uid"),
                resource=resource,
                name=key[1],
                group=info.group,
            )
        if subresource == "status":
            new = {k: v for k, v in old.items() if k != "status"}
            if obj.get("status") is not None:
                new["status"] = obj["status"]
            new["metadata"] = dict(old_meta)
        else:
            new = _typed(info, obj)
            if info.status_subresource:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            meta = dict(meta_in)
            for immutable in ("uid", "creationTimestamp", "name", "namespace"):
                if immutable in old_meta:
                    meta[immutable] = old_meta[immutable]
                else:
                    meta.pop(immutable, None)
            for kept in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if kept in old_meta:
                    meta[kept] = old_meta[kept]
                else:
                    meta.pop(kept, None)
            if "managedFields" not in meta and "managedFields" in old_meta:
                meta["managedFields"] = old_meta["managedFields"]
            if info.has_generation:
                generation = int(old_meta.get("generation", 1))
                meta["generation"] = generation + (new.get("spec") != old.get("spec"))
            new["metadata"] = meta
        new["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        if new == old:
            return old
        if (
            old_meta.get("deletionTimestamp")
            and not old_meta.get("deletionGracePeriodSeconds")
            and not new["metadata"].get("finalizers")
        ):
            # Nothing holds an object whose deletion is due any more: delete it.
            # The DELETED event carries the last stored version, as etcd's
            # delete does; the caller gets what it sent, as the API answers.
            self._remove(info, key, old)
            return new
        self._modify(info, key, new, prev=current)
        return new

    def delete(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        *,
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any] | None:
        """Delete an object as the API server does; its state after the call, None when absent.

        Pods are deleted gracefully, by the pod strategy's rules: a pod bound
        to a node and not finished gets deletionTimestamp = now + grace and
        deletionGracePeriodSeconds = grace (MODIFIED, Terminating) and stays
        until a delete with grace 0 (the kubelet's, once its containers
        stopped) removes it. `grace_period_seconds=None` means the pod's
        spec.terminationGracePeriodSeconds (30 when absent); an unbound or
        finished pod goes at once whatever the grace; a later delete may only
        shorten a pending grace period. Other kinds have no grace period.

        An object with finalizers is only marked (MODIFIED) until an update
        removes the last finalizer, as on a real cluster.

        One simplification: a real API server writes a pod's final grace-0
        mark as a revision of its own (a MODIFIED) just before the removal;
        here the removal is a single DELETED whose object carries that mark.
        """
        info = self._info(resource)
        key = (namespace or "", name) if info.namespaced else ("", name)
        current = self._objects[resource].get(key)
        if current is None:
            return None
        obj = current.decode()
        meta = obj["metadata"]
        if info.kind == "Pod":
            changed = _mark_pod_deleted(obj, grace_period_seconds, now=self._clock())
        elif meta.get("finalizers") and not meta.get("deletionTimestamp"):
            _mark_deleted(meta, moment=self._now(), grace=0)
            changed = True
        else:
            changed = False
        if not meta.get("deletionGracePeriodSeconds") and not meta.get("finalizers"):
            return self._remove(info, key, obj)
        if changed:
            self._modify(info, key, obj, prev=current)
        return obj

    def list(self, resource: str, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every object of `resource` (in `namespace`), decoded, by (namespace, name)."""
        self._info(resource)
        table = self._objects[resource]
        return [table[key].decode() for key in self._key_range(resource, namespace)]

    def compact(self) -> None:
        """Forget the replay window: every older resourceVersion now answers 410."""
        self._window.clear()
        self._window_start = self._rv

    def check_reset_history(self, *, start: int = 0) -> None:
        """ValueError unless `reset_history(start=start)` would lower the resourceVersion.

        A store whose objects never changed ends where it was (one version
        per object); no client could tell such a reset from no reset.
        """
        total = sum(len(table) for table in self._objects.values())
        if start < 0 or start + total >= self._rv:
            raise ValueError(
                f"a history reset must lower the resourceVersion: {total} objects from "
                f"{start} end at {start + total}, not below the current {self._rv}"
            )

    def reset_history(self, *, start: int = 0) -> None:
        """Start the resourceVersion counter again at `start`, every object a new one.

        What clients see after an etcd restore or a new control plane behind
        the same address: the same names, new uids (ownerReferences follow
        them), resourceVersions numbered from `start` (in key order, kind by
        kind), and no history before. Namespaces keep their uids, so the
        cluster's identity (the kube-system namespace's uid) survives, as it
        does an etcd restore; the workloads in it are new objects.

        Listeners are told of each object as a MODIFIED event (the scenario's
        controllers must follow the new uids). Open watches would receive
        those events too: reset while the server is down, as
        `Simulator.restart(history_reset=True)` does. ValueError, changing
        nothing, when the new counter would not end below the current one.
        """
        self.check_reset_history(start=start)
        uids: dict[str, str] = {}
        for resource, table in self._objects.items():
            if resource == "namespaces":
                continue
            for entry in table.values():
                old = entry.decode()["metadata"].get("uid")
                if old:
                    uids[old] = str(uuid.uuid4())
        self._window.clear()
        self._rv = start
        for resource, table in self._objects.items():
            info = RESOURCES[resource]
            for key in self._keys[resource]:
                prev = table[key]
                obj = prev.decode()
                meta = obj["metadata"]
                meta["uid"] = uids.get(meta.get("uid", ""), meta.get("uid"))
                for ref in meta.get("ownerReferences") or ():
                    if ref.get("uid") in uids:
                        ref["uid"] = uids[ref["uid"]]
                entry = self._commit(info, key, obj)
                table[key] = entry
                event = Event(type="MODIFIED", resource=resource, entry=entry, prev=prev, obj=obj)
                for _, listener in list(self._listeners):
                    listener(event)
        self._window_start = self._rv

    # -- what the HTTP layer needs beyond that ---------------------------------

    def get_entry(self, resource: str, namespace: str | None, name: str) -> Entry | None:
        info = self._info(resource)
        key = (namespace or "", name) if info.namespaced else ("", name)
        return self._objects[resource].get(key)

    def count(self, resource: str) -> int:
        return len(self._objects[self._info(resource).plural])

    def entries(self, resource: str, namespace: str | None = None) -> Iterator[Entry]:
        """Current entries in key order (no copies: read-only use)."""
        table = self._objects[resource]
        for key in self._key_range(resource, namespace):
            yield table[key]

    def events_since(self, rv: int) -> builtins.list[Event]:
        """The window's events after `rv`, oldest first; Expired if `rv` is too old."""
        if rv < self._window_start:
            raise Expired(f"too old resource version: {rv} ({self._window_start})")
        if rv >= self._rv:
            return []
        out: builtins.list[Event] = []
        for event in reversed(self._window):
            if event.rv <= rv:
                break
            out.append(event)
        out.reverse()
        return out

    def page(
        self,
        resource: str,
        *,
        namespace: str | None,
        at_rv: int | None = None,
        after: Key | None = None,
        limit: int | None = None,
        predicate: Callable[[Entry], bool] | None = None,
    ) -> Page:
        """One LIST chunk at `at_rv` (default: now), starting after key `after`.

        An older `at_rv` is served by rolling the current state back through
        the window, so every chunk of a paginated list shows the same
        snapshot; Expired when the window no longer reaches back that far.
        """
        self._info(resource)
        if limit is not None and limit <= 0:
            limit = None
        rv = self._rv if at_rv is None else at_rv
        overlay: dict[Key, Entry | None] = {}
        if rv < self._rv:
            if rv < self._window_start:
                raise Expired(
                    f"The resourceVersion for the provided list is too old: {rv} "
                    f"(oldest kept: {self._window_start})."
                )
            for event in reversed(self._window):
                if event.rv <= rv:
                    break
                if event.resource == resource:
                    overlay[event.key] = event.prev
        table = self._objects[resource]
        keys = self._keys[resource]
        lo, hi = self._bounds(resource, namespace)
        start = lo if after is None else max(lo, bisect.bisect_right(keys, after))
        if not overlay and predicate is None:
            # The common case (a current list without selectors) is a slice.
            stop = hi if limit is None else min(hi, start + limit)
            chunk = [table[key] for key in keys[start:stop]]
            more = stop < hi
            return Page(
                entries=chunk,
                rv=rv,
                last_key=keys[stop - 1] if more else None,
                remaining=hi - stop if more else None,
            )
        # Keys that existed at `rv` but are gone now walk beside the live keys.
        gone = sorted(
            k
            for k, e in overlay.items()
            if e is not None
            and k not in table
            and _in_range(k, namespace)
            and (after is None or k > after)
        )
        out: builtins.list[Entry] = []
        last: Key | None = None
        more = False
        for key in _merge(keys, start, hi, gone):
            entry = overlay[key] if key in overlay else table[key]
            if entry is None or (predicate is not None and not predicate(entry)):
                continue
            if limit is not None and len(out) >= limit:
                more = True
                break
            out.append(entry)
            last = key
        remaining: int | None = None
        if more and predicate is None and last is not None:
            remaining = self._remaining_after(last, hi, keys, overlay, gone, table)
        return Page(entries=out, rv=rv, last_key=last if more else None, remaining=remaining)

    # -- internals --------------------------------------------------------------

    def _now(self) -> str:
        """The clock as a metav1.Time string, formatted once per second of clock time."""
        moment = self._clock()
        second = int(moment.timestamp())
        if second != self._stamp_second:
            self._stamp_second, self._stamp = second, format_time(moment)
        return self._stamp

    def _info(self, resource: str) -> ResourceInfo:
        info = RESOURCES.get(resource)
        if info is None:
            raise NotFound(
                f"the server could not find the requested resource ({resource!r} is not served)"
            )
        return info

    def _key_for(self, info: ResourceInfo, meta: dict[str, Any]) -> Key:
        name = meta.get("name")
        if not name:
            raise Invalid(
                f"{info.kind} is invalid: metadata.name: Required value: name or generateName "
                "is required",
                details={"kind": info.plural, "causes": [{"field": "metadata.name"}]},
            )
        if not info.namespaced:
            meta.pop("namespace", None)
            return ("", str(name))
        namespace = meta.get("namespace")
        if not namespace:
            raise Invalid(
                f"{info.kind} is invalid: metadata.namespace: Required value",
                details={"kind": info.plural, "causes": [{"field": "metadata.namespace"}]},
            )
        return (str(namespace), str(name))

    def _commit(self, info: ResourceInfo, key: Key, obj: dict[str, Any]) -> Entry:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        labels = obj["metadata"].get("labels") or {}
        return Entry(
            key=key,
            raw=_encode(obj),
            rv=self._rv,
            labels=dict(labels),
            fields=field_values(info, obj),
        )

    def _modify(self, info: ResourceInfo, key: Key, obj: dict[str, Any], *, prev: Entry) -> None:
        entry = self._commit(info, key, obj)
        self._objects[info.plural][key] = entry
        self._record(Event(type="MODIFIED", resource=info.plural, entry=entry, prev=prev, obj=obj))

    def _remove(self, info: ResourceInfo, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        prev = self._objects[info.plural].pop(key)
        keys = self._keys[info.plural]
        del keys[bisect.bisect_left(keys, key)]
        entry = self._commit(info, key, obj)
        stored = entry.decode()
        self._record(
            Event(type="DELETED", resource=info.plural, entry=entry, prev=prev, obj=stored)
        )
        return stored

    def _record(self, event: Event) -> None:
        window = self._window
        if window.maxlen is not None and len(window) == window.maxlen:
            self._window_start = window[0].rv
        window.append(event)
        for _, listener in list(self._listeners):
            listener(event)

    def _bounds(self, resource: str, namespace: str | None) -> tuple[int, int]:
        keys = self._keys[resource]
        if namespace is None:
            return 0, len(keys)
        lo = bisect.bisect_left(keys, (namespace,))
        hi = bisect.bisect_left(keys, (namespace + _NS_END,))
        return lo, hi

    def _key_range(self, resource: str, namespace: str | None) -> builtins.list[Key]:
        lo, hi = self._bounds(resource, namespace)
        return self._keys[resource][lo:hi]

    @staticmethod
    def _remaining_after(
        last: Key,
        hi: int,
        keys: builtins.list[Key],
        overlay: dict[Key, Entry | None],
        gone: builtins.list[Key],
        table: dict[Key, Entry],
    ) -> int:
        live_after = hi - bisect.bisect_right(keys, last, 0, hi)
        count = live_after + sum(1 for k in gone if k > last)
        # Live keys that did not exist yet at the list's RV do not count.
        count -= sum(1 for k, e in overlay.items() if e is None and k in table and k > last)
        return count


def _typed(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of `obj` led by kind and apiVersion, as the API server writes them."""
    new: dict[str, Any] = {"kind": info.kind, "apiVersion": info.api_version}
    new.update((k, v) for k, v in obj.items() if k not in ("kind", "apiVersion"))
    return new


def _in_range(key: Key, namespace: str | None) -> bool:
    return namespace is None or key[0] == namespace


def _merge(keys: list[Key], start: int, stop: int, extra: list[Key]) -> Iterator[Key]:
    """Walk keys[start:stop] and the sorted `extra` keys together, in order."""
    j = 0
    for i in range(start, stop):
        key = keys[i]
        while j < len(extra) and extra[j] < key:
            yield extra[j]
            j += 1
        yield key
    yield from extra[j:]


def _apply_defaults(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """The few defaults the API server fills on create that clients rely on.

    `obj` is a shallow copy of the caller's object: nested dicts are replaced,
    never changed in place, because callers may share them between objects.
    """
    if info.kind == "Pod":
        status = obj.get("status")
        if status is None:
            obj["status"] = {"phase": "Pending"}
        elif isinstance(status, dict) and "phase" not in status:
            obj["status"] = {**status, "phase": "Pending"}
    elif info.kind == "Namespace":
        meta = obj["metadata"]
        meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
        status = obj.get("status")
        if status is None:
            obj["status"] = {"phase": "Active"}
        elif isinstance(status, dict) and "phase" not in status:
            obj["status"] = {**status, "phase": "Active"}


def _mark_deleted(meta: dict[str, Any], *, moment: str, grace: int) -> None:
    """Stamp a deletion on metadata; the first one bumps generation, as the API server does."""
    if not meta.get("deletionTimestamp") and meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1
    meta["deletionTimestamp"] = moment
    meta["deletionGracePeriodSeconds"] = grace


def _mark_pod_deleted(pod: dict[str, Any], requested: int | None, *, now: datetime) -> bool:
    """Apply a DELETE's grace period to a pod's metadata; False when it changes nothing.

    The rules of the API server's BeforeDelete and the pod strategy: a
    negative grace counts as 1 s; a pod not yet being deleted takes the
    requested grace (default: its spec's), or 0 when it is unbound or
    finished; a pod already being deleted keeps its deadline unless the new
    grace is shorter, and then the deadline moves earlier by the difference.
    A pod whose pending grace is already 0 is simply due.
    """
    meta = pod["metadata"]
    if requested is not None and requested < 0:
        requested = 1
    stamped = meta.get("deletionTimestamp")
    if stamped:
        pending = int(meta.get("deletionGracePeriodSeconds") or 0)
        if pending == 0 or requested is None or requested >= pending:
            return False
        try:
            deadline = datetime.strptime(stamped, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except (TypeError, ValueError):
            deadline = now + timedelta(seconds=pending)
        earlier = deadline - timedelta(seconds=pending - requested)
        _mark_deleted(meta, moment=format_time(earlier), grace=requested)
        return True
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    grace = requested
    if grace is None:
        default = spec.get("terminationGracePeriodSeconds")
        grace = default if isinstance(default, int) else _DEFAULT_POD_GRACE
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        grace = 0
    elif grace < 0:
        grace = 1
    _mark_deleted(meta, moment=format_time(now + timedelta(seconds=grace)), grace=grace)
    return True
