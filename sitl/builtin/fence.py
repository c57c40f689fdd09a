"""Geofence breach checks over the stored FENCE items (``AC_Fence`` / ``AC_PolyFence_loader``).

A position breaches the polygon fence when it is outside any inclusion polygon or circle, or
inside any exclusion polygon or circle; FENCE_TYPE also enables the maximum altitude (bit 1) and
the circle around home of FENCE_RADIUS (bit 2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .geo import LocalFrame
from .mission_items import WireItem
from .protocol import mavlink

FENCE_TYPE_ALT_MAX = 1
FENCE_TYPE_CIRCLE = 2
FENCE_TYPE_POLYGON = 4
_NAMES = ((FENCE_TYPE_ALT_MAX, "Max Alt"), (FENCE_TYPE_CIRCLE, "Circle"),
          (FENCE_TYPE_POLYGON, "Polygon"))


def point_in_polygon(north_m: float, east_m: float,
                     ring: Sequence[tuple[float, float]]) -> bool:
    """Even-odd rule test of a point against a closed ring of (north, east) vertices.

    >>> square = [(0, 0), (0, 10), (10, 10), (10, 0)]
    >>> point_in_polygon(5, 5, square), point_in_polygon(15, 5, square)
    (True, False)
    """
    inside = False
    n = len(ring)
    for i in range(n):
        (n1, e1), (n2, e2) = ring[i], ring[(i + 1) % n]
        if (e1 > east_m) != (e2 > east_m):
            cross_n = n1 + (east_m - e1) * (n2 - n1) / (e2 - e1)
            if north_m < cross_n:
                inside = not inside
    return inside


@dataclass(frozen=True)
class FenceShapes:
    """Fence items grouped into shapes, in a local metric frame."""

    inclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    exclusion_polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    inclusion_circles: tuple[tuple[float, float, float], ...] = ()
    exclusion_circles: tuple[tuple[float, float, float], ...] = ()

    @classmethod
    def from_items(cls, items: Sequence[WireItem], frame: LocalFrame) -> FenceShapes:
        """Group validated fence items (consecutive vertices of one polygon) into shapes."""
        inc_p: list[tuple[tuple[float, float], ...]] = []
        exc_p: list[tuple[tuple[float, float], ...]] = []
        inc_c: list[tuple[float, float, float]] = []
        exc_c: list[tuple[float, float, float]] = []
        ring: list[tuple[float, float]] = []
        for it in items:
            ne = frame.to_ne_e7(it.x, it.y)
            if it.command in (mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                              mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                ring.append(ne)
                if len(ring) == int(it.param1):
                    target = (inc_p if it.command
                              == mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION else exc_p)
                    target.append(tuple(ring))
                    ring = []
            elif it.command == mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION:
                inc_c.append((*ne, it.param1))
            elif it.command == mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION:
                exc_c.append((*ne, it.param1))
        return cls(tuple(inc_p), tuple(exc_p), tuple(inc_c), tuple(exc_c))

    @property
    def empty(self) -> bool:
        return not (self.inclusion_polygons or self.exclusion_polygons
                    or self.inclusion_circles or self.exclusion_circles)

    def breached(self, north_m: float, east_m: float) -> bool:
        """Whether a horizontal position breaches any polygon or circle fence."""
        if any(not point_in_polygon(north_m, east_m, r) for r in self.inclusion_polygons):
            return True
        if any(point_in_polygon(north_m, east_m, r) for r in self.exclusion_polygons):
            return True
        if any(math.hypot(north_m - n, east_m - e) > r for n, e, r in self.inclusion_circles):
            return True
        return any(math.hypot(north_m - n, east_m - e) < r for n, e, r in self.exclusion_circles)


def breaches(shapes: FenceShapes, fence_type: int, *, north_m: float, east_m: float,
             alt_rel_m: float, home_distance_m: float, alt_max_m: float,
             radius_m: float) -> int:
    """Bit mask (FENCE_TYPE bits) of the fences the position breaches."""
    mask = 0
    if fence_type & FENCE_TYPE_ALT_MAX and alt_rel_m > alt_max_m:
        mask |= FENCE_TYPE_ALT_MAX
    if fence_type & FENCE_TYPE_CIRCLE and home_distance_m > radius_m:
        mask |= FENCE_TYPE_CIRCLE
    if fence_type & FENCE_TYPE_POLYGON and shapes.breached(north_m, east_m):
        mask |= FENCE_TYPE_POLYGON
    return mask


def fence_names(mask: int) -> str:
    """ArduPilot's wording for a breach mask, e.g. "Polygon fence" or "Max Alt and Circle fences".

    >>> fence_names(FENCE_TYPE_POLYGON)
    'Polygon fence'
    >>> fence_names(FENCE_TYPE_ALT_MAX | FENCE_TYPE_CIRCLE)
    'Max Alt and Circle fences'
    """
    names = [name for bit, name in _NAMES if mask & bit]
    if not names:
        return ""
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text + (" fences" if len(names) > 1 else " fence")
