"""An embedded, protocol-faithful Kubernetes API server with a scenario engine."""

from .errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    SimulatorError,
)
from .storage import ObjectStore

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Expired",
    "Invalid",
    "NotFound",
    "ObjectStore",
    "SimulatorError",
]
