"""Backoff, settings validation and the package's public surface."""

from __future__ import annotations

import random

import pytest

import watcher
from watcher.settings import Backoff, WatchSettings


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    now = [0.0]
    backoff = Backoff(WatchSettings(), rng=random.Random(1), clock=lambda: now[0])
    ceilings = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    delays = []
    for ceiling in ceilings:
        delay = backoff.next_delay()
        assert 0.0 <= delay <= ceiling
        delays.append(delay)
        now[0] += 1.0
    assert max(delays[-3:]) > 0.8  # it did grow
    assert len(set(delays)) == len(delays)  # jittered, not fixed steps


def test_backoff_forgets_after_a_healthy_period() -> None:
    now = [0.0]
    settings = WatchSettings(backoff_reset_after=120.0)
    backoff = Backoff(settings, rng=random.Random(2), clock=lambda: now[0])
    for _ in range(6):
        backoff.next_delay()
        now[0] += 1.0
    assert backoff.attempt == 6
    now[0] += 121.0
    assert backoff.next_delay() <= 0.8
    assert backoff.attempt == 1


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
    assert {"Informers", "load_connection", "CallbackRegistry", "WebhookSink"} <= set(
        watcher.__all__
    )
