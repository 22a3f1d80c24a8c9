"""Compressed once, sent many times: objects' lines kept as gzip-ready deflate segments.

Most of an objects-mode scrape used to be compression — 30 MB of text per
10k pods at gzip level 1 is about 0.2 s of CPU — although most lines had not
changed since the previous scrape. kube-state-metrics keeps each object's
rendered lines and joins them; this goes one step further and keeps them
*compressed*. Objects sit in blocks of up to `BLOCK` objects; each block
keeps, per family, its lines as one raw deflate segment. A segment is
compressed alone and ends with a sync flush, so it starts and ends on a
byte boundary and refers to nothing before it: segments concatenate into
one valid deflate stream (pigz relies on the same property). A gzip body is
then its header, the segments, an empty final block, and the CRC-32 and
length of the whole text — the CRC combined from the segments' own
(`crc32_combine`, as zlib does it: CRC-32 is linear, so appending `n` bytes
multiplies the first CRC by x^(8n) modulo the polynomial), never recomputed
over the text.

A scrape then re-renders only the objects that changed, recompresses only
the block-families whose lines changed (a restart-count bump dirties one
family of one block), and joins bytes. The body is a standard one-member
gzip stream that any client decodes, identical in content to compressing
the text in one go (the bytes differ; the text does not).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = [
    "BLOCK",
    "GZIP_HEADER",
    "GZIP_LEVEL",
    "BlockCache",
    "Segment",
    "crc32_combine",
    "gzip_body",
    "segment",
]

T = TypeVar("T")

BLOCK = 256  # objects per block: segments of tens of kB compress nearly as well as one stream
GZIP_LEVEL = 1  # metrics text still compresses about tenfold; the CPU goes to ingestion
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown
_FINAL = b"\x03\x00"  # an empty final fixed-Huffman block: ends the deflate stream
_POLY = 0xEDB88320  # CRC-32, bit-reflected


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (bit-reflected: x^0 is the top bit)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> tuple[int, ...]:
    p = 1 << 30  # x^1
    table = [p]
    for _ in range(31):
        p = _multmodp(p, p)
        table.append(p)
    return tuple(table)


_X2N = _x2n_table()  # x^(2^k) modulo the polynomial


def _shift(length: int) -> int:
    """x^(8 * length) modulo the polynomial: what appending `length` bytes does to a CRC."""
    p = 1 << 31  # x^0
    k = 3
    while length:
        if length & 1:
            p = _multmodp(_X2N[k & 31], p)
        length >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from crc(A), crc(B) and len(B)."""
    return _multmodp(_shift(length2), crc1) ^ crc2


class Segment(NamedTuple):
    """Text compressed alone as raw deflate, ending byte-aligned; its CRC-32 and length."""

    data: bytes
    crc: int
    size: int  # uncompressed bytes
    shift: int  # _shift(size), kept: combining a segment into a body is then one multiply


EMPTY = Segment(b"", 0, 0, 1 << 31)


def segment(text: str | bytes) -> Segment:
    raw = text.encode() if isinstance(text, str) else text
    if not raw:
        return EMPTY
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    data = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return Segment(data, zlib.crc32(raw), len(raw), _shift(len(raw)))


def gzip_body(segments: Iterable[Segment], *, chunk: int) -> Iterable[bytes]:
    """A gzip stream of the segments' texts, in order, in chunks of at least `chunk` bytes."""
    crc = 0
    size = 0
    pending = [GZIP_HEADER]
    pending_size = len(GZIP_HEADER)
    for s in segments:
        if not s.size:
            continue
        crc = _multmodp(s.shift, crc) ^ s.crc
        size += s.size
        pending.append(s.data)
        pending_size += len(s.data)
        if pending_size >= chunk:
            yield b"".join(pending)
            pending, pending_size = [], 0
    pending.append(_FINAL)
    pending.append(crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
    yield b"".join(pending)


class _Block:
    __slots__ = ("dirty", "members", "segments")

    def __init__(self, families: int) -> None:
        self.members: dict[Hashable, None] = {}  # keys, in the order they joined
        self.segments: list[Segment] = [EMPTY] * families
        self.dirty: set[int] = set(range(families))


class BlockCache(Generic[T]):
    """One kind's objects: rendered lines per object, compressed lines per block and family.

    `update(objects)` brings it to a new snapshot of the kind: new objects
    are rendered into a block with room, changed ones re-rendered in place
    (an object counts as unchanged when it is the same object, or equal, as
    the snapshot reader hands back for an unchanged row), gone ones leave
    their block; then every block-family whose lines changed is
    recompressed. `make(obj, previous)` renders an object's lines per family,
    given its previous version and lines if it had one (to reuse what did
    not change). `segments(i)` is family `i`'s lines, as segments in order.
    Not thread-safe: one caller at a time.
    """

    def __init__(
        self,
        *,
        families: int,
        key: Callable[[T], Hashable],
        make: Callable[[T, tuple[T, tuple[str, ...]] | None], tuple[str, ...]],
        block: int = BLOCK,
    ) -> None:
        self.families = families
        self.key = key
        self.make = make
        self.block = block
        # key -> [object, its lines per family, block index, generation last seen]
        self._entries: dict[Hashable, list[Any]] = {}
        self._blocks: list[_Block] = []
        self._room: list[int] = []  # blocks with room, the most recently freed last
        self._generation = 0
        self.rendered = 0  # objects rendered by the last update
        self.compressed = 0  # block-families recompressed by the last update

    def __len__(self) -> int:
        return len(self._entries)

    def _place(self, key: Hashable) -> int:
        while self._room:
            index = self._room[-1]
            members = self._blocks[index].members
            if len(members) < self.block:
                members[key] = None
                if len(members) >= self.block:
                    self._room.pop()
                return index
            self._room.pop()
        self._blocks.append(_Block(self.families))
        index = len(self._blocks) - 1
        self._blocks[index].members[key] = None
        if self.block > 1:
            self._room.append(index)
        return index

    def update(self, objects: Sequence[T]) -> None:
        self._generation += 1
        generation = self._generation
        entries = self._entries
        blocks = self._blocks
        every = range(self.families)
        rendered = 0
        for obj in objects:
            k = self.key(obj)
            entry = entries.get(k)
            if entry is None:
                index = self._place(k)
                entries[k] = [obj, self.make(obj, None), index, generation]
                blocks[index].dirty.update(every)
                rendered += 1
                continue
            entry[3] = generation
            old = entry[0]
            if old is obj or old == obj:
                continue
            before = entry[1]
            lines = self.make(obj, (old, before))
            rendered += 1
            dirty = blocks[entry[2]].dirty
            for i in every:
                if lines[i] != before[i]:
                    dirty.add(i)
            entry[0], entry[1] = obj, lines
        gone = [k for k, entry in entries.items() if entry[3] != generation]
        for k in gone:
            index = entries.pop(k)[2]
            block = blocks[index]
            if len(block.members) >= self.block:
                self._room.append(index)
            del block.members[k]
            block.dirty.update(every)
        compressed = 0
        for block in blocks:
            if not block.dirty:
                continue
            for i in block.dirty:
                block.segments[i] = segment("".join(entries[k][1][i] for k in block.members))
                compressed += 1
            block.dirty = set()
        self.rendered = rendered
        self.compressed = compressed

    def segments(self, family: int) -> list[Segment]:
        return [b.segments[family] for b in self._blocks if b.segments[family].size]
