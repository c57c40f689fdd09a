"""Terrain following: flying a constant height above the ground of a DEM, and checking the result.

Everything here is a pure function of a path in the planner's local frame
(:class:`~survey.core.frame.LocalFrame`, metres), a :class:`~mapping.dem.Dem` and numbers.
Altitudes are above the DEM's vertical datum ("AMSL" below); heights above ground are "AGL".

API
---
:func:`follow_terrain` (path_xy, frame, dem, agl_m, tol_m=5.0, step_m=None) → (n, 3) array
    The 2-D path with extra vertices and an AMSL altitude at each, so that the straight legs
    between them stay within ``tol_m`` of ``agl_m`` above the ground. Every input vertex is kept.
:func:`line_agl_floor` (points3d, frame, dem, step_m=None) → float
    The lowest height above ground a 3-D path reaches: the height to size the photos from.
:func:`check_clearance` (points3d, frame, dem, zones, clearance_m, step_m=None, margin_m=10)
    → list[:class:`ClearanceViolation`]: legs closer than ``clearance_m`` to the ground, or to
    the top of an obstacle they pass within ``margin_m`` of.
:func:`check_ceiling` (points3d, frame, dem, ceiling_m=150.0, step_m=None)
    → :class:`CeilingExcess` | None: the worst place the path is higher than ``ceiling_m``
    above the ground right below it.
:func:`climb_time_s` (points3d, drone) → float
    Time to fly the 3-D legs, each as long as the slower of its horizontal and vertical parts.
:func:`default_step_m` (dem, frame) → float
    The ground sampling step: half a DEM pixel, 1 to 10 m.

A synthetic valley DEM for tests and examples is in :mod:`missions.plan.terrain_synth`.

Wiring into the planner
-----------------------
1. Size the lines from the lowest height, not the nominal one: the footprint shrinks with the
   height above ground, so overlap is lowest where the drone is lowest. ``follow_terrain``
   guarantees a floor of ``agl_m - tol_m``, so before any line exists compute ``spacing_m`` and
   ``trigger_m`` from ``camera.footprint_m(agl_m - tol_m)``; once a line is flown in 3-D,
   ``line_agl_floor`` of it (≥ that bound) may be used to loosen its trigger distance.
2. For each sortie path (home … home, after the sortie split), ``follow_terrain`` gives the
   waypoints: the output keeps the input vertices (line ends: where the camera trigger turns on
   and off) and only adds vertices on the legs. The autopilot's altitudes are above home, so
   write ``alt - ground(home)`` into the waypoints (``ground(home)`` from ``dem.height_at``).
3. ``check_clearance`` with the request's ``vertical_clearance_m`` and obstacles, and
   ``check_ceiling`` with ``max_altitude_m``: a non-empty list / an excess is a
   :class:`~survey.core.errors.PlanningError` (or a note, with ``allow_altitude``). The
   overflown/blocking choice for obstacles (the planner's ``_keepout``) should compare obstacle
   tops (ground + height) with the terrain altitude rather than with the altitude above home.
4. Sortie time: :func:`missions.plan.sorties.path_time_s` counts the take-off climb and landing
   (``vertical_time_s``), the horizontal legs at cruise speed and the turns. With terrain, add
   ``climb_time_s(points3d, drone) - horizontal_length / cruise_speed_m_s``, the extra time the
   climbs and descents along the way cost, and give ``path_time_s`` the first waypoint's
   height above home as ``altitude_m`` (take-off climb and the final descent; if the last
   waypoint is at another height, the difference is one more leg of ``climb_time_s``).

>>> from survey.core.frame import LocalFrame
>>> from missions.plan.terrain_synth import synthetic_valley
>>> frame = LocalFrame(36.0, 140.0)
>>> dem = synthetic_valley(frame, size_m=1200.0, depth_m=60.0)
>>> line = [(-280.0, 0.0), (280.0, 0.0)]  # across the valley, rim to rim
>>> p = follow_terrain(line, frame, dem, agl_m=80.0, tol_m=2.0)
>>> len(p) > 2, p[0, :2].tolist() == [-280.0, 0.0], p[-1, :2].tolist() == [280.0, 0.0]
(True, True, True)
>>> line_agl_floor(p, frame, dem) >= 78.0
True
>>> check_ceiling(p, frame, dem, ceiling_m=100.0) is None
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.strtree import STRtree

from mapping.dem import Dem
from missions.plan.drone import DroneProfile
from missions.plan.inputs import Zone
from survey.core.errors import InputError, PlanningError
from survey.core.frame import LocalFrame

__all__ = [
    "CeilingExcess",
    "ClearanceViolation",
    "check_ceiling",
    "check_clearance",
    "climb_time_s",
    "default_step_m",
    "follow_terrain",
    "line_agl_floor",
]


@dataclass(frozen=True)
class ClearanceViolation:
    """The lowest point of one leg (``points3d[segment]`` → ``points3d[segment + 1]``) below
    the altitude it must keep: over the ground (``obstacle`` None) or over an obstacle."""

    segment: int
    x_m: float
    y_m: float
    lon_deg: float
    lat_deg: float
    altitude_m: float  # flown, AMSL
    required_m: float  # ground or obstacle top plus the clearance, AMSL
    obstacle: str | None = None

    @property
    def shortfall_m(self) -> float:
        return self.required_m - self.altitude_m

    def __str__(self) -> str:
        over = "the ground" if self.obstacle is None else f"obstacle {self.obstacle!r}"
        return (f"leg {self.segment + 1} at lon {self.lon_deg:.6f}, lat {self.lat_deg:.6f}: "
                f"{self.shortfall_m:.1f} m too low over {over} (flies {self.altitude_m:.1f} m, "
                f"needs {self.required_m:.1f} m)")


@dataclass(frozen=True)
class CeilingExcess:
    """The worst place a path is higher above the ground right below it than the ceiling."""

    excess_m: float  # above the ceiling
    agl_m: float  # height above the ground there
    segment: int
    x_m: float
    y_m: float
    lon_deg: float
    lat_deg: float

    def __str__(self) -> str:
        return (f"leg {self.segment + 1} at lon {self.lon_deg:.6f}, lat {self.lat_deg:.6f} is "
                f"{self.agl_m:.1f} m above the ground, {self.excess_m:.1f} m over the ceiling")


def default_step_m(dem: Dem, frame: LocalFrame) -> float:
    """Half the DEM's pixel (its shorter side, in metres at the raster's centre), 1 to 10 m."""
    a, b, c, d, e, f = tuple(dem.transform[:6])
    rows, cols = dem.heights.shape
    col, row = np.array([cols / 2, cols / 2 + 1, cols / 2]), np.array([rows / 2, rows / 2,
                                                                       rows / 2 + 1])
    to_geo = Transformer.from_crs(dem.crs, 4326, always_xy=True)
    lon, lat = to_geo.transform(a * col + b * row + c, d * col + e * row + f)
    x, y = (np.asarray(v) for v in frame.to_local(lon, lat))
    pixel = min(math.hypot(x[1] - x[0], y[1] - y[0]), math.hypot(x[2] - x[0], y[2] - y[0]))
    return float(np.clip(pixel / 2.0, 1.0, 10.0))


def follow_terrain(path_xy: Sequence[tuple[float, float]] | np.ndarray, frame: LocalFrame,
                   dem: Dem, agl_m: float, tol_m: float = 5.0,
                   step_m: float | None = None) -> np.ndarray:
    """A path's 3-D waypoints for flying ``agl_m`` above the ground within ``tol_m``.

    The ground is sampled every ``step_m`` or less along each leg (and at every vertex); the
    profile of targets ``ground + agl_m`` is simplified Douglas–Peucker style (splitting where
    the straight-line altitude misses the target by most), every input vertex kept. The flown
    altitude is linear between output vertices and within ``tol_m`` of the target at every
    sample, less a margin for the ground between samples: where the bilinear DEM kinks at a
    pixel edge inside an interval, the ground strays from the line between the samples by at
    most half the interval times the change of slope next to them (a few centimetres to
    decimetres), a bound that holds for one kink per interval, as with the default step of
    half a pixel. Where the margin exceeds ``tol_m`` every sample is kept.

    Parameters
    ----------
    path_xy
        Horizontal path, local metres, (n, 2), n ≥ 1.
    frame, dem
        The local frame of the path, and the ground.
    agl_m
        Height above ground to fly.
    tol_m
        Largest allowed difference between the flown altitude and ``ground + agl_m``, > 0.
    step_m
        Ground sampling step along the path; default :func:`default_step_m`.

    Returns
    -------
    numpy.ndarray
        (m, 3): x, y (local metres) and altitude (DEM datum, metres); the rows with the input
        vertices come in order, their x/y unchanged, the added rows lie on the legs.

    Raises
    ------
    InputError
        The DEM has no height at a sample (outside it, or nodata), naming where.
    PlanningError
        ``tol_m`` or ``step_m`` not positive, or a path that is not (n, 2).
    """
    xy = np.asarray(path_xy, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise PlanningError(f"terrain following needs an (n, 2) path, not shape {xy.shape}")
    if not tol_m > 0:
        raise PlanningError(f"terrain tolerance must be positive, not {tol_m:g} m")
    step = _step(step_m, dem, frame)
    seg, pts = _sample_legs(xy, step)
    if len(xy) == 1:
        ground = _ground(pts, frame, dem)
        return np.column_stack([xy, ground[:1] + agl_m])
    # One sample per point: drop each leg's last sample (the next leg's first), keep the end.
    first = np.r_[True, seg[1:] != seg[:-1]]
    last = np.r_[first[1:], True]
    single = ~last
    single[-1] = True
    pts, seg = pts[single], seg[single]
    is_vertex = first[single]
    is_vertex[-1] = True
    ground = _ground(pts, frame, dem)
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    z = ground + agl_m
    allow = tol_m - _between_samples_margin(s, z, seg)
    keep = _simplify(s, z, np.maximum(allow, 0.0), np.flatnonzero(is_vertex))
    out = np.column_stack([pts[keep], z[keep]])
    out[is_vertex[keep], :2] = xy  # the input vertices exactly, not as re-interpolated
    return out


def line_agl_floor(points3d: np.ndarray, frame: LocalFrame, dem: Dem,
                   step_m: float | None = None) -> float:
    """The lowest height above ground along a 3-D path (altitude linear along each leg).

    Photo footprints are smallest there, so spacing lines and photos for this height keeps
    the overlap everywhere along the path; for a :func:`follow_terrain` path it is at least
    ``agl_m - tol_m`` (use that bound before the lines exist).

    Raises
    ------
    InputError
        The DEM has no height somewhere along the path.
    """
    _, pts, ground = _flown(points3d, frame, dem, step_m)
    return float(np.min(pts[:, 2] - ground))


def check_clearance(points3d: np.ndarray, frame: LocalFrame, dem: Dem, zones: Sequence[Zone],
                    clearance_m: float, step_m: float | None = None, *,
                    margin_m: float = 10.0) -> list[ClearanceViolation]:
    """Legs of a 3-D path that come closer than ``clearance_m`` to the ground or to an obstacle.

    Each leg is sampled every ``step_m``: its altitude must be ≥ ground + ``clearance_m``, and
    ≥ top + ``clearance_m`` where it passes within ``margin_m`` (horizontally) of an obstacle,
    the top being the highest ground sampled on the obstacle's outline or under the path inside
    it, plus its ``height_m``. Zones without a height (never entered) are not checked here.

    Returns
    -------
    list[ClearanceViolation]
        The lowest point of each leg that is too low over the ground, and of each leg and
        obstacle it is too low over; ordered by leg, ground first. Empty when the path is clear.

    Raises
    ------
    InputError
        The DEM has no height along the path, or anywhere on a nearby obstacle.
    """
    step = _step(step_m, dem, frame)
    seg, pts, ground = _flown(points3d, frame, dem, step)
    out: list[ClearanceViolation] = []
    above = pts[:, 2] - ground - clearance_m
    worst = _group_argmin(seg, above)
    worst = worst[above[worst] < 0]
    out.extend(_violations(frame, seg[worst], pts[worst], ground[worst] + clearance_m,
                           [None] * len(worst)))
    tall = [z for z in zones if z.height_m is not None]
    if tall and len(points3d) > 1:
        out.extend(_obstacle_violations(points3d, frame, dem, tall, clearance_m, margin_m, step,
                                        seg, pts, ground))
    return sorted(out, key=lambda v: (v.segment, v.obstacle is not None))


def check_ceiling(points3d: np.ndarray, frame: LocalFrame, dem: Dem, ceiling_m: float = 150.0,
                  step_m: float | None = None) -> CeilingExcess | None:
    """Where a 3-D path is highest above the ground right below it, if above ``ceiling_m``.

    The ceiling holds above every point of the ground under the route (every ``step_m``), not
    only above home: a level leg across a valley is as high above its floor as the valley is
    deep plus its height above the rim.

    Returns
    -------
    CeilingExcess | None
        The worst excess and where it is; None when the path stays under the ceiling.

    Raises
    ------
    InputError
        The DEM has no height somewhere along the path.
    """
    seg, pts, ground = _flown(points3d, frame, dem, step_m)
    agl = pts[:, 2] - ground
    i = int(np.argmax(agl))
    if agl[i] <= ceiling_m:
        return None
    lon, lat = frame.to_geo(pts[i, 0], pts[i, 1])
    return CeilingExcess(float(agl[i] - ceiling_m), float(agl[i]), int(seg[i]), float(pts[i, 0]),
                         float(pts[i, 1]), float(lon), float(lat))


def climb_time_s(points3d: np.ndarray, drone: DroneProfile) -> float:
    """Flight time of the legs of a 3-D path, without turns.

    Each leg takes the longer of its horizontal time (at its ground speed) and its vertical
    time at ``climb_rate_m_s`` (up) or ``descent_rate_m_s`` (down), as an autopilot limiting both
    speeds flies it. On a level path this is the horizontal length over the cruise speed; the
    difference is what terrain costs (see the module notes on combining with ``path_time_s``).

    >>> climb_time_s(np.array([[0.0, 0.0, 50.0], [100.0, 0.0, 50.0], [130.0, 0.0, 80.0]]),
    ...              DroneProfile(cruise_speed_m_s=10.0, climb_rate_m_s=3.0))
    20.0
    """
    p = np.asarray(points3d, dtype=float)
    if len(p) < 2:
        return 0.0
    d = np.diff(p, axis=0)
    horizontal = drone.legs_time_s(d[:, 0], d[:, 1])  # at the ground speed, in a wind
    vertical = np.where(d[:, 2] > 0, d[:, 2] / drone.climb_rate_m_s,
                        -d[:, 2] / drone.descent_rate_m_s)
    return float(np.maximum(horizontal, vertical).sum())


class TerrainFollower:
    """Terrain following for one plan: the 3-D path of a 2-D one and the time its climbs cost,
    computed leg by leg and cached (the sortie split asks about the same legs many times).

    Each leg is densified on its own; :func:`follow_terrain` keeps every input vertex, so a
    path's legs give the same profile as the whole path.
    """

    def __init__(self, frame: LocalFrame, dem: Dem, agl_m: float, tol_m: float,
                 drone: DroneProfile) -> None:
        self.frame, self.dem, self.agl_m, self.tol_m, self.drone = frame, dem, agl_m, tol_m, drone
        self._legs: dict[tuple[tuple[float, float], tuple[float, float]],
                         tuple[np.ndarray, float]] = {}

    def _leg(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[np.ndarray, float]:
        key = (a, b)
        if key not in self._legs:
            p = follow_terrain([a, b], self.frame, self.dem, self.agl_m, self.tol_m)
            d = np.diff(p, axis=0)
            level = float(self.drone.legs_time_s(d[:, 0], d[:, 1]).sum())
            self._legs[key] = (p, climb_time_s(p, self.drone) - level)
        return self._legs[key]

    def _pairs(self, path_xy: Sequence[tuple[float, float]] | np.ndarray
               ) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        pts = [(float(x), float(y)) for x, y in np.asarray(path_xy, dtype=float)[:, :2]]
        return [(a, b) for a, b in itertools.pairwise(pts) if a != b]

    def path3d(self, path_xy: Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """(n, 3) x, y, altitude above the DEM's datum along ``path_xy``."""
        legs = [self._leg(a, b)[0] for a, b in self._pairs(path_xy)]
        if not legs:  # a single point
            xy = np.asarray(path_xy, dtype=float)[:1, :2]
            return np.column_stack([xy, _ground(xy, self.frame, self.dem) + self.agl_m])
        return np.vstack([legs[0], *(leg[1:] for leg in legs[1:])])

    def extra_s(self, path_xy: np.ndarray) -> float:
        """Time the climbs and descents along ``path_xy`` add to level flight (≥ 0)."""
        return sum(self._leg(a, b)[1] for a, b in self._pairs(path_xy))


