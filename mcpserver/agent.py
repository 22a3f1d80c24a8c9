"""The composition root: `kube-watchcache serve` wires every part together and runs it.

One owner per resource: the API connection (watcher), the database (store)
and the HTTP port (this package). Everything long-running sits in one anyio
task group: the informers, the transition dispatcher, the notifier that
feeds MCP subscribers, the churn of the demo cluster, and the MCP transport
(HTTP listener or stdio).

Before the informers write anything, the state file is claimed for the
cluster (`_claim_state_file`): the cluster's identity is read from the API
server (the kube-system namespace's uid, else its URL; `watcher.identity`),
retried while the server cannot be reached, and a file of another cluster is
moved aside (`store.cluster`). Meanwhile the rows restored from the file are
served, every answer stale and /ready 503 (`mcpserver.freshness`).

Shutdown (SIGTERM/SIGINT, or leaving `running_agent`) goes in the order that
loses nothing a callback was owed:

1. the HTTP listener stops taking requests and drains the ones in flight;
2. the informers stop, so nothing new enters the store;
3. the writer commits what is queued (bounded by `SHUTDOWN_FLUSH_TIMEOUT`):
   that commit publishes its transitions, which history now holds;
4. the callback registry is drained, so those transitions reach the log,
   MCP subscribers and webhooks too; a webhook still retrying gets at most
   `CALLBACK_DRAIN_GRACE` seconds, then what is left is logged as undelivered;
5. everything else is cancelled: the dispatcher, the notifier, the demo
   churn, and the leader elector, which then releases the Lease (after the
   drain, so the last webhooks leave while this replica still holds it),
   recording when the informers stopped: the successor replays its own
   history from there, so the handover loses no webhook (dispatch.leader_gate);
6. leaving `open_store` closes the database, then the API connection closes.

Every step is bounded, so the process exits 0 well within a pod's default
30 s grace period (the reliability suite holds it to 10 s).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import anyio
import anyio.abc
import msgspec
from prometheus_client import Gauge

from dispatch import (
    CallbackRegistry,
    TransitionLog,
    WebhookSink,
    log_transition,
    subscribe_while_leading,
)
from kinds import STORED
from mcpserver.config import Settings
from mcpserver.errors import ConfigError
from mcpserver.logs import show_audit_lines
from mcpserver.metrics import AgentMetrics
from mcpserver.runtime import frozen_after_sync, short_gil_turns
from mcpserver.surface.freshness import readiness_details
from mcpserver.surface.server import KubeWatchcacheServer, build_mcp_server
from mcpserver.surface.service import ClusterAnswers
from mcpserver.surface.subscriptions import ResourceNotifier
from mcpserver.web.auth import TokenSet
from mcpserver.web.http_app import MCP_PATH, build_http_app
from mcpserver.web.listener import HttpListener, bind_socket
from store import (
    ClaimOutcome,
    ClaimVerdict,
    Kind,
    Store,
    StoreError,
    StoreSettings,
    Transition,
    open_store,
)
from watcher import ConfigError as WatcherConfigError
from watcher import (
    Connection,
    Informers,
    LeaderElector,
    LeaseTiming,
    WatchSettings,
    load_connection,
    wait_for_cluster_identity,
)

__all__ = ["DEMO_SHAPE", "Agent", "run_agent", "running_agent"]

log = logging.getLogger("kube_watchcache")

# Shutdown bounds (see the module docstring): together with the listener's drain
# they keep a SIGTERM well under 10 s even with a failing disk or a hanging webhook.
SHUTDOWN_FLUSH_TIMEOUT = 3.0
CALLBACK_DRAIN_GRACE = 3.0
_INFORMERS_STOP_TIMEOUT = 2.0
# A new leader replays at most this many transitions of the handover gap (newest kept).
HANDOVER_REPLAY_LIMIT = 10_000

# The embedded demo cluster: big enough to show every kind of problem, small
# enough to start in a second on a laptop.
DEMO_SHAPE: dict[str, float] = {
    "nodes": 20,
    "deployments": 40,
    "pods_per_deployment": 3,
    "churn": 2.0,
    "statefulsets": 1,  # three seeded StatefulSets, two of them broken
}


def _version() -> str:
    try:
        return package_version("kube-watchcache")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0+unknown"


@dataclass
class Agent:
    """Handles to a running agent, for the CLI, tests and benchmarks."""

    settings: Settings
    store: Store
    answers: ClusterAnswers
    mcp: KubeWatchcacheServer
    notifier: ResourceNotifier
    metrics: AgentMetrics
    informers: Informers
    registry: CallbackRegistry
    listener: HttpListener | None = None
    simulator: Any = None  # simulator.Simulator in --demo
    scenario: Any = None  # simulator.scenario.Scenario in --demo
    elector: LeaderElector | None = None  # with --leader-election
    transition_log: TransitionLog | None = None  # the console's view, with --log-format text
    stop: Callable[[], None] = field(default=lambda: None)
    # The cluster the state file was claimed for; `claimed` is set once it is (before
    # the informers start), with `claim` saying what became of the file.
    claim: ClaimOutcome | None = None
    claimed: anyio.Event = field(default_factory=anyio.Event)

    @property
    def url(self) -> str | None:
        """The /mcp URL, when serving HTTP."""
        if self.listener is None:
            return None
        host = self.listener.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{self.listener.port}{MCP_PATH}"

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        ready, body = readiness_details(
            self.store.reader.sync_states(),
            now=self.answers.clock(),
            watched=self.answers.watched,
            error_tolerance=self.settings.stale_after,
            store_healthy=self.store.healthy,
            store_error=self.store.last_error,
        )
        cluster = self.claim.cluster if self.claim is not None else None
        body["cluster"] = (
            None
            if cluster is None
            else {"uid": cluster.uid, "server": cluster.server, "source": cluster.source}
        )
        return ready, body


@contextlib.asynccontextmanager
async def _demo_cluster(shape: dict[str, float]) -> AsyncIterator[tuple[Any, Any]]:
    """The embedded simulated cluster; the simulator is imported only for --demo.

    Yields (simulator, scenario); the caller runs `scenario.run()` for the churn.
    """
    from simulator import ObjectStore, Scenario, SimClock, Simulator

    clock = SimClock(datetime.now(UTC))
    objects = ObjectStore(clock=clock)
    scenario = Scenario(
        objects,
        seed=int(shape.get("seed", 1)),
        nodes=int(shape["nodes"]),
        deployments=int(shape["deployments"]),
        pods_per_deployment=int(shape["pods_per_deployment"]),
        churn=shape["churn"],
        statefulsets=bool(shape.get("statefulsets", 0)),
        clock=clock,
    )
    counts = scenario.populate()
    async with Simulator(host="127.0.0.1", port=0, store=objects, bookmark_interval=30.0) as sim:
        log.info(
            "demo cluster: %s nodes, %s deployments, %s pods at %s, churn %.0f actions/s",
            counts.get("nodes", 0),
            counts.get("deployments", 0),
            counts.get("pods", 0),
            sim.url,
            shape["churn"],
        )
        try:
            yield sim, scenario
        finally:
            scenario.close()


async def _connect(settings: Settings, sim: Any) -> Connection:
    try:
        if sim is not None:
            return await load_connection(server=sim.url)
        return await load_connection(kubeconfig=settings.kubeconfig, context=settings.context)
    except WatcherConfigError as exc:
        if sim is not None:
            raise ConfigError(str(exc)) from None
        raise ConfigError(
            f"{exc} (choose one with --kubeconfig/--context, or try --demo for a simulated cluster)"
        ) from None


def _read_secret(settings: Settings) -> bytes | None:
    if settings.webhook_secret_file is None:
        return None
    try:
        return settings.webhook_secret_file.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read webhook secret file {settings.webhook_secret_file}: {exc.strerror or exc}"
        ) from None


def _lease_timing(settings: Settings) -> LeaseTiming:
    if not (settings.lease_name and settings.lease_namespace and settings.identity):
        raise ConfigError(
            "--leader-election needs --lease-name, --lease-namespace (env POD_NAMESPACE) "
            "and --identity (env POD_NAME)"
        )
    try:
        return LeaseTiming(
            lease_duration=settings.lease_duration,
            renew_deadline=settings.lease_renew_deadline,
            retry_period=settings.lease_retry_period,
        )
    except WatcherConfigError as exc:
        raise ConfigError(str(exc)) from None


def _export_leadership(metrics: AgentMetrics, elector: LeaderElector) -> None:
    """kube_watchcache_leader{identity}: read from the elector at scrape time, never stale."""
    Gauge(
        "kube_watchcache_leader",
        "1 while this replica holds the leader Lease (and fires webhooks), else 0.",
        ["identity"],
        registry=metrics.registry,
    ).labels(identity=elector.identity).set_function(lambda: float(elector.is_leader))


def _metrics_follow_leadership(metrics: AgentMetrics, elector: LeaderElector) -> None:
    """What the metrics export differently on the Lease holder.

    The leader gauge always; this is also the one place for exports that
    only the leader should carry (cluster-wide gauges that every replica
    would otherwise report identically), switched by `elector.on_change`.
    """
    _export_leadership(metrics, elector)
    # Every replica would report the same cluster; only the Lease holder does, so
    # sum(kube_pod_status_phase) over replicas counts each pod once.
    metrics.set_cluster_gauges_enabled(lambda: elector.is_leader)


async def _claim_state_file(
    store: Store, connection: Connection, *, watched: list[Kind]
) -> ClaimOutcome:
    """Read which cluster this is, then make the state file that cluster's (`store.cluster`).

    Runs before the informers write anything. While the API server cannot be
    reached, every watched kind's sync state says why (the rows restored
    from the file are served, stale), and the identity is retried with the
    reflectors' backoff; a store that cannot be written is retried too.
    """

    async def not_reachable(message: str) -> None:
        for kind in watched:
            await store.writer.sync(kind, error=message)

    cluster = await wait_for_cluster_identity(connection, on_failure=not_reachable)
    delay = 1.0
    while True:
        try:
            outcome = await store.claim(cluster)
            break
        except StoreError as exc:
            log.warning("cannot claim the state file yet (%s); retrying in %.0f s", exc, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)
    if outcome.verdict is not ClaimVerdict.MOVED_ASIDE:  # that one logged its own warning
        log.info("state file %s: %s (%s)", store.path, outcome.cluster.describe(), outcome.verdict)
    return outcome


def _subscribe_log(
    registry: CallbackRegistry, settings: Settings, *, clock: Callable[[], float] | None
) -> TransitionLog | None:
    """Transitions in the log: for machines one record each, for people `TransitionLog`.

    JSON keeps what collectors had (every warning and critical transition;
    at debug every transition). Text gets the lasting problems, their
    recoveries and a digest, and every transition at debug. The queue holds
    a whole initial list's transitions: a console line is never worth a drop.
    """
    if settings.log_format == "json":
        wanted = "info" if settings.log_level == "debug" else "warning"
        registry.subscribe(log_transition, min_severity=wanted, name="log")
        return None
    transition_log = TransitionLog(clock=clock or time.monotonic)
    registry.subscribe(transition_log, name="log", queue_size=100_000)
    return transition_log


async def _history_since(store: Store, since: float) -> list[Transition]:
    """What history recorded at or after `since`, oldest first: a new leader's replay."""
    newest_first: list[Transition] = []
    before: int | None = None
    while len(newest_first) < HANDOVER_REPLAY_LIMIT:
        page = await store.reader.history(since=since, before_id=before, limit=1000)
        newest_first += page
        if len(page) < 1000 or page[-1].id is None:
            break
        before = page[-1].id
    if len(newest_first) >= HANDOVER_REPLAY_LIMIT:
        log.warning(
            "handover replay: more than %d transitions since the previous leader stopped; "
            "only the newest %d are sent",
            HANDOVER_REPLAY_LIMIT,
            HANDOVER_REPLAY_LIMIT,
        )
    return newest_first[:HANDOVER_REPLAY_LIMIT][::-1]


