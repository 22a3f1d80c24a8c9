"""Settings validation and the package's public surface (the backoff: tests/retry)."""

from __future__ import annotations

import random

import pytest

import watcher
from watcher.settings import WatchSettings


def test_watch_timeout_is_randomized_within_range() -> None:
    settings = WatchSettings()
    rng = random.Random(3)
    timeouts = {settings.watch_timeout(rng) for _ in range(50)}
    assert all(300 <= t <= 600 for t in timeouts)
    assert len(timeouts) > 10


@pytest.mark.parametrize(
    "bad",
    [
        {"inactivity_timeout": 0},
        {"list_page_size": -1},
        {"watch_timeout_min": 10, "watch_timeout_max": 5},
        {"backoff_factor": 0.5},
    ],
)
def test_settings_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="WatchSettings"):
        WatchSettings(**bad)  # type: ignore[arg-type]


def test_public_surface() -> None:
    for name in watcher.__all__:
        assert hasattr(watcher, name), name
    assert {"Informers", "load_connection", "LeaderElector"} <= set(watcher.__all__)
    # The fan-out of transitions is downstream of the store, not the watcher's.
    assert not {"CallbackRegistry", "WebhookSink", "subscribe_while_leading"} & set(watcher.__all__)
