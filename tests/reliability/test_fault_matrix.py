"""The fault matrix: one test per way the API server or the network misbehaves.

Each test drives a synced rig (harness.py) through one fault (faults.py)
while the cluster changes, then requires the store to equal the simulator
object by object on every status column, and its history to equal the one a
fault-free store records from the same changes: no transition lost, none
twice. tests/watcher/test_convergence.py covers the faults mixed together
under churn; these isolate each one, so a failure names its fault.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.faults import FAULTS, Scale, run_fault

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_kind_converges_with_exact_history(tmp_path: Path, fault: str) -> None:
    result = await run_fault(tmp_path, fault, Scale())
    assert result.objects > 0
    assert not result.mismatches, result.mismatches[:10]
    assert not result.history.lost, result.history.lost[:10]
    assert not result.history.duplicated, result.history.duplicated[:10]
    assert result.history.expected > 0, "the test made no status change to check"
