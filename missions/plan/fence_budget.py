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

import math
from collections.abc import Sequence
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
    shapes: list[tuple[bool, list[_Form]]] = []
    for inc, group in ((True, inclusion), (False, exclusion)):
        for g in group:
            p = _polygon(g)
            if p is not None:
                shapes.append((inc, _forms(p, step_m)))
    level = [0] * len(shapes)
    active = [True] * len(shapes)
    # What the vehicle flies, as short pieces in a tree: buffering a whole route is slow.
    clear_tree = _segment_tree(keep_clear) if keep_clear is not None else None
    verdicts: dict[tuple[int, int], bool] = {}

    def ok(i: int, level_i: int) -> bool:
        """May shape ``i`` take its form ``level_i`` (a coarser outline) without coming
        within the clearance of the route?"""
        inc, forms = shapes[i]
        if inc or clear_tree is None:
            return True
        if (i, level_i) not in verdicts:
            near = clear_tree.query(forms[level_i].geometry, predicate="dwithin",
                                    distance=clearance_m)
            verdicts[i, level_i] = len(near) == 0
        return verdicts[i, level_i]

    b = 5 + sum(forms[0].cost[0] for _, forms in shapes)  # bytes and items used so far
    n = sum(forms[0].cost[1] for _, forms in shapes)
    coarsening = True  # once no shape can take a coarser form, none can later either
    drops = [i for i, (inc, _) in enumerate(shapes) if not inc]  # the last goes first
    while b > budget.bytes or n > budget.items:
        best, best_gain = -1, 0
        for i, (_, forms) in enumerate(shapes if coarsening else ()):
            if not active[i] or level[i] + 1 >= len(forms) or not ok(i, level[i] + 1):
                continue
            gain = forms[level[i]].cost[0] - forms[level[i] + 1].cost[0]
            if gain > best_gain:
                best, best_gain = i, gain
        if best >= 0:
            now, nxt = shapes[best][1][level[best]].cost, shapes[best][1][level[best] + 1].cost
            b, n = b - now[0] + nxt[0], n - now[1] + nxt[1]
            level[best] += 1
            continue
        coarsening = False
        if not drops:
            raise ValueError(f"the fence's inclusion alone needs {b} bytes, {n} items; the "
                             f"vehicle stores {budget.bytes} bytes, {budget.items} items")
        i = drops.pop()
        active[i] = False
        cost = shapes[i][1][level[i]].cost
        b, n = b - cost[0], n - cost[1]
    zones = tuple(shapes[i][1][level[i]].zone(shapes[i][0], frame)
                  for i in range(len(shapes)) if active[i])
    coarsened = sum(1 for i in range(len(shapes)) if active[i] and level[i] > 0)
    return FittedFence(zones, coarsened, active.count(False))


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
