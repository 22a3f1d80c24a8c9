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
from .faults import Faults
from .requestlog import RequestLog
from .resources import RESOURCES, ResourceInfo
from .server import Simulator
from .storage import ObjectStore

__all__ = [
    "RESOURCES",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Expired",
    "Faults",
    "Invalid",
    "NotFound",
    "ObjectStore",
    "RequestLog",
    "ResourceInfo",
    "Simulator",
    "SimulatorError",
]
