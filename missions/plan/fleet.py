"""Several drones over one survey area: the area cut into one part per drone, each part of
equal flight time, each flown from its own home.

Partition
---------
The work happens in the fleet's local frame (:meth:`LocalFrame.around` the whole area). The
area is cut by recursive bisection: a region is cut by a straight line perpendicular to its
long axis (the long side of its minimum rotated rectangle), its drones split in two groups
(ordered along that axis by their homes, so that each group's homes lie on its side), and each
half is cut again until one drone is left; compact parts for any N, plain strips for N = 2.
Where a cut lies along the axis is found by a 1-D search on the *free* area (the area less the
blocking zones grown by the margin) so that each side holds its group's share of the work.

Equal flight time
-----------------
The shares are not equal areas. Each drone's time is modelled as ``t = c + a / rho`` (``a``
its part's free area, ``rho`` its sweep rate, ``c`` its fixed cost: climbs, descents, transits
from home). A first guess takes ``rho`` from its speed and line spacing and ``c`` from its climb
and descent; then every round plans each part for real (:func:`make_plan` with that drone's
home, camera and profile) and takes each drone's time as a function of its share through
the measured (share, time) points of all rounds so far (made non-decreasing, extended beyond
them with the planned rate), and solves for the shares that give every drone the same time.
With one round this is a Newton step; with more, a regula falsi per drone, which copes with a
time that is a staircase in the area (one more sweep line, one more sortie) where a fitted
line would overshoot back and forth. Rounds stop at the first whose slowest drone is within
``tolerance`` of the mean (or when a round would repeat the cuts of an earlier one); if none
is, the round with the lowest makespan is kept. Where the parts lie just about one battery's
worth each, a drone that needs one sortie more than the others can stay up to that sortie's
climb, descent and transit longer: the rounds look for cuts that avoid it, but need not
find them. A slower drone, a narrower camera or a farther home thus gets a smaller part.
Each drone flies its sorties one after another; battery swaps are not counted (no swap time
is added), so a drone's time is its plan's ``time_s``.

Seams and separation
--------------------
Parts are *disjoint*: adjacent parts share their cut line and each drone surveys only its own
part, its sweep lines reaching the part's edges, so the photos of the fleet cover the seams
as each plan covers its own part. All drones fly the one survey altitude (``altitude_m`` or
what ``gsd_cm`` asks of each camera): none is moved to another altitude layer, which would
change its ground sample distance. Instead the fleet *reports*, in the plan notes of the
drone concerned and in the fleet's notes:

* every route that crosses another drone's part (deeper than half a photo footprint, which is
  as far as a survey turn may reach past its own part's edge): a transit from a home off the
  part, or between the pieces of a part that a cut through a concave area left apart;
* the closest approach of any two drones at the same altitude (within 10 m), estimated from
  the planned timeline (all take off at once, sorties back to back, each route flown at a
  uniform pace), with a warning when it is below ``separation_m``: stagger those take-offs.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely
from shapely.geometry import Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from missions.plan.export.bundle import write_plan_files
from missions.plan.limits import BOUNDS, check_bound
from missions.plan.model import Mode, Plan
from missions.plan.planner import PlanRequest, make_plan, resolve_altitude
from survey.core.camera import Camera, camera_from_name
from survey.core.errors import InputError, ParamError, PlanningError
from survey.core.files import atomic_write_text, check_replaceable, read_json, staged_dir
from survey.core.frame import LocalFrame
from survey.core.geometry import polygons_of
from survey.core.plan_folder import PlanFolder

XY = tuple[float, float]
T = TypeVar("T")

FLEET_SUMMARY = "summary.json"
"""The fleet's summary in the output folder, beside one plan folder per drone."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FIELDS = ("name", "home", "camera", "speed_m_s", "endurance_min")
_MIN_SHARE = 0.02  # the least share of the free area a drone is given (of an equal share)
_LAYER_M = 10.0  # drones whose altitudes differ by less than this share a layer
_STEP_S = 0.5  # time step of the separation estimate
_GRID_M = 1e-3  # parts are cut on this grid: the two sides of a seam share its vertices exactly
# (in floating point, GEOS can take two parts that meet along a slanted seam for overlapping)
_SWEEP = 0.8  # share of a sortie's line time spent on the lines, not turning at their ends


