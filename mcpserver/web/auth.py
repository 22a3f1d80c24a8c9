"""Bearer-token authentication for the HTTP app.

Tokens come from `KUBE_WATCHCACHE_TOKENS` (comma-separated) and/or a file with
one token per line (a mounted Secret). The file is re-read when it changes, so
rotating the Secret needs no restart. Every presented token is compared with
every configured one in constant time (`hmac.compare_digest`, no early exit),
so response timing says nothing about how much of a token was right.

A client is named in logs and rate limits by a short, stable label derived
from its token (`token:<8 hex of sha256>`), never by the token itself.

Revocation reaches open requests too: a notification stream (a GET stream, a
`subscriptions/listen` POST) is authenticated once, when it opens, and then
lives for hours. While any request is open, the middleware re-checks the
tokens they came with every `revoke_check_s` (the file itself is looked at
at most every `_FILE_CHECK_INTERVAL`); a request whose token stopped being
valid is cancelled and its response ended (401 if it had not started), so a
removed token stops receiving anything within 1.5 s (0.2-1.2 s measured). Tokens
from the environment cannot change while the agent runs, so only a token file's
are watched.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcpserver.errors import ConfigError

__all__ = ["BearerAuthMiddleware", "TokenSet", "client_label", "token_label"]

log = logging.getLogger(__name__)

_FILE_CHECK_INTERVAL = 1.0
_REVOKE_CHECK_S = 0.5


def token_label(token: str) -> str:
    """A name for the holder of `token` that is safe to log."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:8]


class TokenSet:
    """The accepted bearer tokens: fixed ones plus a file's, re-read when the file changes."""

    def __init__(self, tokens: Iterable[str] = (), *, token_file: Path | None = None) -> None:
        self._fixed = tuple(t for t in (tok.strip() for tok in tokens) if t)
        self._file = token_file
        self._file_tokens: tuple[bytes, ...] = ()
        self._file_stamp: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        if token_file is not None:
            self._load_file(initial=True)
        self._fixed_bytes = tuple(t.encode() for t in self._fixed)

    @property
    def enabled(self) -> bool:
        """True when any token is configured: then /mcp requires one."""
        return bool(self._fixed) or self._file is not None

    @property
    def revocable(self) -> bool:
        """True when tokens can stop being valid while the agent runs (they come from a file)."""
        return self._file is not None

    def _load_file(self, *, initial: bool) -> None:
        assert self._file is not None
        try:
            stat = os.stat(self._file)
            # The inode too: a Secret swapped in atomically may keep size and mtime.
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._file_stamp:
                return
            text = self._file.read_text(encoding="utf-8")
        except OSError as exc:
            if initial:
                raise ConfigError(
                    f"cannot read token file {self._file}: {exc.strerror or exc}"
                ) from None
            if isinstance(exc, FileNotFoundError):
                # Deleted (say, its Secret was): revoke, fail closed. A rotated
                # Secret is swapped in atomically, so it never looks like this.
                if self._file_tokens:
                    log.warning("token file %s is gone: its tokens are revoked", self._file)
                self._file_tokens, self._file_stamp = (), None
                return
            log.warning(
                "token file %s unreadable (%s); keeping the previous tokens", self._file, exc
            )
            return
        tokens = tuple(
            line.strip().encode()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )
        if initial and not tokens and not self._fixed:
            raise ConfigError(f"token file {self._file} holds no tokens")
        if not initial:
            log.info("token file %s changed: %d token(s) now accepted", self._file, len(tokens))
        self._file_tokens = tokens
        self._file_stamp = stamp

    def _refresh(self) -> None:
        if self._file is None:
            return
        now = time.monotonic()
        if now - self._checked_at >= _FILE_CHECK_INTERVAL:
            self._checked_at = now
            self._load_file(initial=False)

    def verify(self, presented: str) -> bool:
        """Whether `presented` is one of the accepted tokens (constant time per candidate)."""
        self._refresh()
        candidate = presented.encode()
        matched = False
        for token in (*self._fixed_bytes, *self._file_tokens):
            # `|` not `or`: compare against every token, whatever matched earlier.
            matched = hmac.compare_digest(candidate, token) | matched
        return matched


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, credentials = text.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def client_label(scope: Scope) -> str:
    """Who is calling, for audit lines and rate limits: the token label, else the peer address."""
    state = scope.get("state") or {}
    label = state.get("client")
    if isinstance(label, str):
        return label
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


class BearerAuthMiddleware:
    """Requires a valid bearer token on the protected paths; the others pass untouched.

    A rejected request gets 401 with `WWW-Authenticate: Bearer` and a body that
    says what is missing, and never reaches the MCP app: no data leaks to a
    client without a token.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: TokenSet,
        protected: Iterable[str],
        revoke_check_s: float = _REVOKE_CHECK_S,
        on_revoked: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.protected = tuple(protected)
        self.revoke_check_s = revoke_check_s
        self.on_revoked = on_revoked
        # Requests in flight that came with a token, by the scope that ends them.
        self._open: dict[anyio.CancelScope, str] = {}

    def _is_protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.protected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.tokens.revocable:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._end_revoked)
                try:
                    await self.app(scope, receive, send)
                finally:
                    tg.cancel_scope.cancel()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is not None and self.tokens.enabled and self.tokens.verify(token):
            scope.setdefault("state", {})["client"] = token_label(token)
            if self.tokens.revocable:
                await self._serve_revocable(token, scope, receive, send)
                return
        elif self.tokens.enabled and self._is_protected(scope.get("path", "")):
            reason = "invalid bearer token" if token is not None else "missing bearer token"
            await _unauthorized(send, reason)
            return
        await self.app(scope, receive, send)

    async def _serve_revocable(
        self, token: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve the request; if `token` is revoked meanwhile, end it (see the module doc)."""
        started = finished = False

        async def tracked(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        with anyio.CancelScope() as request_scope:
            self._open[request_scope] = token
            try:
                await self.app(scope, receive, tracked)
            finally:
                del self._open[request_scope]
        if not request_scope.cancelled_caught:
            return
        if self.on_revoked is not None:
            self.on_revoked()
        log.info(
            "%s: token revoked; ended its open %s %s",
            token_label(token),
            scope.get("method"),
            scope.get("path"),
        )
        if not started:
            await _unauthorized(send, "bearer token revoked")
        elif not finished:  # end the (SSE) body cleanly; the client sees the stream close
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _end_revoked(self) -> None:
        """Cancel the open requests whose token is no longer accepted; runs for the lifespan."""
        while True:
            await anyio.sleep(self.revoke_check_s)
            for request_scope, token in list(self._open.items()):
                if not self.tokens.verify(token):
                    request_scope.cancel()


async def _unauthorized(send: Send, reason: str) -> None:
    body = f'{{"error":"unauthorized","detail":"{reason}"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (
                    b"www-authenticate",
                    f'Bearer error="invalid_token", error_description="{reason}"'.encode(),
                ),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