async def _shut_down(
    *,
    informers_scope: anyio.CancelScope,
    informers_done: anyio.Event,
    store: Store,
    registry: CallbackRegistry,
    elector: LeaderElector | None,
    tasks: anyio.abc.TaskGroup,
) -> None:
    """Steps 2 to 5 of the module docstring's shutdown order, each bounded."""
    with anyio.CancelScope(shield=True):
        informers_scope.cancel()
        with anyio.move_on_after(_INFORMERS_STOP_TIMEOUT):
            await informers_done.wait()
        if elector is not None:
            # Nothing seen from here on is sent from here: the successor replays from it.
            elector.mark_release(time.time())
        crashed = tasks.cancel_scope.cancel_called  # a task failed: the dispatcher is gone
        with anyio.move_on_after(SHUTDOWN_FLUSH_TIMEOUT) as flushing:
            try:
                await store.writer.flush()
            except Exception as exc:  # the store says why in its own log and state
                log.warning("shutdown: the last changes could not be committed: %s", exc)
        if flushing.cancelled_caught:
            log.warning(
                "shutdown: the store did not commit within %gs; closing it commits what it can",
                SHUTDOWN_FLUSH_TIMEOUT,
            )
        if not crashed:
            with anyio.move_on_after(CALLBACK_DRAIN_GRACE) as draining:
                await registry.drain()
            if draining.cancelled_caught:
                log.warning(
                    "shutdown: %d transitions not delivered to callbacks within %gs "
                    "(history in the store has them)",
                    registry.pending,
                    CALLBACK_DRAIN_GRACE,
                )
    tasks.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def running_agent(
    settings: Settings,
    *,
    tokens: TokenSet | None = None,
    store_settings: StoreSettings | None = None,
    on_connect: Callable[[Any, Any], None] | None = None,
    demo_shape: dict[str, float] | None = None,
    log_clock: Callable[[], float] | None = None,
) -> AsyncIterator[Agent]:
    """Start everything `settings` asks for; yields once the HTTP port listens (if any).

    Resources are opened first (port, demo cluster, API connection, store,
    webhook), so a configuration problem fails before anything runs, as a
    plain `ConfigError`. The task group comes last: leaving the block drains
    the HTTP listener, cancels the background tasks, and only then closes the
    store (committing what is queued), the connection and the demo cluster,
    outside the cancelled scope. `on_connect(simulator, scenario)` is called
    in --demo before the watcher connects; `demo_shape` replaces `DEMO_SHAPE`;
    `log_clock` is the console transition log's clock (a test's simulated time).
    """
    tokens = (
        tokens if tokens is not None else TokenSet(settings.tokens, token_file=settings.token_file)
    )
    secret = _read_secret(settings)
    timing = _lease_timing(settings) if settings.leader_election else None
    metrics = AgentMetrics()
    store_settings = msgspec.structs.replace(
        store_settings
        or StoreSettings(
            history_max_age_s=settings.history_retention, query=settings.query_settings()
        ),
        stored_object_policy=(
            "env-values-revealed" if settings.reveal_env_values else "env-values-redacted"
        ),
    )
    async with contextlib.AsyncExitStack() as stack:
        sock = bind_socket(settings.host, settings.port) if settings.transport == "http" else None
        if sock is not None:
            stack.callback(sock.close)
        sim = scenario = None
        if settings.demo:
            sim, scenario = await stack.enter_async_context(
                _demo_cluster(DEMO_SHAPE if demo_shape is None else demo_shape)
            )
            if on_connect is not None:
                on_connect(sim, scenario)
        connection = await _connect(settings, sim)
        stack.push_async_callback(connection.close)
        try:
            store = await stack.enter_async_context(
                open_store(settings.db, settings=store_settings, fail_if_unwritable=True)
            )
        except StoreError as exc:
            raise ConfigError(f"--db: {exc}") from None
        watched_kinds = [k for k, spec in STORED.items() if spec.name in settings.kinds]
        answers = ClusterAnswers(
            store,
            stale_after=settings.stale_after,
            reveal_env_values=settings.reveal_env_values,
            watched=watched_kinds,
            query_max_rows=settings.query_max_rows,
            query_timeout=settings.query_timeout,
        )
        mcp, notifier = build_mcp_server(answers=answers, metrics=metrics, version=_version())
        registry = CallbackRegistry()
        store.writer.subscribe(registry.publish)
        transition_log = _subscribe_log(registry, settings, clock=log_clock)
        registry.subscribe(
            lambda t: notifier.on_transitions((t,)),
            name="mcp-resource-updates",
            queue_size=100_000,
            timeout=None,
        )
        elector = None
        if timing is not None:
            elector = LeaderElector(
                connection.api,
                name=settings.lease_name,
                namespace=settings.lease_namespace,
                identity=settings.identity,
                timing=timing,
            )
            _metrics_follow_leadership(metrics, elector)
        if settings.webhook_url:
            # Webhooks leave the process: with leader election only the Lease holder sends,
            # and says who it is, so a receiver can tell replicas apart.
            sink = await stack.enter_async_context(
                WebhookSink(
                    settings.webhook_url,
                    secret=secret,
                    headers={"X-Watchcache-Replica": settings.identity} if elector else None,
                )
            )
            if elector is not None:
                subscribe_while_leading(
                    elector,
                    registry,
                    sink,
                    replay=functools.partial(_history_since, store),
                    name=sink.name,
                    timeout=None,
                )
            else:
                registry.subscribe(sink, name=sink.name, timeout=None)
        informers = Informers(
            connection,
            store.writer,
            kinds=settings.kinds,
            namespaces=list(settings.namespaces) or None,
            label_selector=settings.label_selector,
            settings=WatchSettings(reveal_env_values=settings.reveal_env_values),
        )
        store.writer.on_reset(informers.relist)
        store.writer.on_history_changed(informers.history_changed)
        agent = Agent(
            settings=settings,
            store=store,
            answers=answers,
            mcp=mcp,
            notifier=notifier,
            metrics=metrics,
            informers=informers,
            registry=registry,
            simulator=sim,
            scenario=scenario,
            elector=elector,
            transition_log=transition_log,
        )
        metrics.attach(
            store=store,
            informers=informers,
            callbacks=registry,
            mode=settings.metrics_mode,
            objects_limit=settings.metrics_objects_limit,
            version=_version(),
            labels_allowlist=settings.metric_labels_allowlist,
        )
        stack.push_async_callback(metrics.aclose)  # ends the objects-mode renderer process
        listener = None
        if sock is not None:
            app = build_http_app(
                mcp=mcp,
                settings=settings,
                tokens=tokens,
                metrics=metrics,
                readiness=agent.readiness,
                ingest_backlog=lambda: store.writer.backlog,
            )
            listener = HttpListener(
                app,
                sock=sock,
                header_timeout=settings.header_read_timeout,
                on_header_timeout=metrics.read_timeouts.labels(phase="headers").inc,
            )
            agent.listener = listener
            agent.stop = listener.stop

        informers_scope = anyio.CancelScope()
        informers_done = anyio.Event()

        async def run_informers() -> None:
            try:
                # The collector is thawed when the informers stop: an agent that
                # stops (tests run many) leaves it as it was.
                with informers_scope, contextlib.ExitStack() as collector:
                    agent.claim = await _claim_state_file(store, connection, watched=watched_kinds)
                    agent.claimed.set()
                    async with anyio.create_task_group() as watching:
                        watching.start_soon(informers.run)
                        await informers.wait_synced()
                        collector.enter_context(frozen_after_sync())
            finally:
                informers_done.set()

        tg = await stack.enter_async_context(anyio.create_task_group())
        # On exit: after the listener's drain below, before the store closes.
        stack.push_async_callback(
            functools.partial(
                _shut_down,
                informers_scope=informers_scope,
                informers_done=informers_done,
                store=store,
                registry=registry,
                elector=elector,
                tasks=tg,
            )
        )
        if scenario is not None:
            tg.start_soon(scenario.run)
        tg.start_soon(run_informers)
        tg.start_soon(registry.run)
        tg.start_soon(notifier.run)
        if transition_log is not None:
            tg.start_soon(transition_log.run)
        if elector is not None:
            tg.start_soon(elector.run)
        if listener is not None:
            tg.start_soon(listener.serve)
            with anyio.fail_after(10):
                await listener.settled.wait()
            if not listener.started:
                raise ConfigError(
                    f"the HTTP server on {settings.host}:{listener.port} did not start"
                )
            stack.push_async_callback(listener.drain)  # in-flight requests finish first
        yield agent


