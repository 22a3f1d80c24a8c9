"""MCP prompts: four recurring investigations, primed with what the cache knows now.

A prompt that only said "please analyse the cluster" would make the model
spend its first turns fetching; these embed the current state (the same text
the tools return) and name the tools for the next steps, so the first answer
is already grounded.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import Field

from mcpserver.errors import InvalidArgument, NotFound
from mcpserver.surface.render import render
from mcpserver.surface.service import ClusterAnswers

__all__ = ["register_prompts"]


def _state(title: str, text: str) -> str:
    return f"{title} (from the kube-watchcache watch cache):\n```\n{text}\n```"


def register_prompts(mcp: MCPServer[Any], answers: ClusterAnswers) -> None:
    """Add the prompts to `mcp`."""

    @mcp.prompt(
        name="cluster_status_analysis",
        title="Cluster status analysis",
        description="Assess the cluster's health now: what is broken, since when, how bad, "
        "what to do first.",
    )
    async def cluster_status_analysis() -> list[Message]:
        health = await answers.cluster_health(limit=20)
        changes = await answers.recent_changes(since="1h", min_severity="warning", limit=20)
        return [
            UserMessage(
                "Analyse the current status of this Kubernetes cluster.\n\n"
                + _state("Health report", render(health))
                + "\n\n"
                + _state("Warning and critical changes in the last hour", render(changes))
                + "\n\nGroup the findings by likely root cause (a NotReady node explains its pods; "
                "a bad image explains a deployment's crash loops). For each group say what is "
                "affected, since when, how severe, and the first thing to check or do. Use the "
                "kube-watchcache tools (get_pod, get_deployment, get_node, recent_changes, "
                "metric_summary) for details; they read the watch cache, not the API server."
            )
        ]

    @mcp.prompt(
        name="pod_troubleshooting",
        title="Pod troubleshooting",
        description="Find out why one pod is unhealthy and what to do about it.",
    )
    async def pod_troubleshooting(
        namespace: Annotated[str, Field(description="the pod's namespace, e.g. default")],
        pod: Annotated[str, Field(description="the pod's name, as list_pods shows it")],
    ) -> list[Message]:
        try:
            detail = await answers.get_pod(namespace, pod)
        except (NotFound, InvalidArgument) as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        containers = "\n".join(
            f"- {c.name}{' (init)' if c.init else ''}: {c.state}"
            + (
                f", waiting {c.waiting_reason}: {c.waiting_message or ''}"
                if c.waiting_reason
                else ""
            )
            + (
                f", last terminated {c.last_terminated_reason} (exit {c.last_terminated_exit_code})"
                if c.last_terminated_reason
                else ""
            )
            + f", restarts {c.restarts}, image {c.image}"
            for c in detail.containers
        )
        return [
            UserMessage(
                f"Troubleshoot pod {namespace}/{pod}.\n\n"
                + _state("Pod", render(detail))
                + f"\n\nContainers:\n{containers or '(none reported)'}\n\n"
                "Explain the most likely cause from the container states, conditions and the "
                "order of the status changes (for example OOMKilled before CrashLoopBackOff points "
                "at memory limits; ImagePullBackOff at the image name or registry access; "
                "Unschedulable at requests, taints or node selectors). If the pod belongs to a "
                "deployment, check whether its siblings fail the same way (get_deployment) and "
                "whether its node is healthy (get_node). End with concrete next steps."
            )
        ]

    @mcp.prompt(
        name="deployment_rollout_check",
        title="Deployment rollout check",
        description="Is this deployment's rollout progressing, finished or stuck, and why.",
    )
    async def deployment_rollout_check(
        namespace: Annotated[str, Field(description="the deployment's namespace")],
        deployment: Annotated[str, Field(description="the deployment's name")],
    ) -> list[Message]:
        try:
            detail = await answers.get_deployment(namespace, deployment)
        except (NotFound, InvalidArgument) as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        return [
            UserMessage(
                f"Check the rollout of deployment {namespace}/{deployment}.\n\n"
                + _state("Deployment", render(detail))
                + "\n\nCompare desired, updated, ready and available replicas and the Progressing "
                "and Available conditions (ProgressDeadlineExceeded means stuck). "
                "If new pods fail, "
                "say how (from their status and reasons) and whether old replicas still serve. "
                "Use recent_changes(kind='Deployment', namespace, name) for the timeline and "
                "get_pod on a failing pod for its containers. Conclude: progressing, complete, or "
                "stuck, with the reason and what to do (wait, fix the image/config, roll back)."
            )
        ]

    @mcp.prompt(
        name="node_capacity_review",
        title="Node capacity review",
        description="Review node capacity: requests vs allocatable, hot spots, "
        "unhealthy or cordoned nodes.",
    )
    async def node_capacity_review() -> list[Message]:
        by_cpu = await answers.metric_summary(by="node", sort="cpu_requested_pct", top=10)
        by_memory = await answers.metric_summary(by="node", sort="memory_requested_pct", top=10)
        nodes = await answers.list_nodes(problems_only=True, limit=20)
        return [
            UserMessage(
                "Review this cluster's node capacity.\n\n"
                + _state("Nodes by CPU requested (share of allocatable)", render(by_cpu))
                + "\n\n"
                + _state("Nodes by memory requested (share of allocatable)", render(by_memory))
                + "\n\n"
                + _state("Nodes with problems", render(nodes))
                + "\n\nIdentify nodes close to or over their allocatable CPU, memory or pod count, "
                "nodes that are NotReady, pressured or cordoned, and how much room is left "
                "cluster-wide (see the cluster totals). Recommend rebalancing, adding capacity or "
                "fixing requests where it matters, citing the numbers. "
                "get_node gives one node's pods."
            )
        ]