@dataclass(frozen=True)
class FleetDrone:
    """One drone of a fleet; a field left ``None`` takes the request's value (the command's
    ``--home``, ``--camera``, ``--speed``, ``--endurance``); with no home anywhere the planner
    puts it on the part's edge nearest the part's centre."""

    name: str
    home_latlon: tuple[float, float] | None = None
    camera: Camera | None = None
    cruise_speed_m_s: float | None = None
    endurance_s: float | None = None
    source: str = "fleet"  # the file it was read from, for messages


@dataclass(frozen=True)
class DronePlan:
    """A drone's plan over its part; ``part`` in the fleet's frame, ``plan`` in its own."""

    name: str
    plan: Plan
    part: BaseGeometry

    @property
    def time_s(self) -> float:
        return self.plan.time_s


@dataclass(frozen=True)
class FleetPlan:
    """The fleet's plans: one per drone, in the order given; geometry in ``frame``."""

    frame: LocalFrame
    area: BaseGeometry  # the whole survey area (local)
    free: BaseGeometry  # the area less the blocking zones grown by the margin (local)
    drones: tuple[DronePlan, ...]
    rounds: int  # rounds of planning it took to balance the times
    notes: tuple[str, ...] = ()

    @property
    def makespan_s(self) -> float:
        """When the last drone lands: the longest drone time."""
        return max(d.time_s for d in self.drones)

    @property
    def total_time_s(self) -> float:
        """Flight time of all drones together."""
        return sum(d.time_s for d in self.drones)

    @property
    def balance(self) -> float:
        """Makespan over the mean drone time: 1.0 when every drone flies equally long."""
        return self.makespan_s * len(self.drones) / max(self.total_time_s, 1e-9)

    def local(self, drone: DronePlan, geom: BaseGeometry) -> BaseGeometry:
        """A geometry of ``drone.plan`` (in its own frame) in the fleet's frame."""
        return self.frame.geom_to_local(drone.plan.frame.geom_to_geo(geom))


# ---------------------------------------------------------------------------------------------
# Reading a fleet file


def read_fleet(path: str | os.PathLike[str]) -> list[FleetDrone]:
    """The drones of a fleet file: JSON, a list of drones or ``{"drones": [...]}``, each
    ``{"name": ..., "home": "LAT,LON" or [LAT, LON], "camera": ..., "speed_m_s": ...,
    "endurance_min": ...}``. ``home`` is required; a missing ``camera``, ``speed_m_s`` or
    ``endurance_min`` takes the command's value, a missing ``name`` is ``droneK``.

    Raises
    ------
    InputError
        One line naming ``path``: not JSON, not a list of drones, an unknown field, a missing
        or bad home, an unknown camera, a speed or endurance out of bounds, a name that is not a
        folder name or is used twice.

    Examples
    --------
    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = (d / "f.json").write_text('[{"name": "a", "home": "36.07,139.98", "speed_m_s": 12}]')
    >>> [(f.name, f.home_latlon, f.cruise_speed_m_s, f.camera) for f in read_fleet(d / "f.json")]
    [('a', (36.07, 139.98), 12.0, None)]
    >>> _ = (d / "g.json").write_text('[{"name": "a"}]')
    >>> read_fleet(d / "g.json")
    Traceback (most recent call last):
    survey.core.errors.InputError: ...g.json: drone 1 ('a'): no `home` (LAT,LON)
    """
    data = read_json(path, strict=True)
    if isinstance(data, dict):
        if set(data) != {"drones"}:
            keys = ", ".join(map(repr, sorted(data))) or "none"
            raise InputError(path, "expected a list of drones or {\"drones\": [...]}, got an "
                             f"object with keys {keys}")
        data = data["drones"]
    if not isinstance(data, list) or not data:
        raise InputError(path, "expected a non-empty list of drones")
    drones = [_read_drone(path, k, entry) for k, entry in enumerate(data, start=1)]
    seen: dict[str, str] = {}
    for d in drones:
        if d.name.lower() in seen:
            raise InputError(path, f"drone name {d.name!r} is used twice (names are folders)")
        seen[d.name.lower()] = d.name
    return drones


