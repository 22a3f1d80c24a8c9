"""Plausible names, images and pod templates for the simulated cluster's workloads.

A health report that says "payments/checkout has 2/3 ready" reads like a real
incident; "ns-3/deploy-17" does not, and would let naming bugs (prefix clashes,
sorting, long names) hide. Everything here is drawn from the scenario's seeded
random source.
"""

from __future__ import annotations

import random
import re

from .objects import Obj, make_container, make_pod_template

__all__ = ["WorkloadFactory", "previous_tag"]

_NAMESPACES = (
    "default",
    "payments",
    "storefront",
    "platform",
    "data",
    "monitoring",
    "identity",
    "search",
    "messaging",
    "analytics",
    "ml-serving",
    "logistics",
    "marketing",
    "support",
    "billing",
    "inventory",
)

_APPS = (
    "api",
    "web",
    "frontend",
    "checkout",
    "cart",
    "auth",
    "search",
    "catalog",
    "inventory",
    "orders",
    "shipping",
    "notifications",
    "recommendations",
    "billing",
    "gateway",
    "worker",
    "scheduler",
    "ingest",
    "reporting",
    "ledger",
    "pricing",
    "profile",
    "session",
    "media",
    "thumbnailer",
    "mailer",
    "webhooks",
    "audit",
    "exporter",
    "importer",
    "graphql",
    "admin",
    "feature-flags",
    "rate-limiter",
    "cache-warmer",
    "indexer",
    "crawler",
    "payments",
    "fraud-detector",
    "reconciler",
    "settlement",
    "kyc",
    "chat",
    "presence",
    "feed",
    "ranker",
    "experiments",
    "geo",
    "tiles",
    "status-page",
)

_QUALIFIERS = (
    "v2",
    "internal",
    "public",
    "batch",
    "edge",
    "sync",
    "consumer",
    "producer",
    "cron",
    "grpc",
    "http",
    "replica",
    "shadow",
    "canary",
    "worker",
)

_PUBLIC_IMAGES = (
    ("nginx", "1.27.3"),
    ("redis", "7.4.1"),
    ("memcached", "1.6.32"),
    ("envoyproxy/envoy", "v1.32.2"),
    ("grafana/grafana", "11.3.1"),
    ("prom/statsd-exporter", "v0.28.0"),
    ("quay.io/oauth2-proxy/oauth2-proxy", "v7.7.1"),
    ("ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector", "0.114.0"),
)

_CPU_REQUESTS = ("50m", "100m", "100m", "150m", "200m", "250m")
_MEMORY_REQUESTS = ("64Mi", "128Mi", "128Mi", "256Mi", "384Mi", "512Mi")
_TAG = re.compile(r"^(?P<prefix>v?)(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)$")


class WorkloadFactory:
    """Namespaces, deployment names and pod templates, drawn from a seeded source."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._taken: dict[str, dict[str, None]] = {}

    @staticmethod
    def namespace_names(count: int) -> list[str]:
        names = list(_NAMESPACES[:count])
        width = len(str(count))
        names += [f"team-{index:0{width}d}" for index in range(len(names), count)]
        return names

    def deployment_name(self, namespace: str) -> str:
        """A name not yet used in `namespace`: an app, then app-qualifier, then numbered."""
        taken = self._taken.setdefault(namespace, {})
        rng = self.rng
        for _ in range(8):
            name = rng.choice(_APPS)
            if rng.random() < 0.35:
                name = f"{name}-{rng.choice(_QUALIFIERS)}"
            if name not in taken:
                taken[name] = None
                return name
        base = rng.choice(_APPS)
        number = 2
        while f"{base}-{number}" in taken:
            number += 1
        name = f"{base}-{number}"
        taken[name] = None
        return name

    def release(self, namespace: str, name: str) -> None:
        self._taken.get(namespace, {}).pop(name, None)

    def image(self, namespace: str, app: str) -> str:
        rng = self.rng
        if rng.random() < 0.25:
            repo, tag = rng.choice(_PUBLIC_IMAGES)
            return f"{repo}:{tag}"
        version = f"v{rng.choice((0, 1, 1, 1, 2, 3))}.{rng.randint(0, 30)}.{rng.randint(0, 12)}"
        return f"registry.example.com/{namespace}/{app}:{version}"

    def template(self, namespace: str, app: str) -> Obj:
        """A pod template: one app container, sometimes a log-shipping sidecar."""
        rng = self.rng
        cpu = rng.choice(_CPU_REQUESTS)
        memory = rng.choice(_MEMORY_REQUESTS)
        guaranteed = rng.random() < 0.15
        cpu_limit: str | None = cpu if guaranteed else rng.choice((None, "500m", "1", "2"))
        memory_limit = memory if guaranteed else _double(memory)
        if guaranteed and cpu_limit is None:
            cpu_limit = cpu
        containers = [
            make_container(
                name=app.split("-")[0] if rng.random() < 0.5 else "app",
                image=self.image(namespace, app),
                cpu_request=cpu,
                memory_request=memory,
                cpu_limit=cpu_limit,
                memory_limit=memory_limit,
                port=8080 if rng.random() < 0.8 else None,
            )
        ]
        if rng.random() < 0.2:
            containers.append(
                make_container(
                    name="log-shipper",
                    image="fluent/fluent-bit:3.2.2",
                    cpu_request="10m",
                    memory_request="32Mi",
                    cpu_limit="100m",
                    memory_limit="64Mi",
                )
            )
        return make_pod_template(labels={"app": app}, containers=containers)

    def progress_deadline(self) -> int:
        return self.rng.choice((600, 600, 600, 600, 300, 120))

    @staticmethod
    def next_tag(image: str, *, bump: str = "patch") -> str:
        """The image with its version bumped (`v1.4.2` -> `v1.4.3`); other tags get `-2`."""
        repo, _, tag = image.rpartition(":")
        if not repo:
            return f"{image}:v1.0.1"
        match = _TAG.match(tag)
        if match is None:
            return f"{repo}:{tag}-2"
        major, minor, patch = (int(match[part]) for part in ("major", "minor", "patch"))
        if bump == "minor":
            minor, patch = minor + 1, 0
        else:
            patch += 1
        return f"{repo}:{match['prefix']}{major}.{minor}.{patch}"


def previous_tag(image: str) -> str:
    """The release before `image` (`v1.4.2` -> `v1.4.1`, `v1.4.0` -> `v1.3.9`)."""
    repo, _, tag = image.rpartition(":")
    match = _TAG.match(tag) if repo else None
    if match is None:
        return f"{image}-previous" if repo else f"{image}:previous"
    major, minor, patch = (int(match[part]) for part in ("major", "minor", "patch"))
    if patch:
        patch -= 1
    elif minor:
        minor, patch = minor - 1, 9
    else:
        return f"{repo}:{tag}-rc.1"
    return f"{repo}:{match['prefix']}{major}.{minor}.{patch}"


def _double(quantity: str) -> str:
    number = int("".join(ch for ch in quantity if ch.isdigit()))
    unit = "".join(ch for ch in quantity if not ch.isdigit())
    return f"{number * 2}{unit}"
