"""Objects-mode rendering, meant to run in a process of its own.

The agent starts it as `python -m mcpserver.ksm DATABASE` (`__main__.py`).

Why a process: an objects-mode scrape reads every changed pod, renders
hundreds of thousands of lines and compresses them — about a second of CPU
per 10k churning pods, most of it Python bytecode. Run in the agent's
interpreter it competes with ingestion for the one GIL (measured: ingest
26% slower at 10k pods scraped every second). Here it runs in another
interpreter that reads the store's SQLite file on its own read-only
connection — in WAL mode readers and the writer never wait for each other,
and one read transaction is one committed state of every table, so each
snapshot is consistent without any help from the writer. The agent's part
of a scrape is to forward the compressed bytes. The process takes the
lowest CPU priority (`NICENESS` 19): on a busy machine ingestion wins the
cores and the scrape waits, which is the trade Prometheus' 10 s scrape
timeout allows (measured at 10k pods ingesting flat out on 2 cores: nice 5
slowed ingest to 0.85x, nice 19 to 0.91x; the scrape's median was 0.44 s).

`Renderer` is the work itself, plain and synchronous: `build()` reads one
snapshot (incrementally: see `store.snapshot.ObjectsReader`), re-renders
and recompresses what changed in it (`ObjectsBlocks`, `mcpserver.ksm.blocks`)
and keeps its exposition under a number; `render()` writes a whole response
body — the agent's own families (`head`), the cluster families of that
snapshot, `tail` — as gzip, in chunks, by joining compressed segments. It
keeps the last few snapshots so that scrapes coalesced on one build all
render that build even if another build slipped in between. The agent runs it in this process
(`mcpserver.ksm.worker.RenderWorker`) or, if a process cannot be started,
in a thread (`LocalRenderer`).

`build("alerts")` is summary mode's part (auto mode above the object
limit): the same families, but only for the pods that need attention
(`mcpserver.ksm.summary.needs_attention`) and without the per-container
resource families, whose sums over some pods would be wrong rather than
absent; the other kinds stay whole (see `mcpserver.ksm.summary`).

The protocol on stdin/stdout is frames: one type byte, a 4-byte big-endian
length, the payload (msgpack for structured ones). Requests: `B` build
(payload: the scope, empty for "all"),
`R` render (`RenderRequest`), `Q` quit. Replies: `S` built (`Built`), `D`
body bytes (any number), `E` end of body, `X` failure (`Failure`). End of
stdin (the agent went away) ends the process.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

import msgspec

from mcpserver.ksm.blocks import Segment, gzip_body, segment
from mcpserver.ksm.families import MODE, parse_labels_allowlist
from mcpserver.ksm.objects import Layout, ObjectsBlocks
from mcpserver.ksm.summary import ALERT_SCOPE_DROPS, needs_attention
from store import StoreError
from store.snapshot import ObjectsReader

__all__ = [
    "KEEP_SNAPSHOTS",
    "NICENESS",
    "Built",
    "Failure",
    "ProtocolError",
    "RenderRequest",
    "Renderer",
    "Scope",
    "read_frame",
    "serve",
    "write_frame",
]

log = logging.getLogger("kube_watchcache.metrics")

KEEP_SNAPSHOTS = 4
NICENESS = 19
CHUNK_BYTES = 256 * 1024  # compressed bytes per `D` frame, at least (but the last)
_HEADER = struct.Struct("!cI")
SCOPES = ("all", "alerts")
Scope = Literal["all", "alerts"]


class Built(msgspec.Struct, frozen=True):
    """A snapshot the renderer holds: its number, counts and the time the read took."""

    id: int
    pods: int
    deployments: int
    nodes: int
    seconds: float  # the read and the render
    pods_decoded: int  # pods read in full (changed since the previous build)
    rendered: int  # objects rendered (new or changed)
    compressed: int  # block-families recompressed


class RenderRequest(msgspec.Struct, frozen=True):
    id: int
    openmetrics: bool
    head: bytes
    tail: bytes
    mode: Literal["objects", "summary"] = "objects"  # what the mode gauge says


class Failure(msgspec.Struct, frozen=True):
    """Why a request failed; `store` is True when the store could not be read."""

    message: str
    store: bool = False


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol, or hung up."""


def write_frame(out: IO[bytes], kind: bytes, payload: bytes = b"") -> None:
    out.write(_HEADER.pack(kind, len(payload)))
    if payload:
        out.write(payload)


def read_frame(source: IO[bytes]) -> tuple[bytes, bytes]:
    """The next (type, payload); raises ProtocolError at end of stream or on a short frame."""
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise ProtocolError("the stream ended" if not header else "a frame header was cut short")
    kind, size = _HEADER.unpack(header)
    payload = source.read(size) if size else b""
    if len(payload) != size:
        raise ProtocolError(f"a {kind!r} frame was cut short ({len(payload)} of {size} bytes)")
    return kind, payload


