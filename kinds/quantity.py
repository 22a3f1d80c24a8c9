"""Kubernetes resource quantities ("100m", "1Gi", "129e6"), parsed exactly.

Requests and limits are summed per namespace and node and compared with node
allocatable; float parsing would make `3 x 0.1` differ from `300m`, so values
are `fractions.Fraction` and the canonical integer units (millicores, bytes)
are rounded *up*, as the API server's `MilliValue()` / `Value()` do.

The grammar is apimachinery's:

    quantity        ::= signedNumber suffix
    signedNumber    ::= [+-] numericValue
    numericValue    ::= digits | digits "." digits | digits "." | "." digits
    suffix          ::= binarySI | decimalSI | decimalExponent
    binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI       ::= n | u | m | "" | k | M | G | T | P | E
    decimalExponent ::= ("e" | "E") [+-] digits
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = [
    "QuantityError",
    "cpu_millicores",
    "format_quantity",
    "memory_bytes",
    "parse_quantity",
]


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity.

    A ValueError so that callers normalizing many fields can catch one family;
    it also subclasses nothing from the store's StoreError on purpose: a bad
    quantity is the object's problem, not the store's.
    """


_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

_QUANTITY = re.compile(
    r"""
    (?P<sign>[+-])?
    (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
    (?:
        (?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)
      | [eE](?P<exponent>[+-]?[0-9]+)
      | (?P<decimal>[numkMGTPE]?)
    )
    """,
    re.VERBOSE,
)

# An exponent this large is not a resource amount; refusing it keeps a hostile
# "1e999999999" from building a gigantic integer.
_MAX_EXPONENT = 100


def parse_quantity(text: str) -> Fraction:
    """Parse a quantity into its exact value, in the base unit (cores, bytes)."""
    if not isinstance(text, str):
        raise QuantityError(f"quantity must be a string, got {type(text).__name__}")
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise QuantityError(f"invalid quantity {text!r}: expected e.g. '100m', '1Gi', '1.5', '2e3'")
    value = Fraction(match["number"])
    if match["binary"] is not None:
        value *= 1024 ** _BINARY[match["binary"]]
    else:
        if match["exponent"] is not None:
            power = int(match["exponent"])
            if abs(power) > _MAX_EXPONENT:
                raise QuantityError(f"invalid quantity {text!r}: exponent {power} out of range")
        else:
            power = _DECIMAL[match["decimal"] or ""]
        value *= Fraction(10) ** power
    return -value if match["sign"] == "-" else value


def cpu_millicores(text: str) -> int:
    """CPU in millicores, rounded up ("1.0001m" -> 2), as the API server does."""
    return math.ceil(parse_quantity(text) * 1000)


def memory_bytes(text: str) -> int:
    """Memory (or any byte amount) in bytes, rounded up ("0.5" -> 1)."""
    return math.ceil(parse_quantity(text))


def format_quantity(value: Fraction | int, *, binary: bool = False) -> str:
    """A compact exact rendering that `parse_quantity` reads back to `value`.

    Used by summaries to print canonical amounts; not byte-identical to the
    API server's canonical form (which also rounds), but always exact.
    """
    value = Fraction(value)
    if value.denominator == 1:
        number = value.numerator
        if binary and number != 0:
            for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
                unit = 1024**power
                if number % unit == 0:
                    return f"{number // unit}{suffix}"
        if number != 0:
            for suffix, power in sorted(_DECIMAL.items(), key=lambda kv: -kv[1]):
                if power > 0 and number % 10**power == 0:
                    return f"{number // 10**power}{suffix}"
        return str(number)
    for suffix in ("m", "u", "n"):
        scaled = value * 10 ** (-_DECIMAL[suffix])
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    # Not representable with a suffix: a decimal exponent is exact only when
    # the denominator divides a power of ten; otherwise fall back to nano
    # precision would lose exactness, so say so.
    raise QuantityError(f"{value} has no exact quantity form (finer than 1n)")
