"""Rendering the kustomize trees once per test session.

Every install variant an operator can apply is rendered with the same tool
they would use (`kubectl kustomize`), so the tests see exactly what reaches the
API server. Without kubectl the render tests skip with the reason; the checker
and Dockerfile tests still run.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs installed; only safe_load_all is used

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
#: Every kustomization an operator may apply, by the name tests refer to it with.
RENDERS: dict[str, Path] = {
    "deploy": DEPLOY,
    "base": DEPLOY / "base",
    "namespaced": DEPLOY / "overlays" / "namespaced",
    "persistent": DEPLOY / "overlays" / "persistent",
    "prometheus-operator": DEPLOY / "overlays" / "prometheus-operator",
    "ha": DEPLOY / "overlays" / "ha",
}
KUBECTL = shutil.which("kubectl")

needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not on PATH: the kustomize overlays cannot be rendered"
)


@functools.cache
def _render(name: str) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(RENDERS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {RENDERS[name]} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(name: str) -> list[dict[str, Any]]:
    """The objects one kustomization produces, as fresh dicts the caller may mutate."""
    return copy.deepcopy(list(_render(name)))


@pytest.fixture(params=sorted(RENDERS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """Each kustomization in turn: (name, objects)."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH: the kustomize overlays cannot be rendered")
    name: str = request.param
    return name, render(name)
