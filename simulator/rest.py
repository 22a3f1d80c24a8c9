"""The resource verbs: list, get, create, update, patch, delete, deletecollection, watch.

Each handler applies the API server's rules for its verb, in the order the
real server checks them (query validation, then preconditions, then the
write), and leaves rendering of errors to the caller. Lists are assembled
from the store's pre-encoded bytes; only Table output decodes objects.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from .errors import (
    ApiError,
    BadRequest,
    Expired,
    Invalid,
    Timeout,
    UnsupportedMediaType,
    not_found,
    precondition_failed,
    too_large_resource_version,
)
from .faults import Faults
from .negotiation import JSON, json_response, table_version
from .patch import apply_patch
from .resources import ResourceInfo
from .selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from .storage import Entry, ObjectStore, Page, decode_continue, encode_continue
from .tables import table_for
from .watch import WatchHub, WatchRequest

__all__ = [
    "DeleteOptions",
    "ResourceHandlers",
    "Target",
    "flag",
    "read_delete_options",
    "read_json",
]

_decode = msgspec.json.decode
_encode = msgspec.json.encode
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_NAMESPACE_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
_CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)
# Lists longer than this are written in slices of this many objects.
_STREAM_ITEMS = 1000
_NAME_SUFFIX = string.ascii_lowercase + string.digits
# Kinds whose status the API server resets on create (status is the controllers' job).
_STATUS_ON_CREATE: dict[str, dict[str, Any]] = {
    "Pod": {"phase": "Pending"},
    "Deployment": {},
    "ReplicaSet": {},
    "StatefulSet": {},
    "Namespace": {"phase": "Active"},
}


@dataclass(frozen=True, slots=True)
class Target:
    """The resource a request addresses, parsed from its path."""

    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def flag(query: Any, name: str) -> bool | None:
    """A boolean query parameter as Go's strconv.ParseBool reads it; None if absent."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE or raw == "":
        return False
    raise BadRequest(f"invalid boolean value {raw!r} for query parameter {name}")


def _int_param(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"invalid integer value {raw!r} for query parameter {name}") from None


def _rv_param(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"invalid resource version {raw!r}: not an integer") from None
    if value < 0:
        raise BadRequest(f"invalid resource version {raw!r}: negative")
    return value