# --- sampling ------------------------------------------------------------------------------


def _step(step_m: float | None, dem: Dem, frame: LocalFrame) -> float:
    if step_m is None:
        return default_step_m(dem, frame)
    if not step_m > 0:
        raise PlanningError(f"terrain sampling step must be positive, not {step_m:g} m")
    return float(step_m)


def _sample_legs(points: np.ndarray, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples every ``step_m`` or less along each leg, both ends included.

    Returns the leg of each sample and the sample (interpolated in every column of ``points``,
    distances measured on the first two). A single point is one sample of leg 0.
    """
    if len(points) == 1:
        return np.zeros(1, int), points.copy()
    d = np.diff(points[:, :2], axis=0)
    pieces = np.maximum(np.ceil(np.hypot(d[:, 0], d[:, 1]) / step_m - 1e-9).astype(int), 1)
    seg = np.repeat(np.arange(len(pieces)), pieces + 1)
    start = np.repeat(np.cumsum(pieces + 1) - (pieces + 1), pieces + 1)
    t = (np.arange(len(seg)) - start) / pieces[seg]
    pts = points[seg] + t[:, None] * (points[seg + 1] - points[seg])
    return seg, pts


def _flown(points3d: np.ndarray, frame: LocalFrame, dem: Dem, step_m: float | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples of a 3-D path: their leg, the (x, y, alt) samples and the ground under them."""
    p = np.asarray(points3d, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) == 0:
        raise PlanningError(f"expected an (n, 3) path of x, y, altitude, not shape {p.shape}")
    seg, pts = _sample_legs(p, _step(step_m, dem, frame))
    return seg, pts, _ground(pts, frame, dem)


def _ground(pts: np.ndarray, frame: LocalFrame, dem: Dem) -> np.ndarray:
    """DEM heights under local points; InputError naming where the DEM has none."""
    lon, lat = frame.to_geo(pts[:, 0], pts[:, 1])
    ground = np.atleast_1d(dem.height_at(lon, lat))
    missing = np.flatnonzero(~np.isfinite(ground))
    if len(missing):
        raise InputError(dem.source, _coverage_problem(pts[missing], missing, len(pts), frame,
                                                       dem))
    return ground


def _coverage_problem(pts: np.ndarray, index: np.ndarray, total: int, frame: LocalFrame,
                      dem: Dem) -> str:
    extent = frame.geom_to_local(dem.outline_lonlat())
    outside = shapely.distance(shapely.points(pts[:, :2]), extent)
    outside[shapely.contains_xy(extent, pts[:, 0], pts[:, 1])] = 0.0
    k = int(np.argmax(outside))
    lon, lat = frame.to_geo(pts[k, 0], pts[k, 1])
    where = (f"{outside[k]:.0f} m outside its extent" if outside[k] > 0
             else "on nodata inside its extent")
    return (f"DEM does not cover the path: {len(index)} of {total} ground samples have no "
            f"height; the worst at lon {float(lon):.6f}, lat {float(lat):.6f} is {where} "
            f"(sample {int(index[k]) + 1} along the path)")


# --- simplification ------------------------------------------------------------------------


def _between_samples_margin(s: np.ndarray, z: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Per sample, a bound on how far the profile strays from the straight line between it and
    its neighbours: half an interval times the change of slope next to it (a kink of the
    bilinear ground at a pixel edge inside an interval of length h, with slopes changing by Δ,
    strays by ≤ hΔ/4, and the slope change seen by the samples is ≥ Δ/2). Slopes are not
    compared across input vertices, which are always kept."""
    n = len(s)
    h = np.diff(s)
    if n < 3:
        return np.zeros(n)
    slope = np.diff(z) / np.where(h > 0, h, 1.0)
    same = seg[1:-1] == seg[:-2]  # intervals k and k+1 on one leg
    change = np.where(same, np.abs(np.diff(slope)), 0.0)
    interval = np.zeros(n - 1)  # per interval: the largest slope change at either end of it
    interval[:-1] = change
    interval[1:] = np.maximum(interval[1:], change)
    per_interval = 0.5 * h * interval
    margin = np.zeros(n)
    margin[:-1] = per_interval
    margin[1:] = np.maximum(margin[1:], per_interval)
    return margin


def _simplify(s: np.ndarray, z: np.ndarray, allow: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Douglas–Peucker on the profile z(s) with a vertical, per-sample tolerance: the indices
    to keep so that linear interpolation between them misses no z[i] by more than allow[i]."""
    keep = np.zeros(len(s), bool)
    keep[forced] = True
    stack = list(itertools.pairwise(forced.tolist()))
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        line = z[i] + (z[j] - z[i]) * (s[i + 1:j] - s[i]) / (s[j] - s[i])
        excess = np.abs(line - z[i + 1:j]) - allow[i + 1:j]
        k = int(np.argmax(excess))
        if excess[k] > 0:
            m = i + 1 + k
            keep[m] = True
            stack += [(i, m), (m, j)]
    return np.flatnonzero(keep)


# --- checks --------------------------------------------------------------------------------


def _group_argmin(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the smallest value of each group."""
    order = np.lexsort((values, groups))
    g = groups[order]
    return order[np.r_[True, g[1:] != g[:-1]]]


def _violations(frame: LocalFrame, segments: np.ndarray, pts: np.ndarray, required: np.ndarray,
                obstacles: Sequence[str | None]) -> list[ClearanceViolation]:
    lon, lat = (np.atleast_1d(v) for v in frame.to_geo(pts[:, 0], pts[:, 1]))
    return [ClearanceViolation(int(g), float(p[0]), float(p[1]), float(lo), float(la), float(p[2]),
                               float(r), o)
            for g, p, lo, la, r, o in zip(segments, pts, lon, lat, required, obstacles,
                                          strict=True)]


def _clip_to_boxes(a: np.ndarray, b: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """The fractions [t0, t1] of segments a → b inside axis-aligned boxes (minx, miny, maxx,
    maxy), one box per segment; t0 > t1 where a segment misses its box (Liang–Barsky)."""
    t0, t1 = np.zeros(len(a)), np.ones(len(a))
    for axis in (0, 1):
        d = b[:, axis] - a[:, axis]
        lo, hi = boxes[:, axis] - a[:, axis], boxes[:, axis + 2] - a[:, axis]
        moving = np.abs(d) > 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            ta, tb = np.where(moving, lo / d, -np.inf), np.where(moving, hi / d, np.inf)
        inside = moving | ((lo <= 0) & (hi >= 0))
        t0 = np.where(inside, np.maximum(t0, np.minimum(ta, tb)), 1.0)
        t1 = np.where(inside, np.minimum(t1, np.maximum(ta, tb)), 0.0)
    return t0, t1


def _obstacle_violations(points3d: np.ndarray, frame: LocalFrame, dem: Dem, tall: list[Zone],
                         clearance_m: float, margin_m: float, step: float, seg: np.ndarray,
                         pts: np.ndarray, ground: np.ndarray) -> list[ClearanceViolation]:
    """The lowest point of each (leg, obstacle) pair that passes within ``margin_m`` of the
    obstacle lower than its top plus ``clearance_m``."""
    p = np.asarray(points3d, dtype=float)
    polys = np.array([frame.geom_to_local(z.geometry) for z in tall], dtype=object)
    legs = shapely.linestrings(np.stack([p[:-1, :2], p[1:, :2]], axis=1))
    leg_i, obs_i = STRtree(polys).query(legs, predicate="dwithin", distance=margin_m)
    if len(leg_i) == 0:
        return []
    # The samples of each (leg, obstacle) pair near the obstacle's box grown by the margin, one
    # sample more at each end; the samples of a leg are contiguous, ``pieces + 1`` of them.
    count = np.bincount(seg, minlength=len(legs))
    first, pieces = np.cumsum(count) - count, count - 1
    grown = shapely.bounds(polys[obs_i]) + np.array([-1.0, -1.0, 1.0, 1.0]) * margin_m
    t0, t1 = _clip_to_boxes(p[leg_i, :2], p[leg_i + 1, :2], grown)
    k0 = np.clip(np.floor(t0 * pieces[leg_i]).astype(int) - 1, 0, pieces[leg_i])
    k1 = np.clip(np.ceil(t1 * pieces[leg_i]).astype(int) + 1, 0, pieces[leg_i])
    n = np.maximum(k1 - k0 + 1, 0)
    pair = np.repeat(np.arange(len(leg_i)), n)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(n) - n, n)
    sample = first[leg_i][pair] + k0[pair] + offset
    points = shapely.points(pts[sample, :2])
    near = shapely.dwithin(points, polys[obs_i[pair]], margin_m)
    under = shapely.intersects(points, polys[obs_i[pair]])
    # Obstacle tops: highest ground on the outline, a point inside, and the path samples inside.
    used, local = np.unique(obs_i, return_inverse=True)
    outline = shapely.segmentize(shapely.boundary(polys[used]), step)
    coords, owner = shapely.get_coordinates(outline, return_index=True)
    inner = shapely.get_coordinates(shapely.point_on_surface(polys[used]))
    xy = np.vstack([coords, inner])
    owner = np.r_[owner, np.arange(len(used))]
    lon, lat = frame.to_geo(xy[:, 0], xy[:, 1])
    top = np.full(len(used), -np.inf)
    np.fmax.at(top, owner, np.atleast_1d(dem.height_at(lon, lat)))
    np.fmax.at(top, local[pair[under]], ground[sample[under]])
    if not np.all(np.isfinite(top)):
        name = tall[int(used[np.flatnonzero(~np.isfinite(top))[0]])].name
        raise InputError(dem.source, f"DEM does not cover obstacle {name!r}: no ground height "
                                     "anywhere under it")
    heights = np.array([tall[int(k)].height_m for k in used], dtype=float)
    required = (top + heights)[local[pair]] + clearance_m
    above = np.where(near, pts[sample, 2] - required, np.inf)
    worst = _group_argmin(pair, above)
    worst = worst[above[worst] < 0]
    return _violations(frame, seg[sample[worst]], pts[sample[worst]], required[worst],
                       [tall[int(obs_i[pair[k]])].name for k in worst])
