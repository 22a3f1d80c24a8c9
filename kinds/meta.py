"""What every kind shares: the object envelope, metadata, conditions, quantities.

Objects are decoded once from the response bytes into `KubeObject`, whose
`spec` and `status` stay `msgspec.Raw`: the decoder skips over them without
building anything, each kind's `normalize` then decodes just the fields it
needs from them, and the same struct encodes straight back into the trimmed
object for the store (`managedFields` is simply not a field, so it is skipped
on the way in and absent on the way out; the raw subtrees are copied verbatim).
The same envelope reads watch ERROR events, whose `Status` object carries
`code`, `reason` and `message` at the top level.

Every decoding struct of every kind is declared `gc=False`: they live for one
event and never sit in a reference cycle, so the cyclic garbage collector need
not track the dozens of them each event allocates (tracking them is what
makes it run, and each run walks the young objects of the whole process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

import msgspec

from kinds.common import Condition
from kinds.quantity import QuantityError, cpu_millicores, memory_bytes

__all__ = [
    "INITIAL_EVENTS_END",
    "ConditionIn",
    "KubeObject",
    "ListMeta",
    "ObjectList",
    "ObjectMeta",
    "OwnerReference",
    "Resource",
    "WatchEvent",
    "conditions_by_type",
    "controller_of",
    "cpu_m",
    "encode_object",
    "memory_b",
    "quantity_int",
]

# The annotation on the bookmark that ends a streaming list's initial events.
INITIAL_EVENTS_END: Final = "k8s.io/initial-events-end"

Quantity = str | int | float


@dataclasses.dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    kind: str  # "Pod"
    plural: str  # "pods"
    group_version: str  # "v1", "apps/v1"
    namespaced: bool

    def path(self, namespace: str | None = None) -> str:
        """The collection URL path, cluster-wide or in one namespace."""
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


class OwnerReference(msgspec.Struct, gc=False, rename="camel", omit_defaults=True):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(msgspec.Struct, gc=False, rename="camel", omit_defaults=True):
    """ObjectMeta without managedFields (the bulk of most objects, useless to us)."""

    name: str = ""
    generate_name: str | None = None
    namespace: str | None = None
    self_link: str | None = None
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None


class KubeObject(msgspec.Struct, gc=False, rename="camel", omit_defaults=True):
    """Any object (or a watch ERROR's Status): metadata decoded, spec/status kept raw."""

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    # Raw cannot sit in a union; an empty Raw (falsy, omitted on encode) means absent.
    spec: msgspec.Raw = msgspec.Raw()
    status: msgspec.Raw = msgspec.Raw()
    # Only in a Status object (watch ERROR events).
    code: int | None = None
    reason: str | None = None
    message: str | None = None


class WatchEvent(msgspec.Struct, gc=False):
    type: str
    object: KubeObject


class ListMeta(msgspec.Struct, gc=False, rename="camel"):
    resource_version: str = ""
    # `continue` is a keyword in no language we care about but Python.
    continue_: str | None = msgspec.field(default=None, name="continue")
    remaining_item_count: int | None = None


class ObjectList(msgspec.Struct, gc=False):
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[KubeObject] = []


_encoder = msgspec.json.Encoder()
# Encoding into one reused buffer and copying out gives bytes of exactly the
# encoded length: `Encoder.encode` returns a bytes object that keeps its
# growth headroom (about 1.5x), which 150k stored objects would pay for.
_buffer = bytearray()


def encode_object(obj: KubeObject, resource: Resource) -> bytes:
    """The trimmed object as compact JSON; list items get their kind/apiVersion back."""
    if not obj.kind:
        obj.kind = resource.kind
        obj.api_version = resource.group_version
    _encoder.encode_into(obj, _buffer)
    return bytes(_buffer)


def controller_of(meta: ObjectMeta) -> OwnerReference | None:
    """The owner reference with controller=true, as controllers and kubectl pick it."""
    for ref in meta.owner_references or ():
        if ref.controller:
            return ref
    return None


class ConditionIn(msgspec.Struct, gc=False, rename="camel"):
    type: str = ""
    status: str = "Unknown"
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


def conditions_by_type(conditions: list[ConditionIn]) -> dict[str, Condition]:
    return {
        c.type: Condition(
            status=c.status,
            reason=c.reason or None,
            message=c.message or None,
            last_transition=c.last_transition_time,
        )
        for c in conditions
        if c.type
    }


# Quantities repeat endlessly ("100m", "128Mi"); parsing them exactly (Fractions)
# costs microseconds, a dict lookup nanoseconds. Bounded so hostile input cannot
# grow it without limit.
_CACHE_LIMIT = 4096
_cpu_cache: dict[Quantity, int | None] = {}
_mem_cache: dict[Quantity, int | None] = {}


def _parse_into(
    cache: dict[Quantity, int | None], q: Quantity, parse: Callable[[str], int]
) -> int | None:
    """Parse a quantity not in `cache` yet, and remember it."""
    try:
        value: int | None = parse(str(q))
    except QuantityError:
        # The API server validates quantities, so this is a foreign server's
        # bug; the row keeps the rest of the object instead of losing it.
        value = None
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[q] = value
    return value


# The lookups are inlined in each function (not one shared helper): they run
# four times per container of every pod event, and a call is most of their cost.
def cpu_m(q: Quantity | None) -> int | None:
    """CPU in millicores (None when absent or unreadable)."""
    if q is None:
        return None
    try:
        return _cpu_cache[q]
    except KeyError:
        return _parse_into(_cpu_cache, q, cpu_millicores)


def memory_b(q: Quantity | None) -> int | None:
    """Bytes (None when absent or unreadable)."""
    if q is None:
        return None
    try:
        return _mem_cache[q]
    except KeyError:
        return _parse_into(_mem_cache, q, memory_bytes)


def quantity_int(q: Quantity | None) -> int | None:
    """A plain count such as `pods: "110"`, rounded up."""
    return memory_b(q)
