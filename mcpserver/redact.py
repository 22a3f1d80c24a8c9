"""Redaction of literal env values before a pod spec reaches a client.

People put passwords in `env[].value` even though Secrets exist; an assistant's
context (and its logs) is the wrong place for them. Literal values become
`"<redacted>"`; `valueFrom` references stay, since they name a Secret or
ConfigMap key without revealing it. The `last-applied-configuration`
annotation repeats the whole spec, values included, so it is dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDACTED", "redact_pod"]

REDACTED = "<redacted>"
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def redact_pod(obj: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A copy of the pod object with literal env values redacted, and how many were."""
    count = 0
    out = dict(obj)
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        annotations = dict(metadata["annotations"])
        if annotations.pop(_LAST_APPLIED, None) is not None:
            count += 1
        out["metadata"] = {**metadata, "annotations": annotations}
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out, count
    spec = dict(spec)
    for key in _CONTAINER_LISTS:
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        redacted_containers = []
        for container in containers:
            if isinstance(container, dict) and isinstance(container.get("env"), list):
                env = []
                for var in container["env"]:
                    if isinstance(var, dict) and "value" in var:
                        var = {**var, "value": REDACTED}
                        count += 1
                    env.append(var)
                container = {**container, "env": env}
            redacted_containers.append(container)
        spec[key] = redacted_containers
    out["spec"] = spec
    return out, count
