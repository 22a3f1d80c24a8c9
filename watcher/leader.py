"""Leader election over a coordination.k8s.io Lease: which replica fires webhooks.

Every replica watches the cluster and computes the same transitions, so
callbacks that stay in the process (logs, MCP notifications) fire everywhere,
but a callback that leaves the process (a webhook) would fire once per
replica. `LeaderElector` decides which replica may send: the one holding the
Lease. The protocol itself is kubernetes-asyncio's `leaderelection` with its
`LeaseLock` (get, create and replace on one Lease; never patch, list or
delete), the port of client-go's: the holder renews every `retry_period`
and steps down when it could not renew for `renew_deadline`; the others take
over once they have seen no renewal for `lease_duration`. Because
`renew_deadline < lease_duration`, a leader cut off from the API server stops
sending before anyone else can start (clock rates assumed equal, as in
client-go).

What this module adds around the library:

- it keeps competing: the library's `run()` returns when leadership is lost
  (and raises on network errors the lock does not catch); this loops, so a
  replica that lost the lease becomes a candidate again;
- a deadline the library lacks: kubernetes-asyncio sets no request timeout,
  so a renewal stuck on a stalled API server would keep a replica "leading"
  beside its successor; a watchdog steps down once the last renewal is older
  than `renew_deadline`, or as soon as the Lease names another holder;
- an `is_leader` flag with listeners (`on_change`) and awaitable changes,
  for the metrics gauge, the webhook gate and tests;
- log lines on every acquisition and loss;
- release on a graceful exit, which the library lacks: cancelling `run()`
  while leading turns `is_leader` off first (no more webhooks from here),
  then updates the Lease as client-go's `ReleaseOnCancel` does: no holder,
  `leaseDurationSeconds: 1`, renew time now; only if the Lease still names
  this replica, and through the Lease's resourceVersion, so a successor that
  already took it is never overwritten. A standby then acquires it at its
  next poll (within `retry_period`) instead of waiting out `lease_duration`.
  The release is bounded (`_RELEASE_TIMEOUT`); a crashed replica releases
  nothing, and its successor waits out the lease as before.

The gate that lets only the leader send (`dispatch.leader_gate`) consumes
the store's transitions and so lives downstream of the store; it follows
this elector through `is_leader`, `on_change` and, for its replay of the
handover gap, `handover_since`: set at each acquisition to the last renewal
seen from the previous holder or, after a release, to the time the previous
holder stopped ingesting (`mark_release`, written as the released Lease's
renewTime).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Callable

import aiohttp
import anyio
from anyio import CancelScope
from kubernetes_asyncio.client import ApiClient, CoordinationV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.leaderelection.electionconfig import Config as ElectionConfig
from kubernetes_asyncio.leaderelection.leaderelection import LeaderElection
from kubernetes_asyncio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock

from watcher.errors import ConfigError

__all__ = ["LeaderElector", "LeaseTiming"]

log = logging.getLogger(__name__)

LeadershipListener = Callable[[bool], None]

# What talking to the API server may raise through kubernetes-asyncio: connection
# trouble, to be retried; anything else raised by an election round is a bug.
_CONNECTION_ERRORS = (ApiException, aiohttp.ClientError, OSError, TimeoutError)

# How long a graceful exit may spend releasing the lease (the request has no timeout of
# its own); past it the lease is left to expire, as after a crash.
_RELEASE_TIMEOUT = 2.0
# Beyond the takeover bound, how long a graceful shutdown may run between the informers
# stopping and the lease being released (flush, callback drain, release): the longest
# handover gap a successor replays.
_HANDOVER_SLACK = 10.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class LeaseTiming:
    """The three durations of the protocol, in seconds; client-go's defaults.

    Checked here (ConfigError) rather than by the library, whose checks exit
    the process or raise plain ValueErrors: `lease_duration` must be whole
    seconds (it is written to `spec.leaseDurationSeconds` through `int(str(x))`),
    and lease_duration > renew_deadline > 1.2 * retry_period >= 1.2.
    """

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        values = (self.lease_duration, self.renew_deadline, self.retry_period)
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"lease timing must be finite numbers of seconds, got {values}")
        if self.lease_duration != int(self.lease_duration):
            raise ConfigError(f"lease duration must be whole seconds, got {self.lease_duration:g}s")
        if self.retry_period < 1:
            raise ConfigError(f"lease retry period must be at least 1s, got {self.retry_period:g}s")
        if self.renew_deadline <= 1.2 * self.retry_period:
            raise ConfigError(
                f"lease renew deadline ({self.renew_deadline:g}s) must exceed 1.2 x the retry "
                f"period ({self.retry_period:g}s)"
            )
        if self.lease_duration <= self.renew_deadline:
            raise ConfigError(
                f"lease duration ({self.lease_duration:g}s) must exceed the renew deadline "
                f"({self.renew_deadline:g}s), so a leader steps down before others take over"
            )

    @property
    def takeover_bound(self) -> float:
        """Longest time from a leader's death to a successor leading.

        The last renewal precedes the death by up to one retry period; a
        candidate sees it up to one retry period later, waits lease_duration
        from then, and notices expiry at its next poll.
        """
        return self.lease_duration + 2 * self.retry_period


class _ObservingLeaseLock(LeaseLock):
    """The library's LeaseLock, remembering the last renewal it saw by another holder.

    "Another holder" includes nobody: a released Lease's renewTime is when
    its last holder stopped ingesting. That is where a successor's replay of
    the handover gap starts.
    """

    def __init__(self, name: str, namespace: str, identity: str, api: ApiClient) -> None:
        super().__init__(name, namespace, identity, api)
        self.foreign_renew: float | None = None

    async def get(
        self, name: str, namespace: str
    ) -> tuple[bool, LeaderElectionRecord] | tuple[bool, Exception] | tuple[bool, None]:
        result = await super().get(name, namespace)
        lease = self.lease_reference
        if result[0] and lease is not None and lease.spec is not None:
            spec = lease.spec
            if spec.holder_identity != self.identity and spec.renew_time is not None:
                self.foreign_renew = spec.renew_time.timestamp()
        return result


class LeaderElector:
    """Competes for one Lease until cancelled; `is_leader` says whether this replica holds it.

    Run `run()` in a task group for the agent's lifetime. `api` is the
    agent's ApiClient (the watcher's connection), so the election uses the
    same credentials and TLS settings as the informers.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        timing: LeaseTiming | None = None,
        release_on_exit: bool = True,
    ) -> None:
        if not name or not namespace or not identity:
            raise ConfigError(
                "leader election needs a lease name, a namespace and an identity "
                f"(got name={name!r}, namespace={namespace!r}, identity={identity!r})"
            )
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.timing = timing or LeaseTiming()
        # Public so a test can leave the lease held, as a crashed replica does.
        self.release_on_exit = release_on_exit
        self.released = 0
        self.replayed = 0  # handover-gap transitions queued by `dispatch.leader_gate`
        # Set at each acquisition: from when the previous holder may not have delivered
        # (unix seconds), None when there was nobody before (see the module docstring).
        self.handover_since: float | None = None
        self._release_mark: float | None = None
        self._stopped_at: float | None = None
        self.acquisitions = 0
        self.losses = 0
        self.errors = 0
        self._api = api
        self._leading = False
        self._listeners: list[LeadershipListener] = []
        self._changed: anyio.Event | None = None
        self._election: LeaderElection | None = None
        self._round = 0  # which election run() the library's callbacks belong to

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str | None:
        """The holder this replica last saw in the Lease (itself when leading), if any."""
        record = self._election.observed_record if self._election is not None else None
        return None if record is None else record.holder_identity

    @property
    def lease(self) -> str:
        return f"{self.namespace}/{self.name}"

    def mark_release(self, at: float) -> None:
        """When this replica stopped ingesting (unix seconds), for the release to record.

        Called by a graceful shutdown once the informers stopped: the released
        Lease's renewTime then says where a successor's replay must start.
        """
        self._release_mark = at

    def on_change(self, listener: LeadershipListener) -> None:
        """Call `listener(leading)` on each change; it runs on the event loop: never block."""
        self._listeners.append(listener)

    async def wait_for(self, leading: bool) -> None:
        """Return once `is_leader == leading` (at once if it already is)."""
        while self._leading != leading:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    async def run(self) -> None:
        """Compete for the lease until cancelled; never raises for API or network trouble."""
        log.info(
            "leader election for lease %s as %s (lease %gs, renew deadline %gs, retry %gs)",
            self.lease,
            self.identity,
            self.timing.lease_duration,
            self.timing.renew_deadline,
            self.timing.retry_period,
        )
        try:
            while True:
                self._round += 1
                election = self._election = LeaderElection(self._config(self._round))
                try:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._step_down_when_stale, election, tg.cancel_scope)
                        await election.run()
                        tg.cancel_scope.cancel()
                except Exception as group:  # the library lets network errors through
                    self._failed(group)
                # Whether it returned (renewal failed) or raised, this replica no longer
                # knows that it holds the lease: stop acting as leader before competing again.
                self._round += 1
                self._set(False)
                await anyio.sleep(self.timing.retry_period)
        finally:
            was_leading = self._leading
            self._round += 1
            self._set(False)  # stop sending before anyone else can start
            if was_leading and self.release_on_exit:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_RELEASE_TIMEOUT):
                    await self._release()

    def _failed(self, group: Exception) -> None:
        """Count and log a round that raised; the loop competes again after it.

        Connection trouble is expected (the API server restarts, the network
        drops) and is a warning; anything else is a bug, logged at error
        level with its traceback at every round it recurs.
        """
        e = _first_leaf(group)
        self.errors += 1
        if isinstance(e, _CONNECTION_ERRORS):
            log.warning(
                "leader election for lease %s failed (%s: %s); retrying in %gs",
                self.lease,
                type(e).__name__,
                e,
                self.timing.retry_period,
            )
        else:
            log.error(
                "leader election for lease %s failed unexpectedly (%s: %s); retrying in %gs",
                self.lease,
                type(e).__name__,
                e,
                self.timing.retry_period,
                exc_info=e,
            )

    async def _release(self) -> None:
        """Give the lease up if this replica still holds it (see the module docstring)."""
        api = CoordinationV1Api(self._api)
        try:
            lease = await api.read_namespaced_lease(self.name, self.namespace)
            spec = lease.spec
            if spec is None or spec.holder_identity != self.identity:
                holder = spec.holder_identity if spec is not None else None
                log.info("lease %s not released: it names %s, not us", self.lease, holder)
                return
            now = dt.datetime.now(dt.UTC)
            mark = self._release_mark
            stopped = dt.datetime.fromtimestamp(mark, dt.UTC) if mark is not None else now
            spec.holder_identity = ""
            spec.lease_duration_seconds = 1
            spec.acquire_time = now
            spec.renew_time = stopped  # where the successor's replay starts
            # The resourceVersion read above makes this a compare-and-swap: a 409 means
            # someone else wrote the lease meanwhile, and it is theirs.
            await api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as e:
            log.warning("lease %s not released (%s %s)", self.lease, e.status, e.reason)
        except _CONNECTION_ERRORS as e:  # the lease expires on its own
            log.warning("lease %s not released (%s: %s)", self.lease, type(e).__name__, e)
        except Exception:  # a bug, at shutdown: say so, and let the lease expire
            log.exception("lease %s not released: unexpected error", self.lease)
        else:
            self.released += 1
            log.info("%s released lease %s", self.identity, self.lease)

    async def _step_down_when_stale(self, election: LeaderElection, scope: CancelScope) -> None:
        """Stop leading when the last renewal is older than the renew deadline.

        The library's renew loop checks its deadline only between requests, and
        kubernetes-asyncio sets no request timeout: a renewal stuck on a stalled
        API server would keep this replica "leading" long after a successor took
        over. This ends the round instead (cancelling the stuck request), and
        also as soon as the Lease is seen naming another holder.
        """
        deadline_ms = self.timing.renew_deadline * 1000
        while True:
            await anyio.sleep(self.timing.retry_period / 4)
            if not self._leading:
                continue
            record = election.observed_record
            age_ms = time.time() * 1000 - election.observed_time_milliseconds
            if record is not None and record.holder_identity != self.identity:
                why = f"the lease names {record.holder_identity}"
            elif age_ms > deadline_ms:
                why = f"no renewal for {age_ms / 1000:.1f}s"
            else:
                continue
            log.warning("%s steps down from lease %s: %s", self.identity, self.lease, why)
            self._round += 1
            self._set(False)
            scope.cancel()
            return

    def _config(self, this_round: int) -> ElectionConfig:
        lock = _ObservingLeaseLock(self.name, self.namespace, self.identity, self._api)

        # The library starts `onstarted_leading` as a separate asyncio task, which may
        # first run after this round ended (cancelled right after acquiring): it must
        # then not claim leadership, so each round's callbacks check that it is current.
        async def started() -> None:
            if this_round == self._round:
                # Another holder before us: from its last renewal (or release mark);
                # else ourselves, from when we stopped leading; else nobody.
                foreign = lock.foreign_renew
                self.handover_since = self._plausible(
                    foreign if foreign is not None else self._stopped_at
                )
                self._set(True)

        async def stopped() -> None:
            self._set(False)

        return ElectionConfig(
            lock=lock,
            lease_duration=int(self.timing.lease_duration),
            renew_deadline=self.timing.renew_deadline,
            retry_period=self.timing.retry_period,
            onstarted_leading=started,
            onstopped_leading=stopped,
        )

    def _plausible(self, since: float | None) -> float | None:
        """`since` kept within what a handover can span, from now back.

        A gap is never longer than the takeover bound plus a graceful
        shutdown's drain (`_HANDOVER_SLACK`); a renewTime outside that comes
        from a skewed clock (kubernetes-asyncio writes local time marked as
        UTC), and replaying hours of history, or none, would be worse.
        """
        if since is None:
            return None
        now = time.time()
        return min(max(since, now - self.timing.takeover_bound - _HANDOVER_SLACK), now)

    def _set(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            self.acquisitions += 1
            log.info(
                "%s is now the leader (lease %s): webhooks fire here", self.identity, self.lease
            )
        else:
            self.losses += 1
            self._stopped_at = time.time()
            log.warning(
                "%s is no longer the leader (lease %s): webhooks stop here",
                self.identity,
                self.lease,
            )
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
        for listener in tuple(self._listeners):
            try:
                listener(leading)
            except Exception:
                log.exception("leadership listener %r failed", listener)


def _first_leaf(error: BaseException) -> BaseException:
    """The first real exception inside (possibly nested) exception groups, for the log."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