def _announce(agent: Agent) -> None:
    settings = agent.settings
    if agent.url is None:
        log.info("MCP over stdio; logs on stderr")
        return
    auth = " (bearer token required)" if settings.tokens or settings.token_file else ""
    print(
        f"kube-watchcache: MCP at {agent.url}{auth}; /health /ready /metrics on the same port",
        file=sys.stderr,
    )
    header = ' --header "Authorization: Bearer $TOKEN"' if auth else ""
    print(
        f"  connect: claude mcp add --transport http kube-watchcache {agent.url}{header}",
        file=sys.stderr,
        flush=True,
    )


async def run_agent(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT (or, with stdio, until the client closes stdin)."""
    started = time.monotonic()
    show_audit_lines(demo=settings.demo, level=settings.log_level, fmt=settings.log_format)
    with (
        short_gil_turns(),
        anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals,
    ):
        async with running_agent(settings) as agent, anyio.create_task_group() as tg:

            async def on_signal() -> None:
                async for signum in signals:
                    log.info("%s: shutting down", signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return

            tg.start_soon(on_signal)
            _announce(agent)
            log.info(
                "started in %.1fs; syncing %s",
                time.monotonic() - started,
                ", ".join(agent.informers.feeds),
            )
            if settings.transport == "stdio":
                await agent.mcp.run_stdio_async()
                log.info("stdin closed: shutting down")
                tg.cancel_scope.cancel()
            else:
                await anyio.sleep_forever()
    log.info("stopped")
