"""The manifests set only environment the agent's own option table reads.

manifest_checks.CONTRACT_ENV is the contract as written down; this file asks
the agent itself (mcpserver.config.OPTIONS), so a renamed or dropped option
fails here instead of being silently ignored by a pod in production.
"""

from __future__ import annotations

from typing import Any

import pytest

from mcpserver.config import CONFIG_ENV, OPTIONS, TOKENS_ENV
from tests.deploy.conftest import needs_kubectl, render
from tests.deploy.manifest_checks import agent_deployment, env_of

pytestmark = [pytest.mark.kubectl, needs_kubectl]

AGENT_ENV = frozenset({option.env_name for option in OPTIONS} | {CONFIG_ENV, TOKENS_ENV})


def deployment_env(name: str) -> dict[str, Any]:
    container = agent_deployment(render(name))["spec"]["template"]["spec"]["containers"][0]
    return env_of(container)


@pytest.mark.parametrize("name", ["base", "namespaced", "persistent", "prometheus-operator", "ha"])
def test_every_env_var_is_read_by_the_agent(name: str) -> None:
    unread = set(deployment_env(name)) - AGENT_ENV
    assert unread == set()
