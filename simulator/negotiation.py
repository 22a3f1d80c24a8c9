"""Content negotiation and response building shared by every handler.

Clients choose a representation with the Accept header's parameters rather
than its media type: `as=Table;g=meta.k8s.io` asks for server-side printing,
`as=APIGroupDiscoveryList;g=apidiscovery.k8s.io` for aggregated discovery.
The first acceptable entry wins, as on the real server, so kubectl's
"Table, else plain JSON" lists come out as Tables.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from .errors import ApiError, NotAcceptable

__all__ = [
    "JSON",
    "discovery_version",
    "error_response",
    "json_response",
    "parse_accept",
    "table_version",
]

JSON = "application/json"
_JSON_TYPES = frozenset({"application/json", "application/*", "*/*"})


def parse_accept(header: str | None) -> list[tuple[str, dict[str, str]]]:
    """Accept entries as (media type, parameters), in the client's order."""
    entries: list[tuple[str, dict[str, str]]] = []
    for part in (header or "*/*").split(","):
        media, *raw_params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        params = {}
        for raw in raw_params:
            key, _, value = raw.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        entries.append((media.lower(), params))
    return entries


def _choose(
    header: str | None, *, group: str, as_kind: str, versions: tuple[str, ...]
) -> str | None:
    """The version of `as_kind` to send, or None for plain JSON; 406 if neither fits."""
    for media, params in parse_accept(header):
        if media not in _JSON_TYPES:
            continue
        wanted = params.get("as")
        if wanted is None:
            return None
        if wanted == as_kind and params.get("g") == group and params.get("v") in versions:
            return params["v"]
    raise NotAcceptable(
        f"only the following media types are accepted: {JSON}, "
        f"{JSON};as={as_kind};g={group};v={versions[0]}"
    )


def table_version(header: str | None) -> str | None:
    """`v1`/`v1beta1` when the client asked for a meta.k8s.io Table first."""
    return _choose(header, group="meta.k8s.io", as_kind="Table", versions=("v1", "v1beta1"))


def discovery_version(header: str | None) -> str | None:
    """`v2`/`v2beta1` when the client asked for aggregated discovery first."""
    try:
        return _choose(
            header,
            group="apidiscovery.k8s.io",
            as_kind="APIGroupDiscoveryList",
            versions=("v2", "v2beta1"),
        )
    except NotAcceptable:
        return None  # discovery falls back to the legacy documents


def json_response(
    body: bytes | dict[str, Any],
    *,
    status: int = 200,
    content_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> web.Response:
    payload = body if isinstance(body, bytes) else msgspec.json.encode(body)
    response = web.Response(body=payload, status=status, headers=headers)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def error_response(error: ApiError) -> web.Response:
    return json_response(error.status(), status=error.code, headers=error.headers)
