"""The quantity parser: Kubernetes' documented examples, exactness, round trips, ordering."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinds.quantity import (
    QuantityError,
    cpu_millicores,
    format_quantity,
    memory_bytes,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Fraction(1, 10)),
        ("0.1", Fraction(1, 10)),
        ("1Gi", 1073741824),
        ("1G", 10**9),
        ("129e6", 129_000_000),
        ("129M", 129_000_000),
        ("128974848", 128974848),
        ("123Mi", 123 * 2**20),
        ("0.5", Fraction(1, 2)),
        ("1E-3", Fraction(1, 1000)),
        ("1e3", 1000),
        ("1E", 10**18),
        ("2Ei", 2 * 2**60),
        ("1.5Ki", 1536),
        ("-1", -1),
        ("+2k", 2000),
        ("5.", 5),
        (".5", Fraction(1, 2)),
        ("10n", Fraction(1, 10**8)),
        ("3u", Fraction(3, 10**6)),
    ],
)
def test_documented_examples(text: str, expected: Fraction | int) -> None:
    assert parse_quantity(text) == expected


def test_sums_are_exact_where_floats_are_not() -> None:
    assert sum((parse_quantity("0.1") for _ in range(3)), Fraction(0)) == parse_quantity("300m")
    assert 0.1 + 0.1 + 0.1 != 0.3  # the reason the parser is not float-based


@pytest.mark.parametrize(
    ("text", "millicores"),
    [("100m", 100), ("1", 1000), ("0.5", 500), ("1.0001m", 2), ("250u", 1), ("2e-3", 2)],
)
def test_cpu_millicores_rounds_up(text: str, millicores: int) -> None:
    assert cpu_millicores(text) == millicores


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("1Gi", 2**30), ("128974848", 128974848), ("129e6", 129 * 10**6), ("0.5", 1), ("1m", 1)],
)
def test_memory_bytes_rounds_up(text: str, nbytes: int) -> None:
    assert memory_bytes(text) == nbytes


@pytest.mark.parametrize(
    "text",
    ["", " ", "abc", "1KiB", "1 Gi", "1ki", "1e", "e3", "1.2.3", "--1", "1Mi3", "0x10", "1e1000"],
)
def test_malformed_input_is_a_clear_error(text: str) -> None:
    with pytest.raises(QuantityError, match="invalid quantity"):
        parse_quantity(text)


def test_non_string_is_rejected() -> None:
    with pytest.raises(QuantityError, match="must be a string"):
        parse_quantity(5)  # type: ignore[arg-type]


_SUFFIXES = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u"]
_quantities = st.builds(
    lambda sign, whole, frac, suffix: f"{sign}{whole}{'.' + frac if frac else ''}{suffix}",
    st.sampled_from(["", "+", "-"]),
    st.integers(min_value=0, max_value=10**6),
    st.text(alphabet="0123456789", max_size=4),
    st.sampled_from(_SUFFIXES),
)
# Values with a finite decimal expansion down to nano: the ones a quantity can spell.
_exact = st.builds(
    lambda n, scale: Fraction(n, 10**scale), st.integers(-(10**12), 10**12), st.integers(0, 9)
)


@given(_exact, st.booleans())
def test_format_round_trips(value: Fraction, binary: bool) -> None:
    assert parse_quantity(format_quantity(value, binary=binary)) == value


@given(_quantities)
def test_parse_is_stable_through_format(text: str) -> None:
    value = parse_quantity(text)
    if (value * 10**9).denominator == 1:
        assert parse_quantity(format_quantity(value)) == value


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9), st.sampled_from(_SUFFIXES))
def test_ordering_follows_the_numbers(a: int, b: int, suffix: str) -> None:
    qa, qb = parse_quantity(f"{a}{suffix}"), parse_quantity(f"{b}{suffix}")
    assert (qa < qb) == (a < b)
    assert (qa == qb) == (a == b)


@given(st.integers(0, 10**6))
def test_binary_and_decimal_units_order_consistently(n: int) -> None:
    assert parse_quantity(f"{n}Ki") >= parse_quantity(f"{n}k")
    assert parse_quantity(f"{n}Mi") == parse_quantity(f"{n * 1024}Ki")
    assert cpu_millicores(f"{n}m") == n
    assert memory_bytes(f"{n}Ki") == n * 1024
