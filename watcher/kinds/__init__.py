"""One module per Kubernetes kind, each exporting the same names, gathered in `KINDS`.

Every kind module exports `RESOURCE` (where it lives in the API), `STORE_KIND`
(the store's `Kind`, or None for kinds watched only for linking) and
`normalize(obj, *, reveal_env_values=False) -> row`, plus its decoding
structs. The informers are driven by this registry: adding a kind is a new
module and one line here. Normalizing redacts literal env values before
anything is stored (`watcher.kinds.redaction`); `KindSpec.configured` gives
the variant that keeps them, for an operator who opts in.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from store.model import Kind
from watcher.kinds import deployments, nodes, pods, replicasets
from watcher.kinds.meta import KubeObject, Resource
from watcher.kinds.redaction import REDACTED

__all__ = ["DEFAULT_KINDS", "KINDS", "REDACTED", "KindSpec"]

R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class KindSpec(Generic[R]):
    """What an informer needs to know about one kind."""

    resource: Resource
    store_kind: Kind | None
    normalize: Callable[[KubeObject], R]
    # The same, keeping literal env values (--reveal-env-values).
    normalize_revealing: Callable[[KubeObject], R]

    @property
    def name(self) -> str:
        return self.resource.plural

    def configured(self, *, reveal_env_values: bool) -> KindSpec[R]:
        """This kind as an informer runs it: redacting env values unless told to keep them."""
        if not reveal_env_values:
            return self
        return dataclasses.replace(self, normalize=self.normalize_revealing)


KINDS: dict[str, KindSpec[Any]] = {
    m.RESOURCE.plural: KindSpec(
        resource=m.RESOURCE,
        store_kind=m.STORE_KIND,
        normalize=m.normalize,
        normalize_revealing=functools.partial(m.normalize, reveal_env_values=True),
    )
    for m in (pods, deployments, nodes, replicasets)
}

# What the agent watches unless told otherwise; replicasets come along with
# pods (to link them to deployments) whenever both pods and deployments run.
DEFAULT_KINDS: tuple[str, ...] = ("pods", "deployments", "nodes")
