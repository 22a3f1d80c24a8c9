"""Compressed segments join into one standard gzip stream; blocks recompress only what changed."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpserver.ksm.blocks import BlockCache, crc32_combine, gzip_body, segment
from mcpserver.ksm.objects import _pod_fragments
from store.snapshot import OwnerRef, PodMetrics
from tests.store.factories import container, crash_looping

texts = st.lists(st.text(max_size=300), max_size=12)


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_crc32_combine_is_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@settings(max_examples=60)
@given(texts, st.integers(min_value=1, max_value=4096))
def test_joined_segments_are_one_gzip_stream_of_the_joined_text(
    parts: list[str], chunk: int
) -> None:
    body = list(gzip_body([segment(p) for p in parts], chunk=chunk))
    expected = "".join(parts).encode()
    assert gzip.decompress(b"".join(body)) == expected  # checks the CRC and the length
    # The way HTTP clients inflate it (httpx: one decompressobj, chunk by chunk), nothing left.
    inflater = zlib.decompressobj(31)
    out = b"".join(inflater.decompress(c) for c in body) + inflater.flush()
    assert out == expected
    assert inflater.eof
    assert not inflater.unused_data
    assert all(len(c) >= chunk for c in body[:-1])


def _lines(item: tuple[str, int, int], previous: object = None) -> tuple[str, ...]:
    name, a, b = item
    return (f'a{{o="{name}"}} {a}\n', f'b{{o="{name}"}} {b}\n')


def _text(cache: BlockCache[tuple[str, int, int]]) -> str:
    body = b"".join(gzip_body([*cache.segments(0), *cache.segments(1)], chunk=1 << 16))
    return gzip.decompress(body).decode()


def test_blocks_follow_adds_changes_and_deletes_and_recompress_only_changed_families() -> None:
    cache = BlockCache[tuple[str, int, int]](families=2, key=lambda o: o[0], make=_lines, block=4)
    objects = [(f"o{i}", i, 0) for i in range(10)]
    cache.update(objects)
    assert (cache.rendered, cache.compressed) == (10, 6)  # 3 blocks, 2 families each
    assert sorted(_text(cache).splitlines()) == sorted(
        line.rstrip("\n") for o in objects for line in _lines(o)
    )

    cache.update(list(objects))
    assert (cache.rendered, cache.compressed) == (0, 0)

    objects[5] = ("o5", 5, 99)  # only family b of o5's block changes
    cache.update(objects)
    assert (cache.rendered, cache.compressed) == (1, 1)
    assert 'b{o="o5"} 99' in _text(cache).splitlines()

    del objects[2]
    objects.append(("new", 1, 1))
    cache.update(objects)
    assert len(cache) == 10
    assert cache.rendered == 1
    assert cache.compressed == 4  # o2's block and the one "new" joined, both families each
    lines = _text(cache).splitlines()
    assert 'a{o="o2"} 2' not in lines
    assert 'a{o="new"} 1' in lines
    assert len(lines) == 20

    cache.update([])
    assert _text(cache) == ""
    assert cache.segments(0) == []


def _pod(**kw: object) -> PodMetrics:
    base: dict[str, object] = {
        "uid": "u-1",
        "resource_version": "1",
        "namespace": "shop",
        "name": "web-1",
        "node": "node-a",
        "phase": "Running",
        "ready": "True",
        "containers": (container(), container("sidecar", cpu_limit_m=None)),
        "pod_ip": "10.0.0.1",
        "host_ip": "10.1.0.1",
        "priority_class": "",
        "host_network": False,
        "owners": (OwnerRef(kind="ReplicaSet", name="web-7d", controller=True),),
    }
    base.update(kw)
    return PodMetrics(**base)  # type: ignore[arg-type]


_CHANGES: list[dict[str, object]] = [
    {},
    {"resource_version": "2", "containers": (container(restarts=3), container("sidecar"))},
    {"node": "node-b"},
    {"host_ip": "10.1.0.2", "pod_ip": "10.0.0.9"},
    {"owners": ()},
    {"priority_class": "high", "host_network": True},
    {"phase": "Failed", "ready": "False"},
    {"containers": (crash_looping(),)},
    {"containers": (container(cpu_request_m=1500, memory_limit_bytes=None),)},
    {"containers": (container(init=True), container())},
]


@given(st.sampled_from(_CHANGES), st.sampled_from(_CHANGES))
def test_a_pod_rendered_from_its_previous_version_is_rendered_as_from_scratch(
    first: dict[str, object], second: dict[str, object]
) -> None:
    old, new = _pod(**first), _pod(**second)
    assert _pod_fragments(new, (old, _pod_fragments(old))) == _pod_fragments(new)
