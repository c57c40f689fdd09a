"""Flat-earth conversions between lat/lon and a local north/east frame, as ArduPilot does them.

ArduPilot's ``Location`` uses a spherical scaling of 1e-7 degree units (LOCATION_SCALING_FACTOR)
and a longitude scale of cos(latitude); the built-in vehicle uses the same so that distances it
measures (waypoint reached, camera trigger distance, fence margins) match a real autopilot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LOCATION_SCALING_FACTOR = 0.011131884502145034
"""Metres per 1e-7 degree of latitude (ArduPilot ``LOCATION_SCALING_FACTOR``)."""


def longitude_scale(lat_deg: float) -> float:
    """Cosine of the latitude, floored at 0.01 like ArduPilot's ``longitude_scale``.

    >>> round(longitude_scale(60.0), 6)
    0.5
    """
    return max(math.cos(math.radians(lat_deg)), 0.01)


@dataclass(frozen=True)
class LocalFrame:
    """A north/east metric frame centred on ``origin_lat_deg``/``origin_lon_deg``.

    >>> f = LocalFrame(35.0, 139.0)
    >>> n, e = f.to_ne(35.001, 139.001)
    >>> lat, lon = f.to_latlon(n, e)
    >>> round(lat, 9), round(lon, 9)
    (35.001, 139.001)
    """

    origin_lat_deg: float
    origin_lon_deg: float

    @property
    def _m_per_deg(self) -> float:
        return LOCATION_SCALING_FACTOR * 1e7

    def to_ne(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """North and east offsets in metres of a point from the origin."""
        north_m = (lat_deg - self.origin_lat_deg) * self._m_per_deg
        east_m = ((lon_deg - self.origin_lon_deg) * self._m_per_deg
                  * longitude_scale(self.origin_lat_deg))
        return north_m, east_m

    def to_latlon(self, north_m: float, east_m: float) -> tuple[float, float]:
        """Latitude and longitude in degrees of a point given in metres from the origin."""
        lat_deg = self.origin_lat_deg + north_m / self._m_per_deg
        lon_deg = self.origin_lon_deg + east_m / (
            self._m_per_deg * longitude_scale(self.origin_lat_deg))
        return lat_deg, lon_deg

    def to_ne_e7(self, lat_e7: int, lon_e7: int) -> tuple[float, float]:
        """Like :meth:`to_ne` for MAVLink int32 degrees × 1e7."""
        return self.to_ne(lat_e7 * 1e-7, lon_e7 * 1e-7)


def distance_e7_m(lat1_e7: int, lon1_e7: int, lat2_e7: int, lon2_e7: int) -> float:
    """Horizontal distance in metres between two int32 positions (``Location::get_distance``).

    >>> round(distance_e7_m(350000000, 1390000000, 350010000, 1390000000), 3)
    111.319
    """
    dlat = lat2_e7 - lat1_e7
    dlng = (lon2_e7 - lon1_e7) * longitude_scale((lat1_e7 + lat2_e7) * 0.5e-7)
    return math.hypot(dlat, dlng) * LOCATION_SCALING_FACTOR
