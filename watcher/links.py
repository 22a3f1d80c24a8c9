"""Which Deployment each pod belongs to, through its ReplicaSet.

A pod names its ReplicaSet; only the ReplicaSet names the Deployment. We keep
one tiny entry per ReplicaSet (namespace, name -> deployment or None), never
the objects. A pod is normalized with the deployment derived from its
`pod-template-hash` (right for every ReplicaSet a Deployment made); when its
ReplicaSet is known, the known owner wins. A pod whose ReplicaSet has not
been seen yet is remembered (bounded) until it is: if the ReplicaSet's real
owner differs from the derived one, the pod is sent again, corrected.

Ordering: a correction must never overwrite a newer version of the pod. The
pod path (resolve + put) and the correction path (learn ReplicaSet + put
corrections) both run under `lock`, so whatever version is remembered is the
latest one sent, and a newer pod version clears it before the lock is let go.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import anyio
import msgspec

from kinds.replicaset import ReplicaSetLink
from store.model import PodRow
from watcher.stats import WatchStats

__all__ = ["DeploymentLinks"]

log = logging.getLogger(__name__)

_RsKey = tuple[str, str]


class DeploymentLinks:
    """The ReplicaSet -> Deployment map and the pods waiting for it."""

    def __init__(self, *, pending_limit: int, stats: WatchStats) -> None:
        self.lock = anyio.Lock(fast_acquire=True)
        self.synced = anyio.Event()
        self._owners: dict[_RsKey, str | None] = {}
        self._pending: OrderedDict[str, PodRow] = OrderedDict()
        self._pending_by_rs: dict[_RsKey, set[str]] = {}
        self._limit = pending_limit
        self._stats = stats

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __len__(self) -> int:
        return len(self._owners)

    # -- the pod side (call under `lock`) --------------------------------------------

    def resolve(self, row: PodRow) -> PodRow:
        """The row with its deployment settled as far as is known now."""
        self._unpend(row.uid)
        if row.owner_kind != "ReplicaSet" or not row.owner_name:
            return row
        key = (row.namespace, row.owner_name)
        try:
            deployment = self._owners[key]
        except KeyError:
            self._pend(key, row)
            return row
        if deployment != row.deployment:
            row = msgspec.structs.replace(row, deployment=deployment)
        return row

    def forget(self, uid: str) -> None:
        """A pod was deleted."""
        self._unpend(uid)

    def forget_pending(self, namespace: str | None = None) -> None:
        """A pod relist is about to resolve every pod (of `namespace`) again."""
        if namespace is None:
            self._pending.clear()
            self._pending_by_rs.clear()
            return
        for uid in [u for u, r in self._pending.items() if r.namespace == namespace]:
            self._unpend(uid)

    def _pend(self, key: _RsKey, row: PodRow) -> None:
        self._pending[row.uid] = row
        self._pending_by_rs.setdefault(key, set()).add(row.uid)
        while len(self._pending) > self._limit:
            uid, _ = self._pending.popitem(last=False)
            self._drop_index(uid, _)
            self._stats.link_overflow += 1

    def _unpend(self, uid: str) -> None:
        row = self._pending.pop(uid, None)
        if row is not None:
            self._drop_index(uid, row)

    def _drop_index(self, uid: str, row: PodRow) -> None:
        key = (row.namespace, row.owner_name or "")
        uids = self._pending_by_rs.get(key)
        if uids is not None:
            uids.discard(uid)
            if not uids:
                del self._pending_by_rs[key]

    # -- the ReplicaSet side (call under `lock`) -------------------------------------

    def learn(self, link: ReplicaSetLink) -> list[PodRow]:
        """A ReplicaSet was seen; returns the pods to send again, corrected."""
        key = (link.namespace, link.name)
        self._owners[key] = link.deployment
        fixed: list[PodRow] = []
        for uid in self._pending_by_rs.pop(key, set()):
            row = self._pending.pop(uid)
            if row.deployment != link.deployment:
                fixed.append(msgspec.structs.replace(row, deployment=link.deployment))
        return fixed

    def drop(self, link: ReplicaSetLink) -> None:
        self._owners.pop((link.namespace, link.name), None)

    def replace(self, links: list[ReplicaSetLink], *, namespace: str | None) -> list[PodRow]:
        """A ReplicaSet relist (of `namespace`, or of all): the complete set."""
        if namespace is None:
            self._owners.clear()
        else:
            for key in [k for k in self._owners if k[0] == namespace]:
                del self._owners[key]
        fixed: list[PodRow] = []
        for link in links:
            fixed.extend(self.learn(link))
        return fixed
