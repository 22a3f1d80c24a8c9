"""Label selectors: Kubernetes' syntax, clear errors, and SQL that agrees with Python."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import InvalidSelector, parse_selector
from store.selector import Requirement, Selector


@pytest.mark.parametrize(
    ("text", "requirements"),
    [
        ("", ()),
        ("app=web", (Requirement("app", "=", ("web",)),)),
        ("app == web", (Requirement("app", "=", ("web",)),)),
        ("tier!=db", (Requirement("tier", "!=", ("db",)),)),
        ("env in (prod, staging)", (Requirement("env", "in", ("prod", "staging")),)),
        ("env notin (dev)", (Requirement("env", "notin", ("dev",)),)),
        ("canary", (Requirement("canary", "exists"),)),
        ("!legacy", (Requirement("legacy", "!"),)),
        ("app.kubernetes.io/name=nginx", (Requirement("app.kubernetes.io/name", "=", ("nginx",)),)),
        ("release=", (Requirement("release", "=", ("",)),)),
        (
            "app=web,tier!=db,!legacy,env in (a,b)",
            (
                Requirement("app", "=", ("web",)),
                Requirement("tier", "!=", ("db",)),
                Requirement("legacy", "!"),
                Requirement("env", "in", ("a", "b")),
            ),
        ),
    ],
)
def test_parses_kubectl_syntax(text: str, requirements: tuple[Requirement, ...]) -> None:
    assert parse_selector(text).requirements == requirements


@pytest.mark.parametrize(
    "text",
    [
        "=web",
        "app=web,",
        "app in ()",
        "app in (a b)",
        "app in a",
        "app=we b",
        "-bad=x",
        "app=-x",
        "a" * 64 + "=x",
        "app=" + "v" * 64,
        "app>3",
        "UPPER.example.com/x=y",
        "!",
    ],
)
def test_rejects_malformed_selectors_clearly(text: str) -> None:
    with pytest.raises(InvalidSelector, match="selector"):
        parse_selector(text)


_keys = st.sampled_from(["app", "tier", "env", "app.kubernetes.io/name", "x"])
_values = st.sampled_from(["web", "db", "prod", "a-1", "", "v.2"])
_requirements = st.one_of(
    st.builds(lambda k, v: Requirement(k, "=", (v,)), _keys, _values),
    st.builds(lambda k, v: Requirement(k, "!=", (v,)), _keys, _values),
    st.builds(
        lambda k, vs: Requirement(k, "in", tuple(vs)),
        _keys,
        st.lists(_values.filter(bool), min_size=1, max_size=3),
    ),
    st.builds(
        lambda k, vs: Requirement(k, "notin", tuple(vs)),
        _keys,
        st.lists(_values.filter(bool), min_size=1, max_size=3),
    ),
    st.builds(lambda k: Requirement(k, "exists"), _keys),
    st.builds(lambda k: Requirement(k, "!"), _keys),
)
_selectors = st.builds(lambda rs: Selector(tuple(rs)), st.lists(_requirements, max_size=4))
_labels = st.dictionaries(_keys, _values, max_size=4)


@given(_selectors)
def test_printing_and_parsing_round_trip(selector: Selector) -> None:
    assert parse_selector(str(selector)) == selector


@settings(max_examples=150)
@given(_selectors, st.lists(_labels, min_size=1, max_size=6))
def test_sql_and_python_agree(selector: Selector, label_sets: list[dict[str, str]]) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER, labels TEXT)")
    db.executemany(
        "INSERT INTO t VALUES (?, ?)", [(i, json.dumps(ls)) for i, ls in enumerate(label_sets)]
    )
    where, params = selector.sql("labels")
    got = {row[0] for row in db.execute(f"SELECT id FROM t WHERE {where}", params)}
    assert got == {i for i, ls in enumerate(label_sets) if selector.matches(ls)}
    db.close()


def test_negative_requirements_match_objects_without_the_key() -> None:
    assert parse_selector("tier!=db").matches({})
    assert parse_selector("tier notin (db)").matches({"app": "x"})
    assert not parse_selector("tier in (db)").matches({})
