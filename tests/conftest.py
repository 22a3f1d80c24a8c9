"""Shared fixtures. Async tests run on anyio's pytest plugin, asyncio backend.

Every anyio test is also checked for leaked tasks: a task started on the test's
event loop after its setup (by the test, by what it called, by a fixture's
teardown) and still pending once the test and its fixtures have been torn down
fails the test at teardown, with the leaked coroutines named, and is cancelled.
The check holds a lease on anyio's test runner from the end of setup to the end
of teardown, so the event loop is still open (anyio would otherwise close it and
cancel those tasks silently); it snapshots the loop's tasks after setup, and
after teardown gives the new tasks a short grace to finish (a server noticing a
closed connection takes a few loop turns) before calling them leaked. Tasks
started by wider-scoped fixtures before the test are in the snapshot and not the
test's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
from collections.abc import Generator

import pytest
from anyio.pytest_plugin import extract_backend_and_options, get_runner

# A bug in a kind's parts crashes the store under test instead of being logged and counted
# (store.memory.STRICT_ENV); agents started as subprocesses inherit it.
os.environ.setdefault("KUBE_WATCHCACHE_STRICT", "1")

# How long tasks started during a test get to finish after its teardown: a
# hang guard, not a timing target — a task that ends sooner ends the wait.
LEAK_GRACE_SECONDS = 5.0

# Tasks a library starts once per event loop and keeps for the loop's life, by
# (module, qualified name) of their coroutine: not a test's leak.
LOOP_LIFETIME_TASKS = {
    # anyio's runner task, which runs the tests and fixtures themselves.
    ("anyio._backends._asyncio", "TestRunner._run_tests_and_fixtures"),
    # sse-starlette's per-thread watcher of server shutdown, started by the first
    # SSE response on a loop (the MCP SDK's streamable HTTP uses it).
    ("sse_starlette.sse", "_shutdown_watcher"),
}

_LEASE = pytest.StashKey[contextlib.ExitStack]()
_BEFORE = pytest.StashKey["tuple[asyncio.AbstractEventLoop, set[asyncio.Task[object]]]"]()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _is_anyio_test(item: pytest.Item) -> bool:
    return (
        isinstance(item, pytest.Function)
        and inspect.iscoroutinefunction(item.function)
        and "anyio_backend" in item.funcargs
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    yield
    if not _is_anyio_test(item):
        return
    assert isinstance(item, pytest.Function)
    backend, options = extract_backend_and_options(item.funcargs["anyio_backend"])
    if backend != "asyncio":
        return
    lease = contextlib.ExitStack()
    runner = lease.enter_context(get_runner(backend, options))
    item.stash[_LEASE] = lease
    loop = runner.get_loop()  # type: ignore[attr-defined]
    item.stash[_BEFORE] = (loop, asyncio.all_tasks(loop))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    lease = item.stash.get(_LEASE, None)
    if lease is None:
        return result
    with lease:  # described before the lease ends: closing the runner cancels them
        loop, before = item.stash[_BEFORE]
        left = _tasks_left(loop, before)
        leaked = _describe(left)
        _cancel(loop, left)  # so that they disturb no later test sharing the loop
    if leaked:
        raise pytest.fail.Exception(leaked, pytrace=False)
    return result


def _tasks_left(
    loop: asyncio.AbstractEventLoop, before: set[asyncio.Task[object]]
) -> list[asyncio.Task[object]]:
    """Tasks started since `before` and still pending after a grace to finish."""
    new = {
        t
        for t in asyncio.all_tasks(loop) - before
        if _coro_id(t.get_coro()) not in LOOP_LIFETIME_TASKS
    }
    if new and not loop.is_closed():
        loop.run_until_complete(asyncio.wait(new, timeout=LEAK_GRACE_SECONDS))
    left = [t for t in new if not t.done()]
    return sorted(left, key=lambda t: t.get_name())


def _cancel(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=LEAK_GRACE_SECONDS))


def _coro_id(coro: object) -> tuple[str, str]:
    frame = getattr(coro, "cr_frame", None)
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    return module, getattr(coro, "__qualname__", "")


def _describe(tasks: list[asyncio.Task[object]]) -> str:
    if not tasks:
        return ""
    lines = [f"{len(tasks)} asyncio task(s) still running after the test and its teardown:"]
    for task in tasks:
        coro = task.get_coro()
        name = ".".join(part for part in _coro_id(coro) if part) or repr(coro)
        lines.append(f"  {task.get_name()}: {name}{_suspended_at(coro)}")
    return "\n".join(lines)


def _suspended_at(coro: object) -> str:
    """The chain of coroutines `coro` awaits and where the innermost one waits."""
    chain, where = [], ""
    while (frame := getattr(coro, "cr_frame", None)) is not None:
        chain.append(getattr(coro, "__qualname__", "?"))
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        coro = getattr(coro, "cr_await", None)
    return f", awaiting {' > '.join(chain[1:])} at {where}" if len(chain) > 1 else ""
