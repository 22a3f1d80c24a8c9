"""The few pieces of the exposition formats the cluster renderers write by hand.

prometheus_client spends about 14 µs per sample building and formatting
`Sample` tuples (measured: 2.8 s for 200k samples); kube-state-metrics-sized
output at 150k pods is millions of samples, so the cluster families are
written as text directly, about 1 µs per line. Label values are escaped as
both formats require (backslash, double quote, newline); values are integers
or short decimals, which both formats accept as they are.
"""

from __future__ import annotations

import math

from store import QuantityError, parse_quantity

__all__ = ["cores", "escape", "resource_value"]


def escape(value: str) -> str:
    """A label value, escaped; the common case (nothing to escape) returns it untouched."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def cores(millicores: int) -> str:
    """Millicores as cores, the unit kube-state-metrics uses ("250" -> "0.25", "2000" -> "2")."""
    whole, rest = divmod(millicores, 1000)
    return str(whole) if rest == 0 else repr(millicores / 1000)


def _sanitize(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)


def resource_value(resource: str, quantity: str) -> tuple[str, str, str] | None:
    """(label value, unit, sample value) of one node resource, or None to leave it out.

    The units and rounding are kube-state-metrics': cpu in cores (from
    millicores, rounded up), memory, storage, hugepages and attachable
    volumes in bytes, pods and extended resources (`vendor.com/gpu`) as
    integers; a resource that is none of those is not exported.
    """
    try:
        value = parse_quantity(quantity)
    except QuantityError:
        return None
    if resource == "cpu":
        return "cpu", "core", cores(math.ceil(value * 1000))
    if resource in ("memory", "storage", "ephemeral-storage") or resource.startswith(
        ("hugepages-", "attachable-volumes-")
    ):
        unit = "byte"
    elif resource == "pods" or ("/" in resource and "kubernetes.io/" not in resource):
        unit = "integer"
    else:
        return None
    return _sanitize(resource), unit, str(math.ceil(value))
