"""The public surface other packages build on: exported names and the DeltaSink contract."""

from __future__ import annotations

import inspect

import store
from store.model import DeltaSink


def test_every_exported_name_exists() -> None:
    assert sorted(store.__all__) == sorted(set(store.__all__))
    for name in store.__all__:
        assert getattr(store, name) is not None, name


def test_the_writer_implements_the_delta_sink_protocol() -> None:
    for method in ("put", "replace", "sync"):
        ours = inspect.signature(getattr(store.Writer, method))
        contract = inspect.signature(getattr(DeltaSink, method))
        assert list(ours.parameters) == list(contract.parameters), method
        assert inspect.iscoroutinefunction(getattr(store.Writer, method))
