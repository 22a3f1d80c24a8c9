"""The env values a pod's answer shows as redacted, and how many.

Literal env values are redacted before anything is stored
(`kinds.redaction`), so a stored spec holds `"<redacted>"` where they
were; `get_pod` reports how many. A state file written by an agent older
than that may still hold literal values until its kind has been listed again
(seconds after start): they are redacted here as well, so `get_pod` never
shows one unless the operator opted in with `--reveal-env-values`.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["REDACTED", "redact_env_values"]

# The marker `kinds.redaction` stores (a test holds the two equal); not
# imported from there, so answering from the store does not load the watcher.
REDACTED: Final = "<redacted>"

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def redact_env_values(spec: dict[str, Any]) -> int:
    """Redact literal env values left in a decoded pod spec, in place; returns how many are."""
    count = 0
    for key in _CONTAINER_LISTS:
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for container in containers:
            env = container.get("env") if isinstance(container, dict) else None
            if not isinstance(env, list):
                continue
            for variable in env:
                if not isinstance(variable, dict) or "value" not in variable:
                    continue
                variable["value"] = REDACTED
                count += 1
    return count
