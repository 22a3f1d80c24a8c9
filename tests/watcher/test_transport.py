"""Splitting a watch body into lines: complete lines only, and never an unbounded one.

A stand-in for the response body is used because no real server sends a
64 MiB line on purpose; everything else about watch bodies is tested against
the simulator.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.watcher.conftest import ChunkedResponse
from watcher.errors import MalformedEventError
from watcher.transport import iter_line_batches

pytestmark = pytest.mark.anyio


async def _lines(chunks: list[bytes], **kwargs: Any) -> list[memoryview]:
    out: list[memoryview] = []
    async for batch in iter_line_batches(ChunkedResponse(chunks), **kwargs):  # type: ignore[arg-type]
        out.extend(batch)
    return out


async def test_lines_across_chunks_and_a_dropped_partial_tail() -> None:
    chunks = [b'{"a":', b"1}\n{", b'"b":2}\n\n{"c"']
    assert await _lines(chunks) == [b'{"a":1}', b'{"b":2}']


async def test_a_line_without_end_is_refused_past_the_cap() -> None:
    with pytest.raises(MalformedEventError, match="longer than 16 bytes"):
        await _lines([b"x" * 10, b"y" * 10, b"z\n"], max_line_bytes=16)


async def test_the_cap_counts_only_the_pending_line() -> None:
    chunks = [b"a" * 10, b"\n" + b"b" * 4, b"c" * 10, b"\n"]
    assert await _lines(chunks, max_line_bytes=16) == [b"a" * 10, b"b" * 4 + b"c" * 10]


async def test_blank_lines_of_any_length_are_skipped() -> None:
    chunks = [b'\n \n\r\n    \t  \n{"a":1}\n   ', b'  \n{"b":', b"2}\n"]
    assert await _lines(chunks) == [b'{"a":1}', b'{"b":2}']


async def test_a_line_across_three_chunks_then_lines_of_the_last() -> None:
    chunks = [b'{"a', b'":"x', b'"}\n{"b":2}\n{"c":3}\n']
    lines = await _lines(chunks)
    assert [bytes(line) for line in lines] == [b'{"a":"x"}', b'{"b":2}', b'{"c":3}']
