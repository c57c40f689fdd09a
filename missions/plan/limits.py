"""What `survey plan` accepts: one table of bounds for every number, and the limits on the
work a plan may make (input vertices, photos), each refused with a message that says what is
allowed.

Each bound names the :class:`~missions.plan.planner.PlanRequest` (or
:class:`~missions.plan.drone.DroneProfile`) field it limits; ``survey plan`` reports it as its
option (``cruise_speed_m_s`` as ``--speed``).

>>> check_bound("cruise_speed_m_s", 12.0)
12.0
>>> check_bound("cruise_speed_m_s", 0.001)
Traceback (most recent call last):
...
survey.core.errors.ParamError: cruise_speed_m_s: must be 0.5–40 m/s, got 0.001
>>> check_bound("endurance_s", 30.0)  # shown in the unit the user writes: minutes
Traceback (most recent call last):
...
survey.core.errors.ParamError: endurance_s: must be 1–600 min, got 0.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from survey.core.errors import InputError, ParamError


@dataclass(frozen=True, slots=True)
class Bound:
    """An inclusive range for one field, in the unit the user writes it: the field's value
    is ``scale`` × that (``endurance_s``: minutes, scale 60)."""

    low: float
    high: float
    unit: str
    scale: float = 1.0

    def text(self) -> str:
        return f"{self.low:g}–{self.high:g} {self.unit}".rstrip()


BOUNDS: dict[str, Bound] = {
    "cruise_speed_m_s": Bound(0.5, 40.0, "m/s"),  # a survey multirotor; WPNAV_SPEED max
    "endurance_s": Bound(1.0, 600.0, "min", scale=60.0),
    "reserve": Bound(0.0, 90.0, "%", scale=0.01),
    "max_range_m": Bound(20.0, 100_000.0, "m"),
    "margin_m": Bound(0.0, 2_000.0, "m"),
    "altitude_m": Bound(5.0, 1_000.0, "m"),  # above the 150 m ceiling only with a permit
    "gsd_cm": Bound(0.05, 100.0, "cm/px"),
    "wind_m_s": Bound(0.0, 40.0, "m/s"),
    "terrain_tolerance_m": Bound(0.5, 50.0, "m"),
}
"""Field → allowed range (the altitude from ``gsd_cm`` is checked against ``altitude_m``'s)."""

MAX_INPUT_VERTICES = 1_000_000
"""Vertices one input file may hold (read at all)."""
MAX_PLAN_VERTICES = 200_000
"""Vertices of the area and zones after simplifying them to :data:`PLAN_TOLERANCE_M`."""
PLAN_TOLERANCE_M = 0.5
"""Finer boundary detail than this is not flyable (GNSS alone is good to ~1 m): inputs are
simplified to it, and zones grown by it so that none comes nearer than its margin."""
MAX_PHOTOS = 50_000
"""Photos one plan may take (a day's survey is thousands; more is a mistake in --gsd or a
job to split)."""


def check_bound(param: str, value: float) -> float:
    """``value`` of field ``param`` if it lies in its :data:`BOUNDS`, else a
    :class:`~survey.core.errors.ParamError` naming ``param``."""
    bound = BOUNDS[param]
    shown = value / bound.scale
    if not (math.isfinite(shown) and bound.low <= shown <= bound.high):
        raise ParamError(param, f"must be {bound.text()}, got {shown:g}")
    return value


def check_vertices(source: str, count: int, limit: int | None = None) -> None:
    """Refuse an input with more than ``limit`` (:data:`MAX_INPUT_VERTICES`) vertices."""
    limit = MAX_INPUT_VERTICES if limit is None else limit
    if count > limit:
        raise InputError(source, f"{count:,} vertices; at most {limit:,} (simplify it first, "
                                 "e.g. QGIS Vector ▸ Geometry Tools ▸ Simplify to 0.5 m)")
