"""The simulator's exceptions, each one a Kubernetes `Status` in waiting.

The real API server answers every failure with a `Status` object whose
`reason` and `code` clients branch on (client-go retries 429/5xx, relists on
410 `Expired`, gives up on 403). Raising these from the store or a handler and
rendering them in exactly one place keeps every error response identical in
shape, whichever layer noticed the problem.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Expired",
    "Invalid",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "SimulatorError",
    "Timeout",
    "Unauthorized",
    "UnsupportedMediaType",
    "not_found",
    "object_details",
    "precondition_failed",
    "qualified",
    "too_large_resource_version",
]


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""


class ApiError(SimulatorError):
    """A failure that the HTTP layer turns into a `Status` body with this code."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        # ListMeta of the Status, e.g. the inconsistent-continue token of a 410.
        self.metadata = metadata or {}

    def status(self) -> dict[str, Any]:
        """The `Status` object the real API server would send for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.metadata),
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str = "") -> str:
    """`pods`, `deployments.apps`: how the API server names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def object_details(*, resource: str, name: str, group: str = "") -> dict[str, Any]:
    """`details` naming the object, as the API server fills it for 404/409."""
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(ApiError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Expired(ApiError):
    """410 Gone: the resourceVersion or continue token predates the history kept."""

    code = 410
    reason = "Expired"


class UnsupportedMediaType(ApiError):
    code = 415
    reason = "UnsupportedMediaType"


class NotAcceptable(ApiError):
    code = 406
    reason = "NotAcceptable"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class Timeout(ApiError):
    """504: a resourceVersion the server has not reached (see `too_large_resource_version`)."""

    code = 504
    reason = "Timeout"


def too_large_resource_version(requested: int | None = None, current: int | None = None) -> Timeout:
    """The 504 for a resourceVersion the server has not reached, worded as the watch cache does.

    The cause `ResourceVersionTooLarge` is what clients branch on (client-go's
    reflector relists on it); an injected fault knows neither version.
    """
    if requested is None or current is None:
        message = "Too large resource version (injected fault)"
    else:
        message = f"Too large resource version: {requested}, current: {current}"
    return Timeout(
        message,
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


def not_found(*, resource: str, name: str, group: str = "") -> NotFound:
    """The 404 for a named object, worded and detailed as the API server does."""
    return NotFound(
        f'{qualified(resource, group)} "{name}" not found',
        details=object_details(resource=resource, name=name, group=group),
    )


def precondition_failed(
    *, field: str, wanted: object, actual: object, resource: str, name: str, group: str = ""
) -> Conflict:
    """The 409 for a UID or ResourceVersion precondition that does not hold."""
    return Conflict(
        f"Precondition failed: {field} in precondition: {wanted}, {field} in object meta: {actual}",
        details=object_details(resource=resource, name=name, group=group),
    )
