"""The aircraft and the air it flies in: speeds, wind and the energy model that decides where
a sortie must end.

Flight time is the budget: a multirotor draws roughly the same power at its cruise airspeed
whichever way it flies, so a battery lasts a fixed time, and what wind changes is how far that
time carries it. Each leg's ground speed comes from the wind triangle (the airspeed vector plus
the wind vector lies along the leg): downwind legs are quick, upwind legs slow, and crosswind
legs a little slower than still air.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Wind:
    """A steady wind: ``speed_m_s`` blowing from ``from_deg`` (clockwise from north, as
    METAR reports it: a wind from 270° blows towards the east).

    >>> w = Wind(5.0, 270.0)
    >>> [round(float(v), 2) for v in w.ground_speed_m_s(10.0, np.array([1.0, -1.0, 0.0]),
    ...                                                  np.array([0.0, 0.0, 1.0]))]
    [15.0, 5.0, 8.66]
    """

    speed_m_s: float = 0.0
    from_deg: float = 0.0

    @property
    def vector(self) -> tuple[float, float]:
        """Where the air moves, (east, north) m/s."""
        to = math.radians(self.from_deg + 180.0)
        return self.speed_m_s * math.sin(to), self.speed_m_s * math.cos(to)

    def ground_speed_m_s(self, airspeed_m_s: float, dx: np.ndarray,
                         dy: np.ndarray) -> np.ndarray:
        """Ground speed along legs (dx east, dy north; any length) at ``airspeed_m_s``:
        w·u + √(V² − (w×u)²). NaN where the air is too fast to make headway."""
        wx, wy = self.vector
        norm = np.hypot(dx, dy)
        ux = np.divide(dx, norm, out=np.ones_like(norm, dtype=float), where=norm > 0)
        uy = np.divide(dy, norm, out=np.zeros_like(norm, dtype=float), where=norm > 0)
        along = wx * ux + wy * uy
        across = wx * uy - wy * ux
        with np.errstate(invalid="ignore"):
            g = along + np.sqrt(airspeed_m_s ** 2 - across ** 2)
        return np.where(g > 1e-9, g, np.nan)


@dataclass(frozen=True)
class DroneProfile:
    """A multirotor's performance; defaults are a typical survey quadcopter.

    ``endurance_s`` is hover-to-empty flight time; ``reserve`` the fraction kept for landing and
    gusts. ``turn_s`` is the time lost at each waypoint where the heading changes sharply (the
    copter brakes and accelerates again: about speed / acceleration). ``wind`` is the steady
    wind the plan is made for (default: still air); legs are flown at ``cruise_speed_m_s``
    through the air.
    """

    cruise_speed_m_s: float = 10.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 2.0
    endurance_s: float = 25 * 60.0
    reserve: float = 0.2
    max_range_m: float = 2000.0
    turn_s: float = 4.0
    wind: Wind = field(default_factory=Wind)

    @property
    def budget_s(self) -> float:
        """Flight time one sortie may use: endurance minus the reserve."""
        return self.endurance_s * (1.0 - self.reserve)

    def leg_time_s(self, distance_m: float, turns: int = 0) -> float:
        """Time to fly ``distance_m`` horizontally with ``turns`` sharp turns."""
        return distance_m / self.cruise_speed_m_s + turns * self.turn_s

    @property
    def slowest_ground_speed_m_s(self) -> float:
        """Ground speed straight into the wind (the cruise speed in still air)."""
        return self.cruise_speed_m_s - self.wind.speed_m_s

    def round_trip_speed_m_s(self) -> float:
        """Out-and-back distance flown per second along the wind, the worst direction:
        2 / (1/(V+w) + 1/(V−w)) = (V² − w²) / V."""
        v, w = self.cruise_speed_m_s, self.wind.speed_m_s
        return (v * v - w * w) / v

    def legs_time_s(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Time to fly each leg (dx east, dy north, metres) at its ground speed."""
        dx, dy = np.asarray(dx, dtype=float), np.asarray(dy, dtype=float)
        length = np.hypot(dx, dy)
        if self.wind.speed_m_s == 0.0:
            return length / self.cruise_speed_m_s
        g = self.wind.ground_speed_m_s(self.cruise_speed_m_s, dx, dy)
        return np.where(length > 0, length / np.where(np.isnan(g), 1e-9, g), 0.0)

    def path_time_s(self, xy: np.ndarray, turns: int = 0) -> float:
        """Time to fly a polyline ((n, 2) east, north) with ``turns`` sharp turns."""
        xy = np.asarray(xy, dtype=float)
        if len(xy) < 2:
            return turns * self.turn_s
        d = np.diff(xy, axis=0)
        return float(self.legs_time_s(d[:, 0], d[:, 1]).sum()) + turns * self.turn_s

    def vertical_time_s(self, altitude_m: float) -> float:
        """Time to climb to ``altitude_m`` after take-off and descend from it to land."""
        return altitude_m / self.climb_rate_m_s + altitude_m / self.descent_rate_m_s


def count_turns(xy: list[tuple[float, float]], min_angle_deg: float = 30.0) -> int:
    """Number of interior vertices of a polyline where the heading changes by more than
    ``min_angle_deg``.

    >>> count_turns([(0, 0), (10, 0), (10, 10), (20, 10.5)])
    2
    """
    turns = 0
    for (x0, y0), (x1, y1), (x2, y2) in zip(xy, xy[1:], xy[2:], strict=False):
        a = math.atan2(y1 - y0, x1 - x0)
        b = math.atan2(y2 - y1, x2 - x1)
        d = abs((b - a + math.pi) % (2 * math.pi) - math.pi)
        if math.degrees(d) > min_angle_deg:
            turns += 1
    return turns
