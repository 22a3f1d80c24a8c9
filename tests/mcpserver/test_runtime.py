"""The agent's interpreter settings: applied while asked for, undone afterwards."""

from __future__ import annotations

import gc
import sys
import weakref

from mcpserver.runtime import (
    SWITCH_INTERVAL_S,
    YOUNG_GENERATION_THRESHOLD,
    freeze_after_sync,
    frozen_after_sync,
    short_gil_turns,
    thaw,
)


def test_short_gil_turns_applies_the_interval_and_restores_the_previous_one() -> None:
    before = sys.getswitchinterval()
    with short_gil_turns():
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
    assert sys.getswitchinterval() == before


def test_freeze_raises_the_young_threshold_and_thaw_restores_everything() -> None:
    before = gc.get_threshold()
    freeze_after_sync()
    try:
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
    finally:
        thaw()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_after_the_freeze_are_still_collected() -> None:
    class Node:
        partner: Node | None = None

    freeze_after_sync()
    try:
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        gone = weakref.ref(a)
        del a, b
        assert gone() is not None  # only the collector can free a cycle
        gc.collect()
        assert gone() is None
    finally:
        thaw()


def test_the_collector_is_restored_only_when_the_last_freeze_is_undone() -> None:
    before = gc.get_threshold()
    freeze_after_sync()  # one agent synced
    freeze_after_sync()  # a second one in the same process
    thaw()  # the first stops: the second still runs with the tuned collector
    assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
    assert gc.get_freeze_count() > 0
    thaw()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    thaw()  # one too many changes nothing
    assert gc.get_threshold() == before


def test_frozen_after_sync_undoes_its_freeze_even_when_the_block_fails() -> None:
    before = gc.get_threshold()
    try:
        with frozen_after_sync():
            assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
            raise RuntimeError("informers failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
