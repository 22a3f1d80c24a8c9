"""The watcher's exceptions, and where the API server's errors become ours.

kubernetes-asyncio and aiohttp raise their own types (ApiException,
ClientResponseError, ServerTimeoutError, ...). They stop at this boundary:
`api_error_from_status` and the transport turn a status code into one of the
classes below, chained with `from e` and with the response body truncated, so
the reflector decides what to do (relist, back off, wait Retry-After) from our
types alone and a log line never carries a megabyte of HTML.

Two answers mean the server's history is not the one our resourceVersion
belongs to, and both lead to a relist: 410 (`GoneError`: our version is
older than the history kept) and 504 "Too large resource version"
(`TooLargeResourceVersionError`: the server has not reached our version; it
was restored from a backup or replaced). The second is recognized as
client-go recognizes it: status 504 with the cause `ResourceVersionTooLarge`,
or the message, for servers that send no causes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = [
    "TOO_LARGE_CAUSE",
    "ApiError",
    "ApiStatus",
    "ConfigError",
    "GoneError",
    "HistoryResetError",
    "MalformedEventError",
    "SilentStreamError",
    "StalledStreamError",
    "TooLargeResourceVersionError",
    "TooManyRequestsError",
    "TransportError",
    "WatcherError",
    "api_error_from_status",
    "decode_error_event",
    "decode_status",
    "truncate",
]

#: The cause (`details.causes[].reason`) of a 504 for a resourceVersion the server has not reached.
TOO_LARGE_CAUSE = "ResourceVersionTooLarge"
_TOO_LARGE_MESSAGE = "too large resource version"

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


class SilentStreamError(WatcherError):
    """A watch stream sent no event nor bookmark for well beyond the server's bookmark cadence."""

    def __init__(self, *, silent_for: float, interval: float) -> None:
        super().__init__(
            f"watch silent for {_seconds(silent_for)} s "
            f"(bookmarks came every {_seconds(interval)} s); reconnecting"
        )
        self.silent_for = silent_for
        self.interval = interval


class HistoryResetError(WatcherError):
    """A resourceVersion lower than one already seen: the server's history was reset."""

    def __init__(self, *, held: str, seen: str, where: str) -> None:
        super().__init__(f"resourceVersion went back from {held} to {seen} ({where})")
        self.held = held
        self.seen = seen
        self.where = where


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


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


class TooLargeResourceVersionError(ApiError):
    """504 "Too large resource version": the server has not reached our resourceVersion; relist."""


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


class _StatusCause(msgspec.Struct):
    reason: str = ""


class _StatusDetails(msgspec.Struct):
    causes: list[_StatusCause] = []


class ApiStatus(msgspec.Struct):
    """The parts of a Kubernetes `Status` (an error body, a watch ERROR's object) we act on."""

    reason: str = ""
    message: str = ""
    code: int = 0
    details: _StatusDetails | None = None

    @property
    def causes(self) -> list[str]:
        return [c.reason for c in self.details.causes] if self.details else []


class _ErrorEvent(msgspec.Struct):
    object: ApiStatus


def decode_status(body: bytes) -> ApiStatus:
    """The Status in an error body; an empty one when the body is not a Status (HTML, say)."""
    try:
        return msgspec.json.decode(body, type=ApiStatus)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ApiStatus()


def decode_error_event(line: bytes | memoryview) -> ApiStatus:
    """The Status of a watch ERROR event's line (empty when the object is not a Status)."""
    try:
        return msgspec.json.decode(line, type=_ErrorEvent).object
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ApiStatus()


def api_error_from_status(
    status: int,
    *,
    reason: str = "",
    message: str = "",
    body: str = "",
    retry_after: float | None = None,
    causes: Sequence[str] = (),
) -> ApiError:
    """The exception class that says what to do about `status`."""
    if status == 410:
        return GoneError(status, reason=reason, message=message, body=body)
    if status == 504 and (TOO_LARGE_CAUSE in causes or _TOO_LARGE_MESSAGE in message.lower()):
        return TooLargeResourceVersionError(status, reason=reason, message=message, body=body)
    if status == 429:
        return TooManyRequestsError(
            status, reason=reason, message=message, body=body, retry_after=retry_after
        )
    return ApiError(status, reason=reason, message=message, body=body)