class Renderer:
    """Builds snapshots of one store file and renders them; synchronous, one caller at a time."""

    def __init__(self, path: Path, *, labels_allowlist: str = "") -> None:
        self.reader = ObjectsReader(path)
        self.labels_allowlist = parse_labels_allowlist(labels_allowlist)
        self.blocks = ObjectsBlocks(self.labels_allowlist)
        self._layouts: dict[int, Layout] = {}
        self._next_id = 1

    def build(self, scope: Scope = "all") -> Built:
        """Read one consistent snapshot and render what changed; raises StoreError.

        `scope="alerts"`: only the pods that need attention, without the
        resource families (summary mode's share of the objects families).
        """
        started = time.perf_counter()
        snapshot = self.reader.read()
        if scope == "alerts":
            snapshot = msgspec.structs.replace(
                snapshot, pods=[p for p in snapshot.pods if needs_attention(p)]
            )
        layout = self.blocks.update(snapshot)
        if scope == "alerts":
            layout = Layout([(f, s) for f, s in layout.families if f.name not in ALERT_SCOPE_DROPS])
        number = self._next_id
        self._next_id += 1
        self._layouts[number] = layout
        for old in [n for n in self._layouts if n <= number - KEEP_SNAPSHOTS]:
            del self._layouts[old]
        return Built(
            id=number,
            pods=len(snapshot.pods),
            deployments=len(snapshot.deployments),
            nodes=len(snapshot.nodes),
            seconds=time.perf_counter() - started,
            pods_decoded=self.reader.pods_decoded,
            rendered=self.blocks.rendered,
            compressed=self.blocks.compressed,
        )

    def render(self, request: RenderRequest) -> Iterator[bytes]:
        """The gzip body for `request`, in chunks of at least CHUNK_BYTES; joins, no compression."""
        layout = self._layouts.get(request.id)
        if layout is None:
            raise LookupError(f"snapshot {request.id} is gone (the renderer keeps the last few)")
        openmetrics = request.openmetrics
        segments = [
            segment(request.head),
            _mode_segment(request.mode, openmetrics=openmetrics),
            *layout.segments(openmetrics=openmetrics),
            segment(request.tail),
        ]
        yield from gzip_body(segments, chunk=CHUNK_BYTES)

    def forget(self) -> None:
        """Give back every kept snapshot and rendered line (objects mode not in use)."""
        self._layouts.clear()
        self.reader.forget()
        self.blocks = ObjectsBlocks(self.labels_allowlist)


@functools.cache
def _mode_segment(mode: str, *, openmetrics: bool) -> Segment:
    line = f'kube_watchcache_metrics_cluster_mode{{mode="{mode}"}} 1\n'
    return segment(MODE.header(openmetrics=openmetrics) + line)


def serve(renderer: Renderer, source: IO[bytes], out: IO[bytes]) -> None:
    """Answer requests from `source` on `out` until `Q` or the end of `source`."""
    encode = msgspec.msgpack.encode
    decode_request = msgspec.msgpack.Decoder(RenderRequest).decode
    while True:
        try:
            kind, payload = read_frame(source)
        except ProtocolError:
            return  # the agent went away
        try:
            if kind == b"Q":
                return
            if kind == b"B":
                requested = payload.decode() or "all"
                if requested not in SCOPES:
                    raise LookupError(f"unknown build scope {requested!r}")
                scope: Scope = "alerts" if requested == "alerts" else "all"
                write_frame(out, b"S", encode(renderer.build(scope)))
            elif kind == b"R":
                for chunk in renderer.render(decode_request(payload)):
                    write_frame(out, b"D", chunk)
                write_frame(out, b"E")
            else:
                write_frame(out, b"X", encode(Failure(f"unknown request {kind!r}")))
        except StoreError as e:
            write_frame(out, b"X", encode(Failure(str(e), store=True)))
        except (LookupError, UnicodeDecodeError, msgspec.DecodeError, msgspec.ValidationError) as e:
            write_frame(out, b"X", encode(Failure(str(e))))
        except Exception as e:
            log.exception("metrics renderer: request %r failed", kind)
            write_frame(out, b"X", encode(Failure(f"{type(e).__name__}: {e}")))
        out.flush()


def main(argv: list[str]) -> int:
    """The renderer process: serve requests on stdin/stdout for the store file `argv[0]`.

    `argv[1]`, when given: the `*_labels` allow-list (`--metric-labels-allowlist`).
    """
    if len(argv) not in (1, 2):
        print("usage: python -m mcpserver.ksm DATABASE [LABELS_ALLOWLIST]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(OSError):  # not allowed here: run at the agent's priority
        os.nice(NICENESS)
    started = time.perf_counter()
    renderer = Renderer(Path(argv[0]), labels_allowlist=argv[1] if len(argv) == 2 else "")
    log.debug("metrics renderer ready in %.3f s", time.perf_counter() - started)
    serve(renderer, sys.stdin.buffer, sys.stdout.buffer)
    return 0
