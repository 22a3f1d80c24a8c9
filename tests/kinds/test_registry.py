"""Every registered kind is complete, and its parts fit the machinery that reads them.

A kind is added by its module and a registry line (README, "Adding a kind"):
these tests are what stops a half-written kind, before any informer or
answer meets it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import msgspec
import pytest

from kinds import KINDS, STORED, HealthSettings, Kind, KindSpec, Severity, missing_parts
from kinds.spec import untracked

STORED_SPECS = [pytest.param(spec, id=spec.name) for spec in STORED.values()]


def test_every_kind_name_has_a_stored_spec_and_back() -> None:
    assert set(STORED) == set(Kind)
    for kind, spec in STORED.items():
        assert spec.kind is kind
        assert KINDS[spec.name] is spec


def test_names_tables_and_metric_families_are_unique() -> None:
    tables = [spec.table for spec in STORED.values()]
    assert len(set(tables)) == len(tables)
    families = [f.name for spec in KINDS.values() for f in spec.metric_families]
    assert len(set(families)) == len(families)


@pytest.mark.parametrize("spec", STORED_SPECS)
def test_a_stored_kind_has_every_part(spec: KindSpec[Any]) -> None:
    assert missing_parts(spec) == []


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"analyzers": ()}, ["analyzers"]),
        ({"item": None}, ["item"]),
        ({"metric_families": ()}, ["metric_families"]),
        ({"signature": untracked}, ["signature"]),
        ({"table": ""}, ["table"]),
    ],
)
def test_a_kind_lacking_a_part_is_named(change: dict[str, Any], missing: list[str]) -> None:
    broken = dataclasses.replace(STORED[Kind.DEPLOYMENT], **change)
    assert missing_parts(broken) == missing


def _minimal_row(spec: KindSpec[Any]) -> Any:
    """The emptiest row the kind can have: identity only, every other field at its default."""
    assert spec.row_type is not None
    namespace = "ns" if spec.resource.namespaced else ""
    return spec.row_type(uid="u-1", namespace=namespace, name="x", resource_version="1")


@pytest.mark.parametrize("spec", STORED_SPECS)
def test_the_parts_of_a_kind_work_on_its_emptiest_row(spec: KindSpec[Any]) -> None:
    row = _minimal_row(spec)
    sig = spec.signature(row)
    hash(sig)  # the writer keeps signatures in sets and compares them
    fields = spec.fields(sig)
    assert fields
    assert all(isinstance(name, str) for name in fields)
    for field, value in fields.items():
        assert isinstance(spec.severity(field, value, sig), Severity)
        reason, message = spec.explain(field, value, row)
        assert isinstance(reason, str)
        assert isinstance(message, str)
    for analyzer in spec.analyzers:
        candidate = analyzer(row, HealthSettings())
        if candidate is not None:
            assert candidate.finding.kind is spec.kind
    state = spec.state(row, sig, 0)
    assert (state.namespace, state.name, state.signature) == (row.namespace, row.name, sig)
    assert spec.same_indexed(state, state)
    assert spec.item is not None
    msgspec.json.encode(spec.item(row, time.time()))  # an answer must serialize
    assert set(spec.filters) <= _field_names(spec)
    assert set(spec.indexed) <= _field_names(spec) | {"problem"}


def _field_names(spec: KindSpec[Any]) -> set[str]:
    assert spec.row_type is not None
    return {f.name for f in msgspec.structs.fields(spec.row_type)}


@pytest.mark.parametrize(
    "spec",
    [pytest.param(s, id=s.name) for s in STORED.values() if s.metric_samples is not None],
)
def test_samples_match_their_families(spec: KindSpec[Any]) -> None:
    assert spec.metric_samples is not None
    families = {f.name: f for f in spec.metric_families}
    samples = list(spec.metric_samples(_minimal_row(spec)))
    assert samples
    for name, labels, value in samples:
        assert name in families, name
        assert len(labels) == len(families[name].labels), name
        assert isinstance(value, int | float)


@pytest.mark.parametrize("spec", STORED_SPECS)
def test_kube_state_metrics_families_keep_its_markers(spec: KindSpec[Any]) -> None:
    for family in spec.metric_families:
        assert family.name.startswith("kube_"), family.name
        assert family.type in ("gauge", "counter")
        assert family.labels, family.name


def test_a_finding_of_every_kind_ranks_causes_first() -> None:
    """Nodes before workloads before pods: the health report's order of causes."""
    order = {kind: spec.report_order for kind, spec in STORED.items()}
    assert order[Kind.NODE] < order[Kind.DEPLOYMENT] < order[Kind.POD]
    assert all(order[Kind.NODE] <= o <= order[Kind.POD] for o in order.values())
