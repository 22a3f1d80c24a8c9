"""The /metrics response: format negotiation, gzip, and a body streamed piece by piece.

Format: OpenMetrics 1.0.0 when the `Accept` header prefers
`application/openmetrics-text` (Prometheus asks for it first), else the
classic text format 0.0.4. Encoding: gzip when `Accept-Encoding` allows it
(Prometheus always asks), at level 1 — metrics text compresses about tenfold
even so, and the CPU goes to ingestion instead.

The body is the agent's own registry (prometheus_client renders it; it is
small) followed by the cluster families. Objects mode: the renderer process
returns the whole body already gzip-compressed (it gets the registry text
with the request), and the event loop only forwards bytes — or, for a
client that does not take gzip (rare: Prometheus always does), decompresses
them chunk by chunk in a worker thread as it streams. Summary mode: a few
small pieces rendered and compressed in a worker thread, then streamed.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from starlette.responses import StreamingResponse

from mcpserver.ksm.blocks import GZIP_LEVEL
from mcpserver.ksm.collector import ClusterCollector, SnapshotFailed
from mcpserver.ksm.objects import Piece

__all__ = [
    "GZIP_LEVEL",
    "OPENMETRICS",
    "TEXT",
    "accepts_gzip",
    "metrics_response",
    "wants_openmetrics",
]

log = logging.getLogger("kube_watchcache.metrics")

TEXT = CONTENT_TYPE_PLAIN_0_0_4
_EOF = b"# EOF\n"


def _media_ranges(header: str) -> Iterable[tuple[str, dict[str, str], float]]:
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params: dict[str, str] = {}
        for field in fields[1:]:
            key, _, value = field.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        yield fields[0].lower(), params, q


def wants_openmetrics(accept: str) -> bool:
    """True when `accept` ranks application/openmetrics-text at least as high as plain text."""
    best_om = best_text = 0.0
    for media, params, q in _media_ranges(accept):
        if media == "application/openmetrics-text" and params.get("version", "1.0.0") in (
            "1.0.0",
            "0.0.1",
        ):
            best_om = max(best_om, q)
        elif media in ("text/plain", "text/*", "*/*"):
            best_text = max(best_text, q)
    return best_om > 0 and best_om >= best_text


def accepts_gzip(accept_encoding: str) -> bool:
    for coding, _params, q in _media_ranges(accept_encoding):
        if coding in ("gzip", "*") and q > 0:
            return True
    return False


async def _stream(
    head: bytes, pieces: Iterable[Piece], tail: bytes, *, gzip: bool
) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if gzip else None

    def emit(data: bytes) -> bytes:
        return compressor.compress(data) if compressor is not None else data

    def render(piece: Piece) -> bytes:
        return emit(piece().encode())

    try:
        yield emit(head)
        for piece in pieces:
            chunk = await anyio.to_thread.run_sync(render, piece)
            if chunk:
                yield chunk
        yield emit(tail) + (compressor.flush() if compressor is not None else b"")
    except Exception:
        # Headers are gone already: cut the body short so the scrape fails visibly.
        log.exception("metrics: rendering the exposition failed")
        raise


async def _inflate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    decompressor = zlib.decompressobj(31)
    while chunks:
        chunk = chunks.pop(0)  # let each chunk go once it is sent
        data = await anyio.to_thread.run_sync(decompressor.decompress, chunk)
        if data:
            yield data
    rest = decompressor.flush()
    if rest:
        yield rest


async def _forward(chunks: list[bytes]) -> AsyncIterator[bytes]:
    while chunks:
        yield chunks.pop(0)


async def metrics_response(
    *,
    registry: CollectorRegistry,
    cluster: ClusterCollector | None,
    accept: str,
    accept_encoding: str,
) -> StreamingResponse:
    """The response to one scrape; the cluster part is left out if the store cannot be read."""
    openmetrics = wants_openmetrics(accept)
    gzip = accepts_gzip(accept_encoding)
    pieces: Iterable[Piece] = ()
    snapshot = None
    if cluster is not None and cluster.is_enabled():
        try:
            snapshot = await cluster.snapshot()
        except SnapshotFailed as e:
            log.warning("metrics: cluster gauges left out of this scrape: %s", e)
        else:
            pieces = snapshot.pieces(openmetrics=openmetrics)
    # Rendered after the snapshot, so the scrape statistics include this one.
    if openmetrics:
        head = openmetrics_latest(registry)  # type: ignore[no-untyped-call]
        head = head[: -len(_EOF)] if head.endswith(_EOF) else head
        tail, content_type = _EOF, OPENMETRICS
    else:
        head, tail, content_type = text_latest(registry), b"", TEXT
    headers: dict[str, Any] = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    if cluster is not None and snapshot is not None and snapshot.objects is not None:
        try:
            body = await cluster.render(snapshot, head=head, tail=tail, openmetrics=openmetrics)
        except SnapshotFailed as e:
            log.warning("metrics: cluster gauges left out of this scrape: %s", e)
        else:
            return StreamingResponse(_forward(body) if gzip else _inflate(body), headers=headers)
    return StreamingResponse(_stream(head, pieces, tail, gzip=gzip), headers=headers)
