"""An embedded, protocol-faithful Kubernetes API server with a scenario engine."""

from .churn import CHURN_KINDS
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
from .scenario import Scenario
from .server import Simulator
from .storage import ObjectStore
from .virtual_clock import SimClock

__all__ = [
    "CHURN_KINDS",
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
    "Scenario",
    "SimClock",
    "Simulator",
    "SimulatorError",
]
