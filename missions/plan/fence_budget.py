"""Fences that fit the autopilot: ArduPilot's fence storage as a budget, and shapes that are
coarsened (never shrunk into the zone, never grown onto the route) until the fence fits.

ArduCopter keeps the fence in its ``StorageFence`` areas (``libraries/StorageManager/
StorageManager.cpp``): 48 + 256 + 256 = 560 bytes on boards with 16 KiB or more of storage
(Pixhawk-class and SITL), 304 on 8 KiB boards, 48 on 4 KiB ones. ``AC_PolyFence_loader``
refuses an upload of more than ``bytes / 8`` items (``max_items()``: MISSION_ACK NO_SPACE at
MISSION_COUNT) and a fence whose stored form is larger than the area ("Fence exceeds storage
size", MISSION_ERROR at the end): a 4-byte header, then per polygon 1 type + 1 count + 8 per
vertex, per circle 1 + 12, and a 1-byte end marker (``fence_storage_space_required``).

:func:`fit_fence` takes each zone's shape and, while the fence does not fit, replaces the
shape whose next coarser form saves most with that form: a simplified outline grown back by
the simplification tolerance (so it still contains the zone), then the bounding circle or
rectangle. A coarser exclusion shape is taken only if it keeps ``clearance_m`` from what the
vehicle must fly (the routes, home and rally points); an inclusion shape only grows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from missions.plan.items import FenceZone
from survey.core.frame import LocalFrame


@dataclass(frozen=True, slots=True)
class FenceBudget:
    """What a vehicle's fence storage takes."""

    bytes: int
    items: int

    @classmethod
    def ardupilot(cls, storage_bytes: int = 560) -> FenceBudget:
        """ArduCopter's: ``storage_bytes`` of fence storage, ``storage_bytes // 8`` items."""
        return cls(storage_bytes, storage_bytes // 8)


ARDUPILOT_FENCE = FenceBudget.ardupilot(560)
"""ArduCopter on a board with ≥ 16 KiB storage (Pixhawk, Cube, SITL)."""
SMALLER_FENCES = (FenceBudget.ardupilot(304), FenceBudget.ardupilot(48))
"""What to try, in turn, when a vehicle answers that a fence does not fit (8 and 4 KiB
boards)."""

ROUND = 0.95
"""A shape filling this share of its bounding circle is sent as a circle."""


def storage_bytes(zones: Sequence[FenceZone]) -> int:
    """Bytes ArduPilot needs to store ``zones`` (``fence_storage_space_required`` + end)."""
    return 4 + sum(13 if z.is_circle else 2 + 8 * len(z.vertices) for z in zones) + 1


def item_count(zones: Sequence[FenceZone]) -> int:
    """Fence mission items ``zones`` upload as."""
    return sum(1 if z.is_circle else len(z.vertices) for z in zones)


def fits(zones: Sequence[FenceZone], budget: FenceBudget) -> bool:
    return storage_bytes(zones) <= budget.bytes and item_count(zones) <= budget.items


def circle_of(shape: BaseGeometry) -> tuple[Point, float]:
    """The smallest circle containing ``shape``: centre and radius."""
    centre = shapely.minimum_bounding_circle(shape).centroid
    return centre, float(shapely.minimum_bounding_radius(shape))


def is_round(shape: BaseGeometry) -> bool:
    """Whether ``shape`` is (nearly) a disc: it fills :data:`ROUND` of its bounding circle."""
    _, r = circle_of(shape)
    return r > 0 and shape.area / (math.pi * r * r) >= ROUND


@dataclass(frozen=True, slots=True)
class _Form:
    """One way to send a shape: a polygon (local metres) or a circle."""

    polygon: Polygon | None = None
    centre: Point | None = None
    radius_m: float = 0.0

    @property
    def geometry(self) -> BaseGeometry:
        if self.polygon is not None:
            return self.polygon
        assert self.centre is not None
        return self.centre.buffer(self.radius_m, quad_segs=16)

    cost: tuple[int, int] = field(init=False)
    """Bytes and items this form takes in the autopilot's fence storage."""

    def __post_init__(self) -> None:
        n = 0 if self.polygon is None else len(self.polygon.exterior.coords) - 1
        object.__setattr__(self, "cost", (13, 1) if self.polygon is None else (2 + 8 * n, n))

    def zone(self, inclusion: bool, frame: LocalFrame) -> FenceZone:
        if self.polygon is None:
            assert self.centre is not None
            lon, lat = frame.to_geo(self.centre.x, self.centre.y)
            return FenceZone(inclusion, ((float(lat), float(lon)),), round(self.radius_m, 2))
        geo = frame.geom_to_geo(Polygon(self.polygon.exterior))
        return FenceZone(inclusion, tuple((lat, lon) for lon, lat in geo.exterior.coords[:-1]))


def _polygon(shape: BaseGeometry) -> Polygon | None:
    if isinstance(shape, Polygon) and not shape.is_empty:
        return Polygon(shape.exterior)
    hull = shape.convex_hull
    return Polygon(hull.exterior) if isinstance(hull, Polygon) else None


def _forms(shape: Polygon, step_m: float) -> list[_Form]:
    """``shape`` itself (or its circle, if round), then coarser forms that contain it, from
    fine to coarse."""
    centre, r = circle_of(shape)
    circle = _Form(centre=centre, radius_m=r * 1.001 + 0.01)
    if is_round(shape):
        return [circle]
    forms = [_Form(polygon=shape)]
    hull = shape.convex_hull
    for k in range(6):
        t = step_m * 2 ** k
        grown = hull.simplify(t).buffer(t, join_style="mitre", mitre_limit=4.0)
        p = _polygon(grown)
        if p is not None and p.contains(shape.buffer(-1e-6)) and p.is_valid:
            forms.append(_Form(polygon=p))
    rect = _polygon(shape.minimum_rotated_rectangle)
    if rect is not None:
        forms.append(_Form(polygon=rect))
    forms.append(circle)
    forms.sort(key=lambda f: -f.cost[0])  # fine (costly) to coarse (cheap)
    out: list[_Form] = []
    for f in forms:  # keep strictly cheaper steps only
        if not out or f.cost[0] < out[-1].cost[0]:
            out.append(f)
    return out


@dataclass(frozen=True, slots=True)
class FittedFence:
    """The zones to upload and what fitting them did."""

    zones: tuple[FenceZone, ...]
    coarsened: int = 0
    dropped: int = 0

    def note(self) -> str | None:
        """One line for the plan's or the flight's notes, or ``None`` when nothing changed."""
        if not (self.coarsened or self.dropped):
            return None
        parts = []
        if self.coarsened:
            parts.append(f"{self.coarsened} fence shape(s) simplified")
        if self.dropped:
            parts.append(f"{self.dropped} exclusion zone(s) left out of the fence")
        return (", ".join(parts) + f" to fit the autopilot's fence storage "
                f"({storage_bytes(self.zones)} bytes, {item_count(self.zones)} items); the "
                "route keeps its full margin regardless")


def fit_fence(inclusion: Sequence[BaseGeometry], exclusion: Sequence[BaseGeometry],
              frame: LocalFrame, budget: FenceBudget = ARDUPILOT_FENCE, *,
              keep_clear: BaseGeometry | None = None, clearance_m: float = 2.0,
              step_m: float = 1.0) -> FittedFence:
    """Fence zones for ``inclusion`` and ``exclusion`` shapes (local metres, in priority
    order: later exclusions are dropped first) that fit ``budget``.

    Raises
    ------
    ValueError
        When not even the inclusion shapes fit.
    """
    polys: list[tuple[bool, Polygon]] = []
    for inc, group in ((True, inclusion), (False, exclusion)):
        polys.extend((inc, p) for p in map(_polygon, group) if p is not None)
    cache: dict[int, list[_Form]] = {}

    def forms_of(i: int) -> list[_Form]:
        if i not in cache:
            cache[i] = _forms(polys[i][1], step_m)
        return cache[i]

    level = [0] * len(polys)
    active = [True] * len(polys)
    # What the vehicle flies, as short pieces in a tree: buffering a whole route is slow.
    clear_tree = _segment_tree(keep_clear) if keep_clear is not None else None
    verdicts: dict[tuple[int, int], bool] = {}

    def ok(i: int, level_i: int) -> bool:
        """May shape ``i`` take its form ``level_i`` (a coarser outline) without coming
        within the clearance of the route?"""
        if polys[i][0] or clear_tree is None:
            return True
        if (i, level_i) not in verdicts:
            near = clear_tree.query(forms_of(i)[level_i].geometry, predicate="dwithin",
                                    distance=clearance_m)
            verdicts[i, level_i] = len(near) == 0
        return verdicts[i, level_i]

    circle = _Form(centre=Point(0, 0), radius_m=1.0).cost  # the cheapest form there is
    if budget.bytes < 5 + circle[0] * len(polys) or budget.items < circle[1] * len(polys):
        _coarsen_all_then_drop(polys, forms_of, ok, level, active, budget)
    else:
        _coarsen(polys, forms_of, ok, level, active, budget)
    zones = tuple(forms_of(i)[level[i]].zone(polys[i][0], frame)
                  for i in range(len(polys)) if active[i])
    coarsened = sum(1 for i in range(len(polys)) if active[i] and level[i] > 0)
    return FittedFence(zones, coarsened, active.count(False))


_FormsOf = Callable[[int], list[_Form]]
_Ok = Callable[[int, int], bool]


def _coarsen(polys: list[tuple[bool, Polygon]], forms_of: _FormsOf, ok: _Ok, level: list[int],
             active: list[bool], budget: FenceBudget) -> None:
    """The greedy fit: coarsen the shape that saves the most bytes, again and again (a heap
    of each shape's gain from its next coarser form; the first shape wins ties); when none can
    coarsen, drop exclusions from the last. Sets ``level`` and ``active``."""
    b = 5 + sum(forms_of(i)[0].cost[0] for i in range(len(polys)))  # bytes and items used
    n = sum(forms_of(i)[0].cost[1] for i in range(len(polys)))
    gains = [(-(f[0].cost[0] - f[1].cost[0]), i)
             for i, f in ((i, forms_of(i)) for i in range(len(polys))) if len(f) > 1]
    heapq.heapify(gains)
    drops = [i for i, (inc, _) in enumerate(polys) if not inc]  # the last goes first
    while b > budget.bytes or n > budget.items:
        if gains:
            _, best = heapq.heappop(gains)
            forms = forms_of(best)
            if not ok(best, level[best] + 1):
                continue  # the route stays where it is: this shape can never coarsen
            now, nxt = forms[level[best]].cost, forms[level[best] + 1].cost
            b, n = b - now[0] + nxt[0], n - now[1] + nxt[1]
            level[best] += 1
            if level[best] + 1 < len(forms):
                heapq.heappush(gains, (-(nxt[0] - forms[level[best] + 1].cost[0]), best))
            continue
        if not drops:
            raise ValueError(f"the fence's inclusion alone needs {b} bytes, {n} items; the "
                             f"vehicle stores {budget.bytes} bytes, {budget.items} items")
        i = drops.pop()
        active[i] = False
        cost = forms_of(i)[level[i]].cost
        b, n = b - cost[0], n - cost[1]


def _coarsen_all_then_drop(polys: list[tuple[bool, Polygon]], forms_of: _FormsOf, ok: _Ok,
                           level: list[int], active: list[bool], budget: FenceBudget) -> None:
    """What :func:`_coarsen` ends with when even a circle for every zone does not fit: every
    shape coarsened as far as it may go, then exclusions dropped from the last until the rest
    fit (so the longest run of exclusions that fits is kept). The same result, with forms
    made only for the zones kept (thousands of obstacles, a few dozen kept)."""
    b, n = 5, 0
    order = [i for i, (inc, _) in enumerate(polys) if inc] + [
        i for i, (inc, _) in enumerate(polys) if not inc]
    for k, i in enumerate(order):
        forms = forms_of(i)
        while level[i] + 1 < len(forms) and ok(i, level[i] + 1):
            level[i] += 1
        cost = forms[level[i]].cost
        if b + cost[0] > budget.bytes or n + cost[1] > budget.items:
            if polys[i][0]:
                raise ValueError(f"the fence's inclusion alone needs over {b} bytes, {n} "
                                 f"items; the vehicle stores {budget.bytes} bytes, "
                                 f"{budget.items} items")
            for j in order[k:]:
                active[j] = False
            return
        b, n = b + cost[0], n + cost[1]


def _segment_tree(geom: BaseGeometry) -> shapely.STRtree:
    """An index of ``geom``'s edges: each line's and each ring's segments, points as they are."""
    pieces: list[BaseGeometry] = []
    todo = list(shapely.get_parts(geom))
    while todo:
        part = todo.pop()
        if isinstance(part, Polygon):
            todo.extend(shapely.get_rings(part))
        elif isinstance(part, Point) or shapely.get_num_coordinates(part) < 2:
            pieces.append(part)
        elif shapely.get_num_geometries(part) > 1:
            todo.extend(shapely.get_parts(part))
        else:
            xy = shapely.get_coordinates(part)
            pieces.extend(shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1)))
    return shapely.STRtree(pieces)


