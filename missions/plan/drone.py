"""The aircraft: speeds and the energy model that decides where a sortie must end."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DroneProfile:
    """A multirotor's performance; defaults are a typical survey quadcopter.

    ``endurance_s`` is hover-to-empty flight time; ``reserve`` the fraction kept for landing and
    wind. ``turn_s`` is the time lost at each waypoint where the heading changes sharply (the
    copter brakes and accelerates again: about speed / acceleration).
    """

    cruise_speed_m_s: float = 10.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 2.0
    endurance_s: float = 25 * 60.0
    reserve: float = 0.2
    max_range_m: float = 2000.0
    turn_s: float = 4.0

    @property
    def budget_s(self) -> float:
        """Flight time one sortie may use: endurance minus the reserve."""
        return self.endurance_s * (1.0 - self.reserve)

    def leg_time_s(self, distance_m: float, turns: int = 0) -> float:
        """Time to fly ``distance_m`` horizontally with ``turns`` sharp turns."""
        return distance_m / self.cruise_speed_m_s + turns * self.turn_s

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
