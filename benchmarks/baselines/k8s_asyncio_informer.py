"""The baseline: an informer written the way kubernetes-asyncio's API invites.

List each kind with the generated API (`list_pod_for_all_namespaces` &
co., paginated), keep the returned models (`V1Pod`, `V1Deployment`,
`V1Node`) in a dict keyed by uid, then follow changes with
`kubernetes_asyncio.watch.Watch().stream(...)`, which deserializes every
event into a model. This is what most Python controllers do; the benchmark
measures what that costs in CPU and memory against the agent's watcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes_asyncio import client, watch

__all__ = ["BaselineInformer"]

LISTERS: dict[str, tuple[str, str]] = {
    "pods": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "deployments": ("AppsV1Api", "list_deployment_for_all_namespaces"),
    "nodes": ("CoreV1Api", "list_node"),
}


class BaselineInformer:
    """One kind: models in memory, kept current by kubernetes-asyncio's Watch."""

    def __init__(self, api: client.ApiClient, kind: str, *, page_size: int = 500) -> None:
        group, method = LISTERS[kind]
        self.kind = kind
        self._list: Callable[..., Any] = getattr(getattr(client, group)(api), method)
        self._page_size = page_size
        self.cache: dict[str, Any] = {}
        self.resource_version = ""
        self.events = 0

    async def sync(self) -> int:
        """List every object (deserialized into models) and hold them."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": self._page_size}
            if token:
                kwargs["_continue"] = token
            page = await self._list(**kwargs)
            for item in page.items:
                self.cache[item.metadata.uid] = item
            self.resource_version = page.metadata.resource_version
            token = page.metadata._continue
            if not token:
                return len(self.cache)

    async def watch(self, *, until_events: int, timeout_seconds: int = 600) -> None:
        """Apply watch events (each deserialized into a model) until `until_events` arrived."""
        w = watch.Watch()
        try:
            stream = w.stream(
                self._list,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_seconds,
            )
            async for event in stream:
                kind = event["type"]
                if kind == "BOOKMARK":
                    continue
                obj = event["object"]
                if kind == "DELETED":
                    self.cache.pop(obj.metadata.uid, None)
                else:
                    self.cache[obj.metadata.uid] = obj
                self.resource_version = obj.metadata.resource_version
                self.events += 1
                if self.events >= until_events:
                    return
        finally:
            await w.close()
