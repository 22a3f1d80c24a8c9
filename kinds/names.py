"""The kinds the agent stores, by their Kubernetes kind name: one line per kind.

An enum rather than strings so that a misspelt kind is a type error, and so
that every table, index and sync row keyed by kind is complete by
construction. Everything else about a kind is in its own module
(`kinds.<kind>`), gathered by `kinds.registry`.
"""

from __future__ import annotations

import enum

__all__ = ["Kind"]


class Kind(enum.StrEnum):
    """The kinds the agent watches and stores, by their Kubernetes kind name."""

    POD = "Pod"
    DEPLOYMENT = "Deployment"
    NODE = "Node"
    STATEFULSET = "StatefulSet"
