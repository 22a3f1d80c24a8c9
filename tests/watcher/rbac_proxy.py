"""An API server front that refuses some namespaces, as RBAC does for a Role-limited install.

The simulator authorizes everything; a real cluster answers 403 Forbidden to
a list or watch in a namespace the agent's Role does not cover. This is a
real HTTP server on loopback that forwards every request to the simulator
(streams included, chunk by chunk) except those inside a namespace of
`forbidden`, which get the API server's 403 Status. `forbidden` is plain
state: change it between requests to grant or revoke access.
"""

from __future__ import annotations

import json
import re
from types import TracebackType

import aiohttp
from aiohttp import web

__all__ = ["RbacProxy"]

# Anything in a namespace, and the namespace object itself (a Role cannot grant that).
_NAMESPACED = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/namespaces/([^/]+)(?:/([^/?]+))?")


class RbacProxy:
    """Forward to `upstream`; 403 for requests under /namespaces/<one of forbidden>/."""

    def __init__(self, upstream: str, *, forbidden: set[str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.forbidden: set[str] = set(forbidden or ())
        self.refused = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> RbacProxy:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        match = _NAMESPACED.match(request.path)
        if match and match.group(1) in self.forbidden:
            self.refused += 1
            namespace, resource = match.group(1), match.group(2) or "namespaces"
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": (
                    f'{resource} is forbidden: User "system:serviceaccount:x:agent" cannot '
                    f'list resource "{resource}" in the namespace "{namespace}"'
                ),
                "reason": "Forbidden",
                "code": 403,
            }
            return web.Response(
                status=403, body=json.dumps(status).encode(), content_type="application/json"
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            response.content_type = upstream.content_type
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
