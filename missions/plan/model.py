"""The Plan: what `survey plan` produces and every exporter reads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from missions.plan.drone import DroneProfile
from missions.plan.items import FenceZone, MissionItem, RallyPoint
from survey.core.camera import Camera
from survey.core.frame import LocalFrame


class Mode(StrEnum):
    """What the plan does: cover an area with photos, or patrol points and lines of interest."""

    SURVEY = "survey"
    PATROL = "patrol"


@dataclass(frozen=True)
class Photo:
    """A planned photo point in the local frame, with the heading of the line it is taken on."""

    x_m: float
    y_m: float
    heading_deg: float  # clockwise from north

    def footprint(self, camera: Camera, altitude_m: float) -> Polygon:
        """Nadir ground footprint (local metres), long image side across the track."""
        across_m, along_m = camera.footprint_m(altitude_m)
        h = math.radians(self.heading_deg)
        ax, ay = math.sin(h), math.cos(h)  # along-track unit vector (east, north)
        cx, cy = ay, -ax  # across-track unit vector
        pts = [
            (self.x_m + sa * along_m / 2 * ax + sc * across_m / 2 * cx,
             self.y_m + sa * along_m / 2 * ay + sc * across_m / 2 * cy)
            for sa, sc in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
        return Polygon(pts)


def footprints_union(photos: Sequence[Photo], camera: Camera, altitude_m: float) -> BaseGeometry:
    """The ground the photos' footprints cover, as one geometry: each run of photos taken in
    a row on one heading, with footprints that touch, is one rectangle (the union of its
    footprints, computed at once: tens of thousands of footprints take a second to union).

    >>> from survey.core.camera import CATALOG
    >>> row = [Photo(0.0, y, 0.0) for y in (0.0, 10.0, 20.0)]
    >>> cam = CATALOG["mavic3e"]
    >>> u = footprints_union(row, cam, 80.0)
    >>> exact = shapely.union_all([p.footprint(cam, 80.0) for p in row])
    >>> round(u.symmetric_difference(exact).area, 6)
    0.0
    """
    if not photos:
        return Polygon()
    _, along_m = camera.footprint_m(altitude_m)
    rects: list[Polygon] = []
    start = 0
    for k in range(1, len(photos) + 1):
        if k < len(photos):
            a, b = photos[k - 1], photos[k]
            if (b.heading_deg == a.heading_deg
                    and math.hypot(b.x_m - a.x_m, b.y_m - a.y_m) <= along_m * 0.999
                    and _ahead(photos[start], b)):
                continue
        rects.append(_run_rect(photos[start], photos[k - 1], camera, altitude_m))
        start = k
    return shapely.union_all(rects)


def _ahead(first: Photo, p: Photo) -> bool:
    """True when ``p`` lies on the track line through ``first``, ahead of it."""
    h = math.radians(first.heading_deg)
    dx, dy = p.x_m - first.x_m, p.y_m - first.y_m
    along = dx * math.sin(h) + dy * math.cos(h)
    across = dx * math.cos(h) - dy * math.sin(h)
    return along > 0 and abs(across) <= 1e-6 * max(1.0, along)


def _run_rect(first: Photo, last: Photo, camera: Camera, altitude_m: float) -> Polygon:
    """The union of the footprints of a row of photos from ``first`` to ``last``."""
    if first == last:
        return first.footprint(camera, altitude_m)
    a = first.footprint(camera, altitude_m)
    b = last.footprint(camera, altitude_m)
    return shapely.union_all([a, b]).convex_hull


@dataclass(frozen=True)
class Sortie:
    """One battery's flight: take-off at home, its share of the route, return to launch."""

    number: int  # 1-based
    items: tuple[MissionItem, ...]  # mission after home (seq 1..n)
    route: LineString  # horizontal path in the local frame, home → … → home
    photos: tuple[Photo, ...]
    lines: int  # sweep lines (survey) or points/lines of interest (patrol) flown
    distance_m: float
    time_s: float  # including climb, descent and turns


@dataclass(frozen=True)
class Plan:
    """A complete plan; geometry in ``frame`` (local metres) unless a name says degrees."""

    mode: Mode
    frame: LocalFrame
    home_lat_deg: float
    home_lon_deg: float
    altitude_m: float
    camera: Camera
    drone: DroneProfile
    front_overlap: float  # 0..1
    side_overlap: float  # 0..1
    spacing_m: float  # between sweep lines
    trigger_m: float  # camera trigger distance along a line
    sorties: tuple[Sortie, ...]
    fence: tuple[FenceZone, ...]
    rally: tuple[RallyPoint, ...]
    area: BaseGeometry  # the survey area (local), or the patrol's operation area
    keepout: BaseGeometry  # buffered no-fly zones and too-tall obstacles (local)
    covered: BaseGeometry  # the part of the area the plan covers (local)
    unreachable: BaseGeometry  # the part beyond range or endurance (local)
    notes: tuple[str, ...] = field(default=())
    home_alt_amsl_m: float | None = None  # the ground at home, when planned over a DEM
    terrain_tolerance_m: float | None = None  # terrain following's height tolerance, if any

    @property
    def absolute_altitudes(self) -> bool:
        """True when the mission's altitudes are above sea level (terrain following)."""
        return self.home_alt_amsl_m is not None

    @property
    def home_xy(self) -> tuple[float, float]:
        """Home in the local frame."""
        x, y = self.frame.to_local(self.home_lon_deg, self.home_lat_deg)
        return float(x), float(y)

    @property
    def gsd_cm(self) -> float:
        """Ground sample distance at the plan's altitude."""
        return self.camera.gsd_cm(self.altitude_m)

    @property
    def distance_m(self) -> float:
        return sum(s.distance_m for s in self.sorties)

    @property
    def time_s(self) -> float:
        return sum(s.time_s for s in self.sorties)

    @property
    def photo_count(self) -> int:
        return sum(len(s.photos) for s in self.sorties)
