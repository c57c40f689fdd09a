"""The ground under the built-in vehicle: flat at the home altitude, or a terrain model (a DEM).

ArduPilot SITL flies over flat ground unless given terrain; so does the built-in vehicle. With a
terrain (anything with ``height_at(lon, lat)``, e.g. :class:`mapping.dem.Dem`) the ground under
the vehicle follows it; where it has no height (NaN: outside the DEM, nodata) the ground is the
fallback altitude.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from .geo import LocalFrame


class Terrain(Protocol):
    """Ground heights (metres above sea level) at longitude/latitude points, NaN where unknown
    (:class:`mapping.dem.Dem` is one)."""

    def height_at(self, lon: float, lat: float) -> ArrayLike: ...


class Ground:
    """The ground altitude at north/east points of a local frame.

    Parameters
    ----------
    terrain
        The terrain; None for flat ground at ``fallback_alt_m``.
    frame
        The vehicle's local frame (north/east metres to lat/lon).
    fallback_alt_m
        Ground altitude (m AMSL) where the terrain has no height, and everywhere without one.

    Examples
    --------
    >>> ground = Ground(None, LocalFrame(35.0, 139.0), 120.0)
    >>> ground.sample(500.0, -20.0)
    (120.0, False)
    """

    def __init__(self, terrain: Terrain | None, frame: LocalFrame, fallback_alt_m: float) -> None:
        self.terrain = terrain
        self.frame = frame
        self.fallback_alt_m = fallback_alt_m
        self._last: tuple[float, float, float, bool] | None = None

    def sample(self, north_m: float, east_m: float) -> tuple[float, bool]:
        """Ground altitude (m AMSL) at a point, and whether the terrain gave it (False: the
        fallback altitude)."""
        if self.terrain is None:
            return self.fallback_alt_m, False
        last = self._last
        if last is not None and last[0] == north_m and last[1] == east_m:
            return last[2], last[3]
        lat, lon = self.frame.to_latlon(north_m, east_m)
        height = terrain_height_m(self.terrain, lat, lon)
        known = math.isfinite(height)
        alt = height if known else self.fallback_alt_m
        self._last = (north_m, east_m, alt, known)
        return alt, known

    def alt_m(self, north_m: float, east_m: float) -> float:
        """Ground altitude (m AMSL) at a point."""
        return self.sample(north_m, east_m)[0]


def terrain_height_m(terrain: Terrain, lat_deg: float, lon_deg: float) -> float:
    """The terrain's height at a point (NaN where it has none)."""
    return float(np.asarray(terrain.height_at(lon_deg, lat_deg), dtype=float).reshape(-1)[0])