def _read_drone(path: str | os.PathLike[str], k: int, entry: Any) -> FleetDrone:
    if not isinstance(entry, dict):
        raise InputError(path, f"drone {k}: expected an object, got {type(entry).__name__}")
    name = entry.get("name", f"drone{k}")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == FLEET_SUMMARY:
        raise InputError(path, f"drone {k}: name {name!r} is not a folder name (letters, digits, "
                         "'.', '_', '-'; at most 64, not starting with a dot or a dash)")
    where = f"drone {k} ({name!r})"
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise InputError(path, f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(_FIELDS)}")
    if "home" not in entry:
        raise InputError(path, f"{where}: no `home` (LAT,LON)")
    home = _read_home(path, where, entry["home"])
    camera = None
    if "camera" in entry:
        if not isinstance(entry["camera"], str):
            raise InputError(path, f"{where}: `camera` must be a camera name")
        try:
            camera = camera_from_name(entry["camera"])
        except InputError as exc:
            raise InputError(path, f"{where}: {exc.problem}") from None
    speed = _read_number(path, where, entry, "speed_m_s", "cruise_speed_m_s", 1.0)
    endurance = _read_number(path, where, entry, "endurance_min", "endurance_s", 60.0)
    return FleetDrone(name, home, camera, speed, endurance, source=str(path))


def _read_home(path: str | os.PathLike[str], where: str, value: Any) -> tuple[float, float]:
    from missions.plan.inputs import parse_latlon

    if isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value):
        value = f"{value[0]},{value[1]}"
    if not isinstance(value, str):
        raise InputError(path, f"{where}: `home` must be \"LAT,LON\" or [LAT, LON], got "
                         f"{json.dumps(value)}")
    try:
        return parse_latlon(value)
    except InputError as exc:
        raise InputError(path, f"{where}: `home`: {exc.problem}") from None


