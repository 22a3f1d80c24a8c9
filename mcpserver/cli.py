"""The `kube-watchcache` command: `serve` runs the agent, `simulate` the simulated cluster alone.

Exit codes (also in `serve --help`): 0 on a clean stop (including
SIGTERM/SIGINT), 2 when the agent cannot start as configured (a bad or
conflicting flag, no cluster to connect to, a state file it cannot write, a
port taken), 1 when the agent fails at run time. A start-up error is one
line on stderr, never a traceback, and stdout stays empty (with
`--transport stdio` it is the protocol channel).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio

from mcpserver.config import (
    CONFIG_ENV,
    OPTIONS,
    TOKENS_ENV,
    add_serve_arguments,
    resolve_settings,
)
from mcpserver.errors import ConfigError
from mcpserver.logs import configure_logging

__all__ = ["build_parser", "main"]

log = logging.getLogger("kube_watchcache")

_SERVE_EPILOG = f"""\
Every option can also come from an environment variable (shown with each
option) or from a TOML config file (--config / {CONFIG_ENV}) whose keys are the
option names, e.g. `port = 9090` or `namespaces = ["a", "b"]`.
Precedence: flag > environment > config file > default.
Bearer tokens: {TOKENS_ENV} (comma-separated) and/or --token-file; with any
token configured, /mcp requires `Authorization: Bearer <token>`.

Endpoints on the HTTP port: /mcp (MCP streamable HTTP), /health (liveness),
/ready (every kind synced and fresh; 503 with the reason otherwise), /metrics.
SIGTERM or SIGINT: stop accepting, flush the store, exit 0.

Exit codes: 0 clean stop; 1 failure while running; 2 cannot start as
configured (bad or conflicting flags, no kubeconfig or in-cluster account,
an unwritable --db, a port in use), with one line on stderr saying what to fix.
"""


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the flag, then exit 2; the usage block is in --help."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _join_dash_values(argv: list[str]) -> list[str]:
    """`serve --flag -5m` as `--flag=-5m`, so a value that starts with '-' reaches the flag's check.

    argparse reads such a value as an unknown option and answers "expected one
    argument"; joined, the value is judged and the error says what is allowed.
    A following token that is itself a flag is left alone (a forgotten value).
    """
    takes_value = {o.flag_name for o in OPTIONS if o.flag and not o.boolean}
    flags = takes_value | {"-h", "--help"}
    flags |= {
        f"--{prefix}{o.flag_name[2:]}" for o in OPTIONS if o.boolean for prefix in ("", "no-")
    }
    joined: list[str] = []
    rest = iter(argv)
    for token in rest:
        if token in takes_value:
            following = next(rest, None)
            if following is not None and following.startswith("-") and following not in flags:
                joined.append(f"{token}={following}")
                continue
            joined.append(token)
            if following is not None:
                joined.append(following)
            continue
        joined.append(token)
    return joined


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="kube-watchcache",
        description="Event-driven Kubernetes monitoring agent: a watch cache in SQLite "
        "behind MCP and Prometheus.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    serve = commands.add_parser(
        "serve",
        help="run the agent: informers, store, MCP server and HTTP endpoints",
        description="Run the agent: informers -> SQLite watch cache -> MCP tools, "
        "resources and prompts; /health, /ready and /metrics on the same port.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_serve_arguments(serve)
    simulate = commands.add_parser(
        "simulate",
        help="run the embedded simulated Kubernetes API server on its own",
        description="Run the simulated Kubernetes API server (with an optional scenario) "
        "for kubectl, other clients, or an agent started separately.",
    )
    from simulator.cli import add_simulate_arguments

    add_simulate_arguments(simulate)
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = resolve_settings(args)
    except ConfigError as exc:
        print(
            f"kube-watchcache serve: error: {exc} (see kube-watchcache serve --help)",
            file=sys.stderr,
        )
        return 2
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    from mcpserver.agent import run_agent

    try:
        anyio.run(run_agent, settings, backend="asyncio", backend_options={"use_uvloop": True})
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        config_error = _find(exc, ConfigError)
        if config_error is not None:
            print(f"kube-watchcache serve: error: {config_error}", file=sys.stderr)
            return 2
        log.exception("the agent stopped on an unexpected error")
        return 1
    return 0


def _find(exc: BaseException, kind: type[ConfigError]) -> ConfigError | None:
    """`exc` itself or the first `kind` inside (task groups wrap errors in ExceptionGroups)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


async def _run_simulate_until_signal(args: argparse.Namespace) -> None:
    """The simulator leaves signals to its caller: SIGTERM/SIGINT cancel it, it closes cleanly."""
    from simulator.cli import run_simulate

    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await run_simulate(args)
        tg.cancel_scope.cancel()


def _simulate(args: argparse.Namespace) -> int:
    configure_logging(level="warning", fmt="text")
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(
            _run_simulate_until_signal,
            args,
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        arguments = ["serve", *_join_dash_values(arguments[1:])]
    args = parser.parse_args(arguments)
    if args.command == "serve":
        return _serve(args)
    return _simulate(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