def _list_options_invalid(message: str) -> Invalid:
    return Invalid(
        f"ListOptions.meta.k8s.io is invalid: {message}",
        details={"group": "meta.k8s.io", "kind": "ListOptions"},
    )


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 415 for other encodings, 400 for bad JSON."""
    return _parse_json(request, await request.read())


def _parse_json(request: web.Request, body: bytes, *, what: str = "the body of the request") -> Any:
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if "protobuf" in content_type:
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json (got {content_type})"
        )
    try:
        return _decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"{what} could not be decoded as JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """What a DELETE asked for: a grace period and preconditions."""

    grace_period_seconds: int | None = None
    uid: str | None = None
    resource_version: str | None = None


async def read_delete_options(request: web.Request) -> DeleteOptions:
    """DeleteOptions from the JSON body, or from the query when there is no body.

    As the API server reads them: a body wins over the query string, and a
    grace period that is not an integer is a 400, not a guess.
    """
    body = await request.read() if request.can_read_body else b""
    if not body.strip():
        return DeleteOptions(grace_period_seconds=_int_param(request.query, "gracePeriodSeconds"))
    options = _parse_json(request, body, what="the DeleteOptions")
    if not isinstance(options, dict):
        raise BadRequest("the DeleteOptions must be a JSON object")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise BadRequest(f"DeleteOptions.gracePeriodSeconds must be an integer, got {grace!r}")
    preconditions = options.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise BadRequest("DeleteOptions.preconditions must be a JSON object")
    uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
    return DeleteOptions(
        grace_period_seconds=grace,
        uid=None if uid in (None, "") else str(uid),
        resource_version=None if rv in (None, "") else str(rv),
    )


class ResourceHandlers:
    """The verbs over one store, its watch hub and its fault rules."""

    def __init__(
        self, *, store: ObjectStore, hub: WatchHub, faults: Faults, future_rv_wait: float = 3.0
    ) -> None:
        self.store = store
        self.hub = hub
        self.faults = faults
        self.future_rv_wait = future_rv_wait

    # -- helpers -------------------------------------------------------------------

    def _selectors(
        self, request: web.Request, info: ResourceInfo
    ) -> tuple[LabelSelector, FieldSelector]:
        return (
            parse_label_selector(request.query.get("labelSelector")),
            parse_field_selector(request.query.get("fieldSelector"), info),
        )

    def _existing(self, target: Target) -> Entry:
        assert target.name is not None
        entry = self.store.get_entry(target.info.plural, target.namespace, target.name)
        if entry is None:
            info = target.info
            raise not_found(resource=info.plural, name=target.name, group=info.group)
        return entry

    async def _await_rv(self, rv: int) -> None:
        """Wait up to `future_rv_wait` for the store to reach `rv`, as the watch cache does.

        Then 504 "Too large resource version"; at once nothing, when the
        fault switch serves such requests from the current state instead.
        """
        if self.faults.future_resource_versions_served:
            return
        if not await self.hub.wait_for_rv(rv, within=self.future_rv_wait):
            raise too_large_resource_version(rv, self.store.resource_version)

    def _respond_object(
        self, request: web.Request, info: ResourceInfo, raw: bytes, *, status: int = 200
    ) -> web.Response:
        version = table_version(request.headers.get("Accept"))
        if version is None:
            return json_response(raw, status=status)
        obj = _decode(raw)
        table = table_for(
            info,
            [obj],
            resource_version=str(obj["metadata"].get("resourceVersion", "")),
            include_object=request.query.get("includeObject", "Metadata"),
            table_version=version,
        )
        return json_response(table, status=status, content_type=_table_type(version))

    def _stored_raw(self, info: ResourceInfo, obj: dict[str, Any]) -> bytes:
        meta = obj.get("metadata") or {}
        entry = self.store.get_entry(info.plural, meta.get("namespace"), meta.get("name", ""))
        if entry is not None and str(entry.rv) == meta.get("resourceVersion"):
            return entry.raw
        return _encode(obj)

    # -- LIST ------------------------------------------------------------------------

    async def list(self, request: web.Request, target: Target) -> web.StreamResponse:
        info, query = target.info, request.query
        labels, fields = self._selectors(request, info)
        limit = _int_param(query, "limit")
        if limit is not None and limit <= 0:
            limit = None
        rv_param = query.get("resourceVersion", "")
        match = query.get("resourceVersionMatch", "")
        token = query.get("continue", "")
        if match not in ("", "Exact", "NotOlderThan"):
            raise _list_options_invalid(f'resourceVersionMatch: Unsupported value: "{match}"')
        if flag(query, "sendInitialEvents") is not None:
            raise _list_options_invalid(
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
            )
        if match and not rv_param:
            raise _list_options_invalid(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                "resourceVersion is provided"
            )
        if token and rv_param:
            raise _list_options_invalid(
                "resourceVersion: Forbidden: specifying resource version is not allowed when "
                "using continue"
            )
        if token and match:
            raise _list_options_invalid(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when "
                "continue is provided"
            )
        if match == "Exact" and rv_param == "0":
            raise _list_options_invalid(
                'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden '
                'for resourceVersion "0"'
            )

        at_rv: int | None = None
        after = None
        if token:
            token_rv, after = decode_continue(token)
            at_rv = None if token_rv < 0 else token_rv
            if at_rv is not None and at_rv < self.store.window_start:
                retry = encode_continue(rv=-1, key=after)
                raise Expired(_CONTINUE_TOO_OLD, metadata={"continue": retry})
        elif rv_param == "0":
            limit = None  # served from the watch cache, which ignores limit
        elif rv_param:
            wanted = _rv_param(rv_param)
            mode = match or ("Exact" if limit is not None else "NotOlderThan")
            await self._await_rv(wanted)
            if mode == "Exact" and wanted <= self.store.resource_version:
                at_rv = wanted  # (a future one is served as now when the fault switch allows it)

        predicate = None
        if not (labels.empty and fields.empty):

            def predicate(entry: Entry) -> bool:
                return labels.matches(entry.labels) and fields.matches(entry.fields)

        page = self.store.page(
            info.plural,
            namespace=target.namespace,
            at_rv=at_rv,
            after=after,
            limit=limit,
            predicate=predicate,
        )
        return await self._list_response(request, info, page)

    async def _list_response(
        self, request: web.Request, info: ResourceInfo, page: Page
    ) -> web.StreamResponse:
        meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
        token = None
        if page.last_key is not None:
            token = encode_continue(rv=page.rv, key=page.last_key)
            meta["continue"] = token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        version = table_version(request.headers.get("Accept"))
        if version is not None:
            table = table_for(
                info,
                [e.decode() for e in page.entries],
                resource_version=str(page.rv),
                continue_token=token,
                remaining=page.remaining,
                include_object=request.query.get("includeObject", "Metadata"),
                table_version=version,
            )
            return json_response(table, content_type=_table_type(version))
        head = b"".join(
            (
                b'{"kind":"%s","apiVersion":"%s","metadata":'
                % (info.list_kind.encode(), info.api_version.encode()),
                _encode(meta),
                b',"items":[',
            )
        )
        entries = page.entries
        if len(entries) <= _STREAM_ITEMS:
            return json_response(head + b",".join(e.raw for e in entries) + b"]}")
        # A big list goes out in slices of stored bytes: no body-sized buffer
        # is ever built. The entries are immutable versions, so the awaits
        # between slices cannot mix snapshots.
        response = web.StreamResponse(
            headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"}
        )
        response.content_length = (
            len(head) + sum(len(e.raw) for e in entries) + len(entries) - 1 + len(b"]}")
        )
        await response.prepare(request)
        for start in range(0, len(entries), _STREAM_ITEMS):
            chunk = b",".join(e.raw for e in entries[start : start + _STREAM_ITEMS])
            await response.write((head if start == 0 else b",") + chunk)
        await response.write(b"]}")
        await response.write_eof()
        return response

    # -- WATCH -----------------------------------------------------------------------

    async def watch(
        self, request: web.Request, target: Target, injected: ApiError | None
    ) -> web.StreamResponse:
        info, query = target.info, request.query
        labels = parse_label_selector(query.get("labelSelector"))
        field_text = query.get("fieldSelector") or ""
        if target.name is not None:  # /watch/namespaces/ns/pods/name
            field_text = f"metadata.name={target.name}" + (f",{field_text}" if field_text else "")
        fields = parse_field_selector(field_text, info)
        rv_param = query.get("resourceVersion", "")
        match = query.get("resourceVersionMatch", "")
        initial = flag(query, "sendInitialEvents")
        bookmarks = bool(flag(query, "allowWatchBookmarks"))
        timeout = _int_param(query, "timeoutSeconds")
        if match not in ("", "Exact", "NotOlderThan"):
            raise _list_options_invalid(f'resourceVersionMatch: Unsupported value: "{match}"')
        if initial is None and match:
            raise _list_options_invalid(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                "unless sendInitialEvents is provided"
            )
        if initial is not None and match != "NotOlderThan":
            raise _list_options_invalid(
                "resourceVersionMatch: Unsupported value: sendInitialEvents requires setting "
                "resourceVersionMatch to NotOlderThan"
            )
        if initial and not bookmarks:
            raise _list_options_invalid(
                "allowWatchBookmarks: Required value: sendInitialEvents requires setting "
                "allowWatchBookmarks to true"
            )
        version = table_version(request.headers.get("Accept"))

        since: int | None = None
        send_initial = False
        try:
            if initial is None:
                if rv_param in ("", "0"):
                    send_initial = True
                else:
                    since = _rv_param(rv_param)
                    if since > self.store.resource_version:
                        await self._await_rv(since)
            else:
                if rv_param not in ("", "0"):
                    await self._await_rv(_rv_param(rv_param))
                if initial:
                    send_initial = True
                else:
                    since = self.store.resource_version
        except Timeout as exc:
            # As the watch cache answers it: an ERROR event in a 200 stream.
            return await _error_stream(request, exc)

        if isinstance(injected, Expired):
            return await _error_stream(request, injected)

        watch_request = WatchRequest(
            info=info,
            namespace=target.namespace,
            labels=labels,
            fields=fields,
            since_rv=since,
            initial_events=send_initial,
            end_bookmark=bool(initial),
            bookmarks=bookmarks,
            timeout=None if not timeout or timeout <= 0 else float(timeout),
            table_version=version,
            include_object=query.get("includeObject", "Metadata"),
        )
        stream = self.hub.open(watch_request)
        try:
            return await stream.run(request, self.faults)
        finally:
            self.hub.close(stream)

    # -- GET / CREATE / UPDATE / PATCH / DELETE --------------------------------------

    async def get(self, request: web.Request, target: Target) -> web.Response:
        entry = self._existing(target)
        return self._respond_object(request, target.info, entry.raw)

    async def create(self, request: web.Request, target: Target) -> web.Response:
        info = target.info
        _refuse_dry_run(request)
        body = await read_json(request)
        obj = _checked_body(body, info)
        meta = obj["metadata"]
        if info.namespaced:
            assert target.namespace is not None
            if meta.get("namespace") not in (None, "", target.namespace):
                raise BadRequest(_NAMESPACE_MISMATCH)
            meta["namespace"] = target.namespace
            if self.store.get_entry("namespaces", None, target.namespace) is None:
                raise not_found(resource="namespaces", name=target.namespace)
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if prefix:
                meta["name"] = prefix + "".join(secrets.choice(_NAME_SUFFIX) for _ in range(5))
        if meta.get("resourceVersion"):
            raise ApiError("resourceVersion should not be set on objects to be created")
        for server_set in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            meta.pop(server_set, None)
        if info.kind in _STATUS_ON_CREATE:
            obj["status"] = dict(_STATUS_ON_CREATE[info.kind])
        created = self.store.create(info.plural, obj)
        return self._respond_object(request, info, self._stored_raw(info, created), status=201)

    async def update(self, request: web.Request, target: Target) -> web.Response:
        info = target.info
        _refuse_dry_run(request)
        obj = _checked_body(await read_json(request), info)
        _check_identity(obj["metadata"], target)
        updated = self.store.update(info.plural, obj, subresource=target.subresource)
        return self._respond_object(request, info, self._stored_raw(info, updated))

    async def patch(self, request: web.Request, target: Target) -> web.Response:
        info = target.info
        _refuse_dry_run(request)
        entry = self._existing(target)
        patch_body = await read_json(request)
        current = entry.decode()
        patched = apply_patch(request.headers.get("Content-Type", ""), current, patch_body)
        meta = patched.get("metadata")
        if not isinstance(meta, dict):
            raise Invalid(f"{info.kind} is invalid: metadata: Required value")
        _check_identity(meta, target)
        if not meta.get("resourceVersion"):
            meta["resourceVersion"] = str(entry.rv)
        updated = self.store.update(info.plural, patched, subresource=target.subresource)
        return self._respond_object(request, info, self._stored_raw(info, updated))

    async def delete(self, request: web.Request, target: Target) -> web.Response:
        info = target.info
        _refuse_dry_run(request)
        entry = self._existing(target)
        options = await read_delete_options(request)
        assert target.name is not None
        uid = entry.decode()["metadata"].get("uid")
        for field, wanted, actual in (
            ("UID", options.uid, uid),
            ("ResourceVersion", options.resource_version, str(entry.rv)),
        ):
            if wanted is not None and wanted != actual:
                raise precondition_failed(
                    field=field,
                    wanted=wanted,
                    actual=actual,
                    resource=info.plural,
                    name=target.name,
                    group=info.group,
                )
        deleted = self.store.delete(
            info.plural,
            target.namespace,
            target.name,
            grace_period_seconds=options.grace_period_seconds,
        )
        if deleted is None:
            raise not_found(resource=info.plural, name=target.name, group=info.group)
        return self._respond_object(request, info, _encode(deleted))

    async def delete_collection(self, request: web.Request, target: Target) -> web.Response:
        info = target.info
        _refuse_dry_run(request)
        labels, fields = self._selectors(request, info)
        grace = (await read_delete_options(request)).grace_period_seconds
        doomed = [
            e.key
            for e in self.store.entries(info.plural, target.namespace)
            if labels.matches(e.labels) and fields.matches(e.fields)
        ]
        deleted = []
        for namespace, name in doomed:
            obj = self.store.delete(
                info.plural, namespace or None, name, grace_period_seconds=grace
            )
            if obj is not None:
                deleted.append(obj)
        body = {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self.store.resource_version)},
            "items": deleted,
        }
        return json_response(body)


def _table_type(version: str) -> str:
    return f"application/json;as=Table;v={version};g=meta.k8s.io"


def _refuse_dry_run(request: web.Request) -> None:
    if request.query.get("dryRun"):
        raise BadRequest("dryRun is not supported by the kube-watchcache simulator")


def _checked_body(body: Any, info: ResourceInfo) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object of kind {info.kind}")
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version not in (None, "", info.api_version):
        raise BadRequest(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({info.api_version})"
        )
    if kind not in (None, "", info.kind):
        raise BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({info.kind})"
        )
    meta = body.get("metadata")
    if meta is None:
        meta = body["metadata"] = {}
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be a JSON object")
    return body


def _check_identity(meta: dict[str, Any], target: Target) -> None:
    name = meta.get("name")
    if name not in (None, "") and name != target.name:
        raise BadRequest(
            f"the name of the object ({name}) does not match the name on the URL ({target.name})"
        )
    meta["name"] = target.name
    if target.info.namespaced:
        namespace = meta.get("namespace")
        if namespace not in (None, "") and namespace != target.namespace:
            raise BadRequest(_NAMESPACE_MISMATCH)
        meta["namespace"] = target.namespace


async def _error_stream(request: web.Request, error: ApiError) -> web.StreamResponse:
    """A 200 watch stream that carries one ERROR event and ends, as the watch cache sends 410s."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(_encode({"type": "ERROR", "object": error.status()}) + b"\n")
    await response.write_eof()
    return response