def zone_shape(zone: FenceZone, frame: LocalFrame) -> Polygon:
    """A fence zone as a local polygon (a circle as 64 vertices)."""
    if zone.radius_m is not None:
        (lat, lon), = zone.vertices
        x, y = frame.to_local(lon, lat)
        return Point(float(x), float(y)).buffer(zone.radius_m, quad_segs=16)
    geo = Polygon([(lon, lat) for lat, lon in zone.vertices])
    return frame.geom_to_local(geo)


def refit(zones: Sequence[FenceZone], budget: FenceBudget,
          keep_clear_lonlat: BaseGeometry | None = None) -> FittedFence:
    """Zones already planned, fitted again to a smaller ``budget`` (a vehicle that answered
    that the fence does not fit); ``keep_clear_lonlat`` is what the vehicle will fly."""
    pts = [(lon, lat) for z in zones for lat, lon in z.vertices]
    frame = LocalFrame.around(shapely.MultiPoint(pts))
    inc = [zone_shape(z, frame) for z in zones if z.inclusion]
    exc = [zone_shape(z, frame) for z in zones if not z.inclusion]
    clear = frame.geom_to_local(keep_clear_lonlat) if keep_clear_lonlat is not None else None
    return fit_fence(inc, exc, frame, budget, keep_clear=clear)
