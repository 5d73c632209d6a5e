"""Query-complexity routing: scorers (features, learned), calibration and the tier router."""

from rejoinder.routers.router import Router, build_router, calibrate

__all__ = ["Router", "build_router", "calibrate"]
