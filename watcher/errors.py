"""The watcher's exceptions, and where the API server's errors become ours.

kubernetes-asyncio and aiohttp raise their own types (ApiException,
ClientResponseError, ServerTimeoutError, ...). They stop at this boundary:
`api_error_from_status` and the transport turn a status code into one of the
classes below, chained with `from e` and with the response body truncated, so
the reflector decides what to do (relist, back off, wait Retry-After) from our
types alone and a log line never carries a megabyte of HTML.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ConfigError",
    "GoneError",
    "MalformedEventError",
    "StalledStreamError",
    "TooManyRequestsError",
    "TransportError",
    "WatcherError",
    "api_error_from_status",
    "truncate",
]

# Enough of a response body to see the API server's Status message.
BODY_LIMIT = 512


def truncate(text: str | bytes, limit: int = BODY_LIMIT) -> str:
    """A printable prefix of a body or a line, marked when it was cut."""
    if isinstance(text, bytes):
        text = text[: limit * 4].decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"


class WatcherError(Exception):
    """Base class of everything the watcher raises on purpose."""


class ConfigError(WatcherError):
    """No usable connection configuration (missing files, bad kubeconfig, ...)."""


class TransportError(WatcherError):
    """The connection failed before an HTTP status was seen (refused, TLS, reset)."""


class StalledStreamError(WatcherError):
    """A watch stream sent nothing for longer than the inactivity timeout."""


class MalformedEventError(WatcherError):
    """A watch line or list body the decoder could not read; `line` is truncated."""

    def __init__(self, message: str, *, line: bytes = b"") -> None:
        super().__init__(f"{message}: {truncate(line, 200)}" if line else message)
        self.line = line[:1024]


class ApiError(WatcherError):
    """The API server answered with an error status (HTTP or a watch ERROR event)."""

    def __init__(self, status: int, *, reason: str = "", message: str = "", body: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = truncate(body)
        detail = message or self.body
        super().__init__(f"HTTP {status} {reason}: {detail}".rstrip(": "))


class GoneError(ApiError):
    """410: the resourceVersion (or continue token) is too old; relist."""


class TooManyRequestsError(ApiError):
    """429: the server asks us to wait `retry_after` seconds (None when unsaid)."""

    def __init__(
        self,
        status: int,
        *,
        reason: str = "",
        message: str = "",
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, reason=reason, message=message, body=body)
        self.retry_after = retry_after


def api_error_from_status(
    status: int,
    *,
    reason: str = "",
    message: str = "",
    body: str = "",
    retry_after: float | None = None,
) -> ApiError:
    """The exception class that says what to do about `status`."""
    if status == 410:
        return GoneError(status, reason=reason, message=message, body=body)
    if status == 429:
        return TooManyRequestsError(
            status, reason=reason, message=message, body=body, retry_after=retry_after
        )
    return ApiError(status, reason=reason, message=message, body=body)
