"""A kind whose parts fail on a row: loud in tests, logged and counted in production.

The store runs each kind's parts (`KindSpec.signature`, analyzers, ...) on
every row. A failure there is a bug in the kind's module: under the test
suite (`KUBE_WATCHCACHE_STRICT=1`) it crashes the writer, and the store with
it; in production
it is an error-level log line with the traceback and a count, and the other
rows of the batch are stored.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from kinds import STORED
from store import Delta, Kind, open_store
from store.memory import STRICT_ENV

from .factories import deployment, pod

pytestmark = pytest.mark.anyio


def _broken_signature(row: Any) -> tuple[Any, ...]:
    raise RuntimeError("a bug in the kind's module")


@pytest.fixture
def broken_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(STORED[Kind.DEPLOYMENT], signature=_broken_signature)
    monkeypatch.setitem(STORED, Kind.DEPLOYMENT, spec)


@pytest.mark.usefixtures("broken_deployments")
async def test_in_production_the_row_is_logged_counted_and_the_rest_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)
    async with open_store(tmp_path / "s.db") as store:
        with caplog.at_level(logging.ERROR, logger="store"):
            await store.writer.apply(
                [Delta(Kind.DEPLOYMENT, "ADDED", deployment()), Delta(Kind.POD, "ADDED", pod())]
            )
        assert store.writer.dropped_rows == 1
        assert await store.reader.get_deployment("shop", "web") is None
        assert await store.reader.get_pod("shop", pod().name) is not None
    (record,) = [r for r in caplog.records if "cannot store Deployment shop/web" in r.message]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None  # the traceback says where the bug is


@pytest.mark.usefixtures("broken_deployments")
async def test_under_the_test_suite_it_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(BaseExceptionGroup) as crashed:
        async with open_store(tmp_path / "s.db") as store:
            await store.writer.apply([Delta(Kind.DEPLOYMENT, "ADDED", deployment())])
    # The writer task fails, and with it the store: the test that met the bug fails.
    assert crashed.group_contains(RuntimeError, match="a bug in the kind's module")
