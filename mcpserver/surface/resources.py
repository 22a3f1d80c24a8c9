"""MCP resources: the health report and single objects, readable and subscribable.

The same answers as `cluster_health`, the `get_*` tools and `get_object`
(every other stored kind, `k8s://<plural>/<namespace>/<name>`), as JSON
documents at stable URIs, so a client can subscribe to `k8s://pods/web/api-7d9f` and be
told (see `mcpserver.subscriptions`) when that pod's status changes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import BaseModel

from kinds import STORED
from mcpserver.errors import InvalidArgument, NotFound
from mcpserver.surface.service import ClusterAnswers
from mcpserver.surface.subscriptions import HEALTH_URI

__all__ = ["register_resources"]

_JSON = "application/json"


async def _document(make: Callable[[], Awaitable[BaseModel]]) -> str:
    """The answer as JSON; a missing object is not found (its code depends on the
    protocol version: `KubeWatchcacheServer.read_resource`), a malformed URI part -32602."""
    try:
        answer = await make()
    except NotFound as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except InvalidArgument as exc:
        raise MCPError(INVALID_PARAMS, str(exc)) from None
    return json.dumps(answer.model_dump(mode="json"), separators=(",", ":"))


def register_resources(mcp: MCPServer[Any], answers: ClusterAnswers) -> None:
    """Add the health resource and the per-object resource templates to `mcp`."""

    @mcp.resource(
        HEALTH_URI,
        name="cluster-health",
        title="Cluster health report",
        description="What is broken now, grouped by cause and ranked (cluster_health with its "
        "defaults: the same objects as list_*(problems_only=true) and get_*, pending findings "
        "shown with the time they count); subscribers are notified on every warning or "
        "critical transition.",
        mime_type=_JSON,
    )
    async def health() -> str:
        return await _document(lambda: answers.cluster_health())

    @mcp.resource(
        "k8s://pods/{namespace}/{name}",
        name="pod",
        title="One pod",
        description="A pod's status, containers, findings and recent changes (as get_pod).",
        mime_type=_JSON,
    )
    async def pod(namespace: str, name: str) -> str:
        return await _document(lambda: answers.get_pod(namespace, name))

    @mcp.resource(
        "k8s://deployments/{namespace}/{name}",
        name="deployment",
        title="One deployment",
        description="A deployment with its pods, findings and recent changes (as get_deployment).",
        mime_type=_JSON,
    )
    async def deployment(namespace: str, name: str) -> str:
        return await _document(lambda: answers.get_deployment(namespace, name))

    @mcp.resource(
        "k8s://nodes/{name}",
        name="node",
        title="One node",
        description="A node's conditions, capacity vs requests and pods (as get_node).",
        mime_type=_JSON,
    )
    async def node(name: str) -> str:
        return await _document(lambda: answers.get_node(name))

    # Every other stored kind: one template each, answered as get_object.
    covered = {"pods", "deployments", "nodes"}  # the templates above
    for kind, spec in STORED.items():
        if spec.name not in covered:
            _object_resource(
                mcp, answers, kind.value, spec.name, namespaced=spec.resource.namespaced
            )


def _object_resource(
    mcp: MCPServer[Any], answers: ClusterAnswers, kind: str, plural: str, *, namespaced: bool
) -> None:
    description = f"One {kind}: its status, findings, recent changes and pods (as get_object)."
    if namespaced:

        async def namespaced_object(namespace: str, name: str) -> str:
            return await _document(lambda: answers.get_object(kind, namespace, name))

        mcp.resource(
            f"k8s://{plural}/{{namespace}}/{{name}}",
            name=kind.lower(),
            title=f"One {kind}",
            description=description,
            mime_type=_JSON,
        )(namespaced_object)
    else:

        async def cluster_object(name: str) -> str:
            return await _document(lambda: answers.get_object(kind, "", name))

        mcp.resource(
            f"k8s://{plural}/{{name}}",
            name=kind.lower(),
            title=f"One {kind}",
            description=description,
            mime_type=_JSON,
        )(cluster_object)
