"""The one backoff: exponential with full jitter, capped, forgetful, obeying Retry-After."""

from __future__ import annotations

import random

import pytest

from retry import Backoff, BackoffPolicy
from watcher import WatchSettings

CLIENT_GO = BackoffPolicy(initial=0.8, max=30.0, reset_after=120.0, retry_after_max=60.0)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    now = [0.0]
    backoff = Backoff(CLIENT_GO, rng=random.Random(1), clock=lambda: now[0])
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
    backoff = Backoff(CLIENT_GO, rng=random.Random(2), clock=lambda: now[0])
    for _ in range(6):
        backoff.next_delay()
        now[0] += 1.0
    assert backoff.attempt == 6
    now[0] += 121.0
    assert backoff.next_delay() <= 0.8
    assert backoff.attempt == 1


def test_without_reset_after_a_streak_is_never_forgotten() -> None:
    now = [0.0]
    policy = BackoffPolicy(initial=1.0, max=1000.0)
    backoff = Backoff(policy, rng=random.Random(3), clock=lambda: now[0])
    for _ in range(4):
        backoff.next_delay()
        now[0] += 10_000.0
    assert backoff.attempt == 4


def test_a_servers_retry_after_replaces_the_draw_up_to_its_bound() -> None:
    backoff = Backoff(CLIENT_GO, rng=random.Random(4))
    assert backoff.next_delay(retry_after=7.0) == 7.0
    assert backoff.next_delay(retry_after=3600.0) == 60.0  # retry_after_max
    assert backoff.attempt == 2  # the streak grows for when the server stops asking
    webhook = BackoffPolicy(initial=0.5, max=10.0)  # no retry_after_max: `max` bounds it
    assert Backoff(webhook).next_delay(retry_after=3600.0) == 10.0


def test_a_long_streak_stays_at_the_cap() -> None:
    backoff = Backoff(BackoffPolicy(initial=1.0, max=5.0, factor=10.0), rng=random.Random(5))
    delays = [backoff.next_delay() for _ in range(500)]
    assert all(0.0 <= d <= 5.0 for d in delays)
    assert backoff.attempt == 64


def test_the_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(CLIENT_GO, rng=random.Random(seed), clock=lambda: 0.0)
        return [backoff.next_delay() for _ in range(8)]

    assert run(6) == run(6)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"initial": 0.0, "max": 1.0}, "positive"),
        ({"initial": 1.0, "max": -1.0}, "positive"),
        ({"initial": 1.0, "max": 1.0, "factor": 0.5}, "at least 1"),
        ({"initial": 1.0, "max": float("inf")}, "finite"),
        ({"initial": float("nan"), "max": 1.0}, "finite"),
        ({"initial": 1.0, "max": 1.0, "reset_after": 0.0}, "reset_after"),
        ({"initial": 1.0, "max": 1.0, "retry_after_max": -1.0}, "retry_after_max"),
    ],
)
def test_policy_is_validated(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackoffPolicy(**values)


def test_the_watchers_settings_are_one_policy() -> None:
    settings = WatchSettings(
        backoff_initial=0.1,
        backoff_factor=3.0,
        backoff_max=2.0,
        backoff_reset_after=9.0,
        retry_after_max=4.0,
    )
    assert settings.backoff == BackoffPolicy(
        initial=0.1, factor=3.0, max=2.0, reset_after=9.0, retry_after_max=4.0
    )
