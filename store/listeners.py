"""Who hears from the writer: transitions after each commit, resets, history changes, health.

Listeners run in the writer task and must not block. One that raises is a
bug in the listener, not in the store: it is logged at error level with its
traceback and counted (`errors`, in the writer's stats), and the writer goes
on — the batch is committed, and the other listeners must still hear of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from store.model import Kind, Transition

__all__ = ["Listeners", "Subscriber"]

log = logging.getLogger("store")

Subscriber = Callable[[Sequence[Transition]], None]

F = TypeVar("F")


def _add(registered: list[F], fn: F) -> Callable[[], None]:
    registered.append(fn)

    def remove() -> None:
        if fn in registered:
            registered.remove(fn)

    return remove


class Listeners:
    """The writer's listeners, by what they hear of; each `on_*` returns a remover."""

    def __init__(self) -> None:
        self._transitions: list[Subscriber] = []
        self._reset: list[Callable[[], None]] = []
        self._history: list[Callable[[Kind, str], None]] = []
        self._health: list[Callable[[bool, str | None], None]] = []
        self._commit: list[Callable[[int, float], None]] = []
        self.errors = 0  # listener calls that raised

    def on_transitions(self, fn: Subscriber) -> Callable[[], None]:
        return _add(self._transitions, fn)

    def on_reset(self, fn: Callable[[], None]) -> Callable[[], None]:
        return _add(self._reset, fn)

    def on_history_changed(self, fn: Callable[[Kind, str], None]) -> Callable[[], None]:
        return _add(self._history, fn)

    def on_health(self, fn: Callable[[bool, str | None], None]) -> Callable[[], None]:
        return _add(self._health, fn)

    def on_commit(self, fn: Callable[[int, float], None]) -> Callable[[], None]:
        return _add(self._commit, fn)

    def transitions(self, transitions: Sequence[Transition]) -> None:
        for fn in list(self._transitions):
            try:
                fn(transitions)
            except Exception:  # the listener's bug: see the module docstring
                self._failed("transition subscriber", fn)

    def reset(self) -> None:
        for fn in list(self._reset):
            try:
                fn()
            except Exception:  # the listener's bug: see the module docstring
                self._failed("reset listener", fn)

    def history_changed(self, kind: Kind, error: str) -> None:
        for fn in list(self._history):
            try:
                fn(kind, error)
            except Exception:  # the listener's bug: see the module docstring
                self._failed("history listener", fn)

    def health(self, healthy: bool, last_error: str | None) -> None:
        for fn in list(self._health):
            try:
                fn(healthy, last_error)
            except Exception:  # the listener's bug: see the module docstring
                self._failed("health listener", fn)

    def commit(self, rows: int, seconds: float) -> None:
        for fn in list(self._commit):
            try:
                fn(rows, seconds)
            except Exception:  # the listener's bug: see the module docstring
                self._failed("commit listener", fn)

    def _failed(self, what: str, fn: object) -> None:
        """Called inside the `except` block, so the log carries the traceback."""
        self.errors += 1
        log.exception("store: %s %r failed", what, fn)
