"""What `survey plan` accepts: one table of bounds for every number, and the limits on the
work a plan may make (input vertices, photos), each refused with a message that says what is
allowed.

>>> check_bound("--speed", 12.0)
12.0
>>> check_bound("--speed", 0.001)
Traceback (most recent call last):
...
survey.core.errors.InputError: --speed: must be 0.5–40 m/s, got 0.001
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from survey.core.errors import InputError


@dataclass(frozen=True, slots=True)
class Bound:
    """An inclusive range for one option, with its unit as the user writes it."""

    low: float
    high: float
    unit: str

    def text(self) -> str:
        return f"{self.low:g}–{self.high:g} {self.unit}".rstrip()


BOUNDS: dict[str, Bound] = {
    "--speed": Bound(0.5, 40.0, "m/s"),  # a survey multirotor; ArduPilot's WPNAV_SPEED max
    "--endurance": Bound(1.0, 600.0, "min"),
    "--reserve": Bound(0.0, 90.0, "%"),
    "--max-range": Bound(20.0, 100_000.0, "m"),
    "--margin": Bound(0.0, 2_000.0, "m"),
    "--altitude": Bound(5.0, 1_000.0, "m"),  # above the 150 m ceiling only with a permit
    "--gsd": Bound(0.05, 100.0, "cm/px"),
}
"""Option → allowed range (the altitude from ``--gsd`` is checked against ``--altitude``'s)."""

MAX_INPUT_VERTICES = 1_000_000
"""Vertices one input file may hold (read at all)."""
MAX_PLAN_VERTICES = 50_000
"""Vertices of the area and zones after simplifying them to :data:`PLAN_TOLERANCE_M`."""
PLAN_TOLERANCE_M = 0.5
"""Finer boundary detail than this is not flyable (GNSS alone is good to ~1 m): inputs are
simplified to it, and zones grown by it so that none comes nearer than its margin."""
MAX_PHOTOS = 50_000
"""Photos one plan may take (a day's survey is thousands; more is a mistake in --gsd or a
job to split)."""


def check_bound(option: str, value: float) -> float:
    """``value`` if it lies in ``option``'s :data:`BOUNDS`, else an :class:`InputError`."""
    bound = BOUNDS[option]
    if not (math.isfinite(value) and bound.low <= value <= bound.high):
        raise InputError(option, f"must be {bound.text()}, got {value:g}")
    return value


def check_vertices(source: str, count: int, limit: int | None = None) -> None:
    """Refuse an input with more than ``limit`` (:data:`MAX_INPUT_VERTICES`) vertices."""
    limit = MAX_INPUT_VERTICES if limit is None else limit
    if count > limit:
        raise InputError(source, f"{count:,} vertices; at most {limit:,} (simplify it first, "
                                 "e.g. QGIS Vector ▸ Geometry Tools ▸ Simplify to 0.5 m)")