def _read_number(path: str | os.PathLike[str], where: str, entry: dict[str, Any], key: str,
                 field: str, scale: float) -> float | None:
    """``entry[key]`` (in the file's unit) as the value of ``field`` (``× scale``), checked
    against :data:`~missions.plan.limits.BOUNDS`; ``None`` when absent."""
    if key not in entry:
        return None
    v = entry[key]
    if not _is_number(v):
        raise InputError(path, f"{where}: `{key}` must be a number, got {json.dumps(v)}")
    try:
        return check_bound(field, float(v) * scale)
    except ParamError:
        raise InputError(path, f"{where}: `{key}` must be {BOUNDS[field].text()}, got "
                         f"{v:g}") from None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def copies(n: int) -> list[FleetDrone]:
    """``n`` copies of the command's drone (``--drones N``), named ``drone1`` … ``droneN``.

    >>> [d.name for d in copies(3)]
    ['drone1', 'drone2', 'drone3']
    """
    if n < 1:
        raise ParamError("drones", f"a fleet needs at least one drone, got {n}")
    return [FleetDrone(f"drone{k}") for k in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------
# Planning


@dataclass
class _Node:
    """A cut of the partition tree: its axis (unit vector) and the drones on each side; or a
    leaf holding one drone."""

    drones: list[int]
    axis: XY | None = None
    left: _Node | None = None
    right: _Node | None = None


@dataclass(frozen=True)
class _Round:
    """One round of balancing: the shares of the free area, the parts and their plans."""

    shares: list[float]
    parts: dict[int, BaseGeometry]
    plans: list[Plan]

    @property
    def makespan_s(self) -> float:
        return max(p.time_s for p in self.plans)

    def balanced(self, tolerance: float) -> bool:
        times = [p.time_s for p in self.plans]
        return max(times) <= (1.0 + tolerance) * sum(times) / len(times)


def make_fleet_plan(req: PlanRequest, drones: Sequence[FleetDrone], *, rounds: int = 8,
                    tolerance: float = 0.03, separation_m: float | None = None) -> FleetPlan:
    """Cut ``req.area`` into one part per drone, of equal flight time, and plan each part.

    Parameters
    ----------
    req
        The survey request; its home, camera and drone profile are each drone's defaults.
    drones
        The fleet (at least one; names unique).
    rounds
        At most this many rounds of planning every part to balance the times.
    tolerance
        Stop once the makespan is within this fraction of the mean drone time.
    separation_m
        Drones at one altitude estimated to come nearer than this get a warning
        (default: twice ``req.margin_m``, at least 20 m).

    Raises
    ------
    InputError
        No drones, names used twice, a patrol request, ``rounds`` < 1, a drone's home in a
        no-fly zone (naming the fleet file), or any bad option of the request.
    PlanningError
        The area is fully blocked, or a part cannot be planned (naming its drone).
    """
    if not drones:
        raise ParamError("drones", "a fleet needs at least one drone")
    if len({d.name.lower() for d in drones}) != len(drones):
        raise ParamError("drones", "drone names must be unique (each is a folder)")
    if req.mode is Mode.PATROL:
        raise InputError(req.pois_source, "a fleet plans surveys only; patrol with one drone")
    if rounds < 1 or not tolerance >= 0.0:
        raise ParamError(("rounds", "tolerance"), f"need rounds ≥ 1 and tolerance ≥ 0, got "
                         f"{rounds} and {tolerance:g}")
    frame = LocalFrame.around(req.area)
    area = shapely.set_precision(shapely.make_valid(frame.geom_to_local(req.area)), _GRID_M)
    reqs = [_drone_request(req, d) for d in drones]
    blocked = _blocked(req, frame, min(resolve_altitude(r) for r in reqs))
    free = area.difference(blocked)
    if free.area < 1.0:
        raise PlanningError(f"{req.area_source}: the area is fully blocked by no-fly zones")
    sep = separation_m if separation_m is not None else max(2 * req.margin_m, 20.0)
    homes = [None if r.home_latlon is None else _local(frame, r.home_latlon) for r in reqs]
    rho, cost = _prior(reqs)
    shares = _shares(free.area, rho, cost)
    tree = _tree(area, free, list(range(len(drones))), homes, shares)
    seen: list[_Round] = []
    for _ in range(rounds):
        parts = _carve(tree, area, free, shares)
        plans = [_plan_part(_homed(reqs[i], frame, parts, i, blocked, sep), drones[i], frame,
                            parts[i]) for i in range(len(drones))]
        seen.append(_Round(shares, parts, plans))
        if seen[-1].balanced(tolerance):
            break
        shares = _next_shares([[(r.shares[i], r.plans[i].time_s) for r in seen]
                               for i in range(len(drones))], [free.area / r for r in rho])
        if any(max(abs(a - b) for a, b in zip(shares, r.shares, strict=True)) < 1e-4
               for r in seen):
            break  # the same cuts again: no better round to find
    best = seen[-1] if seen[-1].balanced(tolerance) else min(seen, key=lambda r: r.makespan_s)
    done = len(seen)
    parts, plans = best.parts, best.plans
    fleet = FleetPlan(frame=frame, area=area, free=free, rounds=done, drones=tuple(
        DronePlan(d.name, p, parts[i]) for i, (d, p) in enumerate(zip(drones, plans, strict=True))))
    return _with_notes(fleet, sep)


def _drone_request(req: PlanRequest, d: FleetDrone) -> PlanRequest:
    """The request for one drone: its home, camera, speed and endurance over the request's."""
    profile = replace(req.drone, cruise_speed_m_s=_or(d.cruise_speed_m_s,
                                                       req.drone.cruise_speed_m_s),
                      endurance_s=_or(d.endurance_s, req.drone.endurance_s))
    return replace(req, home_latlon=_or(d.home_latlon, req.home_latlon),
                   camera=_or(d.camera, req.camera), drone=profile)


def _or(mine: T | None, theirs: T) -> T:
    """A drone's own value, or the request's where it has none."""
    return theirs if mine is None else mine


def _homed(req: PlanRequest, frame: LocalFrame, parts: dict[int, BaseGeometry], i: int,
           blocked: BaseGeometry, clear_m: float) -> PlanRequest:
    """``req`` with a home, if it has none: the point of part ``i``'s outline nearest its
    centre that lies ``clear_m`` from the other parts (else 1 m: off the seams, where a
    neighbour's home would be near) and out of the blocking zones; the planner's own choice
    when there is no such point."""
    if req.home_latlon is not None:
        return req
    part = parts[i]
    others = shapely.union_all([p for j, p in parts.items() if j != i])
    keep_off = blocked.buffer(2.0) if not blocked.is_empty else Polygon()
    for away in (clear_m, 1.0):
        edge = part.boundary.difference(others.buffer(away)).difference(keep_off)
        if edge.length > 0.0:
            p = nearest_points(edge, part.centroid)[0]
            lon, lat = frame.to_geo(p.x, p.y)
            return replace(req, home_latlon=(float(lat), float(lon)))
    return req


def _local(frame: LocalFrame, latlon: tuple[float, float]) -> XY:
    x, y = frame.to_local(latlon[1], latlon[0])
    return float(x), float(y)


def _blocked(req: PlanRequest, frame: LocalFrame, altitude_m: float) -> BaseGeometry:
    """The zones a survey at ``altitude_m`` keeps out of, grown by the margin (local): the
    measure of work for the cuts (each plan finds its own keep-out exactly)."""
    zones = [frame.geom_to_local(z.geometry).buffer(req.margin_m) for z in req.zones
             if z.height_m is None or z.height_m > altitude_m - req.vertical_clearance_m]
    return shapely.union_all(zones) if zones else Polygon()


def _prior(reqs: Sequence[PlanRequest]) -> tuple[list[float], list[float]]:
    """First guess of each drone's sweep rate (m²/s: speed × line spacing) and fixed cost
    (s: a climb and a descent)."""
    rho, cost = [], []
    for r in reqs:
        alt = resolve_altitude(r)
        across_m, _ = r.camera.footprint_m(alt)
        rho.append(_SWEEP * r.drone.cruise_speed_m_s * across_m * (1.0 - r.side_overlap))
        cost.append(r.drone.vertical_time_s(alt))
    return rho, cost


def _shares(total: float, rho: Sequence[float], cost: Sequence[float]) -> list[float]:
    """Each drone's share of ``total`` (free area) so that ``cost + area / rho`` is the same
    for all: the T with Σ max(T − c, 0)·ρ = total, by bisection; each share at least
    :data:`_MIN_SHARE` of an equal one.

    >>> [round(s, 3) for s in _shares(1000.0, [1.0, 2.0], [0.0, 0.0])]
    [0.333, 0.667]
    >>> [round(s, 3) for s in _shares(1000.0, [1.0, 1.0], [0.0, 100.0])]
    [0.55, 0.45]
    """
    r, c = np.asarray(rho, dtype=float), np.asarray(cost, dtype=float)
    lo, hi = float(c.min()), float(c.max() + total / r.sum())
    for _ in range(100):
        t = (lo + hi) / 2
        if (np.maximum(t - c, 0.0) * r).sum() < total:
            lo = t
        else:
            hi = t
    a = np.maximum(np.maximum(hi - c, 0.0) * r / total, _MIN_SHARE / len(r))
    return [float(v) for v in a / a.sum()]


def _next_shares(points: Sequence[Sequence[tuple[float, float]]],
                 slope: Sequence[float]) -> list[float]:
    """The shares for the next round: each drone's time as a function of its share, through
    its ``points`` (share, time) of every round so far (made non-decreasing; beyond them a
    line of the planned ``slope``, seconds per whole area), inverted at the T where the shares
    sum to 1.

    >>> [round(v, 3) for v in _next_shares([[(0.5, 300.0)], [(0.5, 200.0)]], [400.0, 400.0])]
    [0.375, 0.625]
    """
    n = len(slope)
    curves = []
    for i in range(n):
        pts = sorted(points[i])
        curves.append((np.array([p[0] for p in pts]),
                       np.maximum.accumulate(np.array([p[1] for p in pts]))))

    def share(i: int, t: float) -> float:
        s, ts = curves[i]
        if t <= ts[0]:
            v = s[0] - (ts[0] - t) / slope[i]
        elif t >= ts[-1]:
            v = s[-1] + (t - ts[-1]) / slope[i]
        else:
            v = float(np.interp(t, ts, s))
        return max(float(v), _MIN_SHARE / n)

    lo, hi = 0.0, max(float(c[1][-1]) for c in curves) + max(slope)
    for _ in range(80):
        t = (lo + hi) / 2
        if sum(share(i, t) for i in range(n)) < 1.0:
            lo = t
        else:
            hi = t
    out = [share(i, hi) for i in range(n)]
    return [v / sum(out) for v in out]


def _long_axis(geom: BaseGeometry) -> XY:
    """Unit vector along the long side of ``geom``'s minimum rotated rectangle."""
    rect = shapely.minimum_rotated_rectangle(geom)
    c = np.asarray(rect.exterior.coords if isinstance(rect, Polygon) else rect.coords)
    if len(c) < 3:
        return (1.0, 0.0)
    e1, e2 = c[1] - c[0], c[2] - c[1]
    e = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    n = float(np.hypot(*e)) or 1.0
    return float(e[0] / n), float(e[1] / n)


def _tree(region: BaseGeometry, free: BaseGeometry, drones: list[int],
          homes: Sequence[XY | None], shares: Sequence[float]) -> _Node:
    """The partition tree, built once (its axes and drone groups), with the first shares:
    each region cut across its long axis, its drones ordered along the axis by home (those
    without one count as at the region's centre) and split into halves."""
    node = _Node(drones)
    if len(drones) == 1:
        return node
    u = _long_axis(region)
    c = region.centroid

    def along(i: int) -> float:
        h = homes[i]
        x, y = (c.x, c.y) if h is None else h
        return x * u[0] + y * u[1]

    order = sorted(drones, key=along)
    k = len(order) // 2
    node.axis, left_ids, right_ids = u, order[:k], order[k:]
    left, right = _cut(region, free, u, sum(shares[i] for i in left_ids)
                       / sum(shares[i] for i in order))
    node.left = _tree(left, free, left_ids, homes, shares)
    node.right = _tree(right, free, right_ids, homes, shares)
    return node


def _carve(node: _Node, region: BaseGeometry, free: BaseGeometry,
           shares: Sequence[float]) -> dict[int, BaseGeometry]:
    """Each drone's part for ``shares`` of the free area, cutting along the tree's axes."""
    if node.axis is None or node.left is None or node.right is None:
        return {node.drones[0]: region}
    left_share = sum(shares[i] for i in node.left.drones)
    left, right = _cut(region, free, node.axis, left_share / sum(shares[i] for i in node.drones))
    return {**_carve(node.left, left, free, shares), **_carve(node.right, right, free, shares)}


def _cut(region: BaseGeometry, free: BaseGeometry, u: XY,
         fraction: float) -> tuple[BaseGeometry, BaseGeometry]:
    """``region`` cut by a line perpendicular to ``u`` so that the low side holds
    ``fraction`` of the free area in it; the two sides share the cut line.

    >>> from shapely.geometry import box
    >>> a, b = _cut(box(0, 0, 100, 10), box(0, 0, 100, 10), (1.0, 0.0), 0.25)
    >>> round(a.area), round(b.area), round(a.bounds[2], 2)
    (250, 750, 25.0)
    """
    work = free.intersection(region)
    target = fraction * work.area
    xy = shapely.get_coordinates(region)
    proj = xy @ np.asarray(u)
    lo, hi = float(proj.min()), float(proj.max())
    big = 4.0 * (float(np.abs(xy).max()) + hi - lo + 1.0)
    for _ in range(60):
        s = (lo + hi) / 2
        if work.intersection(_half_plane(u, s, big)).area < target:
            lo = s
        else:
            hi = s
        if hi - lo < 1e-3:
            break
    low = _half_plane(u, (lo + hi) / 2, big)
    return (shapely.intersection(region, low, grid_size=_GRID_M),
            shapely.difference(region, low, grid_size=_GRID_M))


def _half_plane(u: XY, s: float, big: float) -> Polygon:
    """The points p with p·u ≤ s, as a polygon ``big`` across."""
    ux, uy = u
    vx, vy = -uy, ux
    cx, cy = s * ux, s * uy
    return Polygon([(cx + big * vx, cy + big * vy), (cx - big * vx, cy - big * vy),
                    (cx - big * (vx + 2 * ux), cy - big * (vy + 2 * uy)),
                    (cx + big * (vx - 2 * ux), cy + big * (vy - 2 * uy))])


def _plan_part(req: PlanRequest, drone: FleetDrone, frame: LocalFrame,
               part: BaseGeometry) -> Plan:
    """``make_plan`` over one drone's part; a problem of its own (home in a zone, nothing
    reachable) is named by the drone."""
    sub = replace(req, area=frame.geom_to_geo(shapely.union_all(polygons_of(part))),
                  area_source=f"{req.area_source} (part of {drone.name})")
    try:
        return make_plan(sub)
    except ParamError as exc:
        if drone.home_latlon is not None and "home_latlon" in exc.params:
            raise InputError(drone.source, f"drone {drone.name!r}: {exc.problem}") from None
        raise
    except PlanningError as exc:
        raise PlanningError(f"drone {drone.name!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Separation: crossings and the closest approach


def _with_notes(fleet: FleetPlan, separation_m: float) -> FleetPlan:
    """``fleet`` with notes on routes that cross other parts and on the closest approach."""
    names = [d.name for d in fleet.drones]
    fleet_notes = [f"{len(names)} drones over parts of equal flight time: makespan "
                   f"{fleet.makespan_s / 60:.1f} min, {fleet.total_time_s / 60:.1f} min in all "
                   f"(makespan / mean {fleet.balance:.3f}, {fleet.rounds} round(s)); each drone "
                   "flies its sorties back to back, battery swaps not counted"]
    drones = []
    for i, d in enumerate(fleet.drones):
        across, along = d.plan.camera.footprint_m(d.plan.altitude_m)
        band = min(across, along) / 2
        routes = fleet.local(d, shapely.union_all([s.route for s in d.plan.sorties]))
        extra = []
        for j, other in enumerate(fleet.drones):
            if j == i or not _same_layer(d, other):
                continue
            inner = other.part.buffer(-band)
            metres = routes.intersection(inner).length if not inner.is_empty else 0.0
            if metres > 1.0:
                extra.append(f"the route crosses {other.name}'s part for {metres:.0f} m at "
                             f"{d.plan.altitude_m:.0f} m (transit): mind {other.name} there")
        fleet_notes += [f"{d.name}: {n}" for n in extra]
        drones.append(replace(d, plan=replace(d.plan, notes=d.plan.notes + tuple(extra))))
    fleet = replace(fleet, drones=tuple(drones))
    near = _closest_approach(fleet)
    if near is not None:
        dist, t, a, b = near
        text = (f"closest approach at one altitude: {names[a]} and {names[b]}, ~{dist:.0f} m "
                f"apart at {int(t // 60)}:{int(t % 60):02d} (estimated: all take off at once, "
                "routes flown at a uniform pace)")
        if dist < separation_m:
            text = (f"warning: {text}, under the {separation_m:g} m separation: stagger their "
                    "take-offs")
        fleet_notes.append(text)
    return replace(fleet, notes=tuple(fleet_notes))


def _same_layer(a: DronePlan, b: DronePlan) -> bool:
    return abs(a.plan.altitude_m - b.plan.altitude_m) < _LAYER_M


def _timeline(fleet: FleetPlan, d: DronePlan, ts: np.ndarray) -> np.ndarray:
    """Where the drone is (fleet frame, (len(ts), 2)) at times ``ts``: climbing and
    descending at home, along each route at a uniform pace; NaN once it has landed."""
    kt: list[float] = []
    kxy: list[np.ndarray] = []
    t0 = 0.0
    drone, alt = d.plan.drone, d.plan.altitude_m
    for s in d.plan.sorties:
        xy = np.asarray(fleet.local(d, s.route).coords)
        climb, descent = alt / drone.climb_rate_m_s, alt / drone.descent_rate_m_s
        flat = max(s.time_s - climb - descent, 0.0)
        run = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        frac = run / run[-1] if run[-1] > 0 else np.zeros_like(run)
        kt += [t0, *(t0 + climb + frac * flat), t0 + s.time_s]
        kxy += [xy[:1], xy, xy[-1:]]
        t0 += s.time_s
    k = np.concatenate(kxy)
    out = np.column_stack([np.interp(ts, kt, k[:, 0]), np.interp(ts, kt, k[:, 1])])
    out[ts > t0] = np.nan
    return out


def _closest_approach(fleet: FleetPlan) -> tuple[float, float, int, int] | None:
    """The smallest estimated distance between two drones at one altitude: (metres, time s,
    drone, drone); None for a single drone or drones on separate layers."""
    ts = np.arange(0.0, fleet.makespan_s + _STEP_S, _STEP_S)
    tracks = [_timeline(fleet, d, ts) for d in fleet.drones]
    best: tuple[float, float, int, int] | None = None
    for a in range(len(tracks)):
        for b in range(a + 1, len(tracks)):
            if not _same_layer(fleet.drones[a], fleet.drones[b]):
                continue
            dist = np.hypot(*(tracks[a] - tracks[b]).T)
            if np.all(np.isnan(dist)):
                continue
            k = int(np.nanargmin(dist))
            if best is None or dist[k] < best[0]:
                best = (float(dist[k]), float(ts[k]), a, b)
    return best


# ---------------------------------------------------------------------------------------------
# Writing


def write_fleet_files(fleet: FleetPlan, out: str | os.PathLike[str]) -> list[Path]:
    """Write each drone's plan into ``out/<name>/`` (:func:`write_plan_files`) and the fleet's
    ``summary.json`` into ``out``, all or nothing.

    Everything is written to a staging folder beside ``out`` first; only when all of it is
    written does it move in. A drone folder already in ``out`` keeps its other files (a
    ``flight/`` record) and loses the sortie files of an earlier plan, as
    :func:`write_plan_files` does; so do the folders of drones of an earlier fleet in ``out``
    that this fleet no longer has (named by the earlier summary), so none is flown by mistake.

    Returns
    -------
    list of Path
        The files written, in ``out``.

    Raises
    ------
    InputError
        ``out`` or a path in it holds something an output may not replace.
    """
    out = Path(out)
    check_replaceable(out, folder=True)
    stale = _earlier_drones(out) - {d.name for d in fleet.drones}
    written: list[Path] = []
    with staged_dir(out) as tmp:
        for d in fleet.drones:
            written += [out / d.name / p.name for p in write_plan_files(d.plan, tmp / d.name)]
        text = json.dumps(fleet_summary(fleet), indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_text(tmp / FLEET_SUMMARY, text + "\n")
        written.append(out / FLEET_SUMMARY)
        # A drone folder already in `out` is merged file by file (a folder cannot be renamed
        # onto one that is not empty); the rest moves in as `staged_dir` does.
        merge = [d.name for d in fleet.drones if (out / d.name).is_dir()]
        for name in merge:
            for f in (tmp / name).iterdir():
                check_replaceable(out / name / f.name, folder=f.is_dir())
        for f in tmp.iterdir():
            if f.name not in merge:
                check_replaceable(out / f.name, folder=f.is_dir())
        for name in merge:
            _merge_plan_folder(tmp / name, out / name)
    for name in stale:
        _drop_sortie_files(out / name, keep=set())
    return written


def _merge_plan_folder(src: Path, dst: Path) -> None:
    """Move a staged plan folder's files into an existing one, dropping ``dst``'s sortie files
    that the new plan does not have; ``src`` is left empty and removed."""
    names = {f.name for f in src.iterdir()}
    for f in sorted(src.iterdir()):
        os.replace(f, dst / f.name)
    _drop_sortie_files(dst, keep=names)
    src.rmdir()


def _drop_sortie_files(folder: Path, keep: set[str]) -> None:
    if not folder.is_dir():
        return
    for f in folder.iterdir():
        if PlanFolder.is_sortie_export(f.name) and f.name not in keep and f.is_file():
            f.unlink()


def _earlier_drones(out: Path) -> set[str]:
    """The drone folders an earlier fleet summary in ``out`` names (none if there is none)."""
    try:
        data = json.loads((out / FLEET_SUMMARY).read_text(encoding="utf-8"))
        names = {str(d["folder"]) for d in data["fleet"]["drones"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {n for n in names if _NAME.fullmatch(n) and n != FLEET_SUMMARY}


def fleet_summary(fleet: FleetPlan) -> dict[str, Any]:
    """What the fleet's ``summary.json`` holds: the makespan and, per drone, its time, photos,
    part (area and outline, lon/lat) and home; each drone's own summary is in its folder."""
    drones = []
    for d in fleet.drones:
        p = d.plan
        drones.append({
            "name": d.name, "folder": d.name, "time_s": p.time_s, "sorties": len(p.sorties),
            "photos": p.photo_count, "distance_m": p.distance_m,
            "part_area_m2": float(d.part.area),
            "part_free_m2": float(fleet.free.intersection(d.part).area),
            "covered_m2": float(p.covered.area), "unreachable_m2": float(p.unreachable.area),
            "home": {"lat_deg": p.home_lat_deg, "lon_deg": p.home_lon_deg},
            "camera": p.camera.name, "altitude_m": p.altitude_m,
            "cruise_speed_m_s": p.drone.cruise_speed_m_s, "endurance_s": p.drone.endurance_s,
            "part": mapping(fleet.frame.geom_to_geo(d.part)),
        })
    return {"fleet": {
        "drones": drones,
        "makespan_s": fleet.makespan_s,
        "total_time_s": fleet.total_time_s,
        "balance": fleet.balance,
        "photos": sum(d.plan.photo_count for d in fleet.drones),
        "area_m2": float(fleet.area.area),
        "free_m2": float(fleet.free.area),
        "battery_swaps": "not counted",
        "notes": list(fleet.notes),
    }}

