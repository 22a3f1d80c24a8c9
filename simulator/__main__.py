"""`python -m simulator`: the simulated cluster on its own, stopped cleanly by Ctrl-C or SIGTERM.

The same options as `kube-watchcache simulate`. A signal cancels the run; the
server closes its streams and the process exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

import anyio

from .cli import add_simulate_arguments, run_simulate


async def _serve(args: argparse.Namespace) -> None:
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await run_simulate(args)
        tg.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Run a simulated Kubernetes API server with a seeded, churning cluster.",
    )
    add_simulate_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A second Ctrl-C during shutdown still ends quietly.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_serve, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
