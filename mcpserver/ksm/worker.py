"""The agent's side of objects-mode rendering: a child process, or a thread if there is none.

`RenderWorker` starts `python -m mcpserver.ksm DB` on first use and
talks to it over its stdin/stdout (see `mcpserver.ksm.renderer` for why a
process, and for the protocol). Each request is one exchange done in a
worker thread: write the request, read frames until the reply ends. The
thread is never abandoned half-way (anyio does not cancel it), so a
cancelled scrape cannot leave a reply half-read on the pipe; a child that
does not answer within `timeout` is killed, which ends the exchange, and the
next request starts a new child. Requests are serialized by a lock: the
child renders one thing at a time anyway.

The child exits when its stdin closes — `aclose()`, the worker being
garbage-collected, the interpreter exiting (a `weakref.finalize` covers the
last two), or the agent dying. It runs in its own session, so a Ctrl-C
meant for the agent does not print a second traceback.

`LocalRenderer` runs the same `Renderer` in a thread of this process: the
fallback when no process can be started, and what tests use to look inside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO, Protocol

import anyio
import anyio.to_thread
import msgspec

import mcpserver
from mcpserver.errors import McpServerError
from mcpserver.ksm.renderer import (
    Built,
    Failure,
    ProtocolError,
    Renderer,
    RenderRequest,
    Scope,
    read_frame,
    write_frame,
)

__all__ = ["LocalRenderer", "ObjectsRenderer", "RenderFailed", "RenderUnavailable", "RenderWorker"]

log = logging.getLogger("kube_watchcache.metrics")

DEFAULT_TIMEOUT = 120.0  # seconds for one request (a cold 150k-pod build takes a few)


class RenderFailed(McpServerError):
    """A snapshot could not be built or rendered; the message says why."""


class RenderUnavailable(RenderFailed):
    """The renderer process cannot run here: the first one ended before its first answer."""


class ObjectsRenderer(Protocol):
    """What the collector needs from a renderer, wherever it runs."""

    async def build(self, scope: Scope = "all") -> Built: ...

    async def render(self, request: RenderRequest) -> list[bytes]: ...

    async def aclose(self) -> None: ...


_built = msgspec.msgpack.Decoder(Built)
_failure = msgspec.msgpack.Decoder(Failure)


def _failed(payload: bytes) -> RenderFailed:
    try:
        return RenderFailed(_failure.decode(payload).message)
    except msgspec.DecodeError:
        return RenderFailed("the metrics renderer failed and said nothing readable")


class LocalRenderer:
    """`Renderer` in a worker thread of this process (it then competes with ingestion)."""

    def __init__(self, path: Path, *, labels_allowlist: str = "") -> None:
        self.renderer = Renderer(path, labels_allowlist=labels_allowlist)
        self._lock = anyio.Lock()

    async def build(self, scope: Scope = "all") -> Built:
        async with self._lock:
            return await anyio.to_thread.run_sync(self.renderer.build, scope)

    async def render(self, request: RenderRequest) -> list[bytes]:
        async with self._lock:
            return await anyio.to_thread.run_sync(lambda: list(self.renderer.render(request)))

    async def aclose(self) -> None:
        async with self._lock:
            self.renderer.forget()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a child: close its stdin (it exits at once), kill it if it does not."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Child:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.finalizer = weakref.finalize(self, _stop, proc)
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.stdin: IO[bytes] = proc.stdin
        self.stdout: IO[bytes] = proc.stdout
        self.answered = False


class RenderWorker:
    """Objects-mode snapshots built and rendered by a child process reading the store file."""

    def __init__(
        self, path: Path, *, timeout: float = DEFAULT_TIMEOUT, labels_allowlist: str = ""
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.labels_allowlist = labels_allowlist
        self.starts = 0  # children started so far (a restart after a crash counts)
        self._child: _Child | None = None
        self._lock = anyio.Lock()

    @property
    def pid(self) -> int | None:
        return self._child.proc.pid if self._child is not None else None

    def _spawn(self) -> _Child:
        root = str(Path(mcpserver.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcpserver.ksm", str(self.path), self.labels_allowlist],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.starts += 1
        return _Child(proc)

    def _exchange(self, kind: bytes, payload: bytes) -> tuple[bytes, bytes, list[bytes]]:
        """One request and its reply: (reply type, payload, body chunks); blocking."""
        child = self._child
        if child is None:
            child = self._child = self._spawn()
        timer = threading.Timer(self.timeout, child.proc.kill)
        timer.daemon = True
        timer.start()
        try:
            write_frame(child.stdin, kind, payload)
            child.stdin.flush()
            chunks: list[bytes] = []
            while True:
                reply, body = read_frame(child.stdout)
                child.answered = True
                if reply != b"D":
                    return reply, body, chunks
                chunks.append(body)
        except (ProtocolError, OSError) as e:
            self._child = None
            child.finalizer()
            timed_out = not timer.is_alive()
            if self.starts == 1 and not child.answered and not timed_out:
                raise RenderUnavailable(
                    f"the metrics renderer process ended before answering (exit code "
                    f"{child.proc.returncode}); see its error output above"
                ) from e
            raise RenderFailed(
                f"the metrics renderer process {'did not answer in time' if timed_out else 'died'}"
                f" ({e}); a new one starts with the next scrape"
            ) from e
        finally:
            timer.cancel()

    async def _call(self, kind: bytes, payload: bytes = b"") -> tuple[bytes, bytes, list[bytes]]:
        async with self._lock:
            return await anyio.to_thread.run_sync(self._exchange, kind, payload)

    async def build(self, scope: Scope = "all") -> Built:
        reply, payload, _ = await self._call(b"B", b"" if scope == "all" else scope.encode())
        if reply != b"S":
            raise _failed(payload) if reply == b"X" else RenderFailed(f"unexpected {reply!r}")
        return _built.decode(payload)

    async def render(self, request: RenderRequest) -> list[bytes]:
        reply, payload, chunks = await self._call(b"R", msgspec.msgpack.encode(request))
        if reply != b"E":
            raise _failed(payload) if reply == b"X" else RenderFailed(f"unexpected {reply!r}")
        return chunks

    async def aclose(self) -> None:
        """Stop the child (the next request starts another)."""
        async with self._lock:
            child, self._child = self._child, None
            if child is not None:
                await anyio.to_thread.run_sync(child.finalizer)
