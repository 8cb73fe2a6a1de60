"""The operator's window: /status, /healthz, /readyz, /metrics and the dashboard.
"""

from gateways.status import sandbox_routes
from gateways.status.app import ExtraRoutes, Status

__all__ = [
    "ExtraRoutes",
    "Status",
    "sandbox_routes",
]
