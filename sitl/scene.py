"""A generated disaster area at a real place: top-down imagery plus the truth of every building.

Georeferencing
--------------
A :class:`Scene` holds its image and an affine map from *pixel* coordinates to metres in a
:class:`survey.core.frame.LocalFrame` (east ``x``, north ``y``). Pixel coordinates are continuous:
``(col, row) = (0, 0)`` is the top-left corner of the top-left pixel, whose centre is
``(0.5, 0.5)`` (GDAL's convention). A generated scene is north-up (``x = x0 + gsd * col``,
``y = y0 - gsd * row``); a scene made from a satellite tile (``sitl.xbd_scene``) may carry any
affine (rotation, shear).

Files
-----
:func:`write_scene` writes ``scene.tif`` (GeoTIFF, EPSG:4326; its transform is the least-squares
pixel → lon/lat affine, exact to millimetres for a scene of a few kilometres; the local frame's
centre and GSD are kept as tags), ``truth.geojson`` (buildings: ``id``, ``damage``) and
``context.geojson`` (roads and water, ``kind``). :func:`read_scene` reads that back, or any
image beside a ``*.bounds.json`` with ``south``/``west``/``north``/``east``.

Damage classes follow xBD's scale: ``intact`` (clean roof), ``minor`` (missing patches, blue
tarps), ``major`` (part of the roof collapsed, debris spilling out), ``destroyed`` (a debris
field, no roof shape).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, Polygon, box, mapping, shape
from shapely.ops import unary_union

from survey.core.errors import ImageError, InputError
from survey.core.files import atomic_write_text
from survey.core.frame import LocalFrame

DAMAGE_CLASSES: tuple[str, ...] = ("intact", "minor", "major", "destroyed")
"""Damage levels, in the order of their YOLO class ids (0..3)."""

NEUTRAL_GROUND_BGR: tuple[int, int, int] = (88, 112, 104)
"""Colour of the ground outside a scene (a dull green-grey)."""

SCENE_TIF = "scene.tif"
TRUTH_GEOJSON = "truth.geojson"
CONTEXT_GEOJSON = "context.geojson"


@dataclass
class Building:
    """One building of a scene and its damage level (one of :data:`DAMAGE_CLASSES`)."""

    id: int
    polygon_lonlat: Polygon
    damage: str


@dataclass
class Scene:
    """A top-down image of an area, georeferenced, with its buildings' truth.

    Parameters
    ----------
    image
        ``(H, W, 3)`` BGR ``uint8``.
    frame
        The local metric frame the affine maps into.
    affine
        ``(a, b, c, d, e, f)``: ``x = a*col + b*row + c``, ``y = d*col + e*row + f`` (metres,
        continuous pixel coordinates, see the module docstring).
    buildings
        The buildings with their damage.
    roads, water
        Lon/lat polygons, kept for reference.
    georef_residual_m
        RMS residual of the fit the affine came from (``None`` when it is exact by construction).
    """

    image: np.ndarray
    frame: LocalFrame
    affine: tuple[float, float, float, float, float, float]
    buildings: list[Building] = field(default_factory=list)
    roads: list[Polygon] = field(default_factory=list)
    water: list[Polygon] = field(default_factory=list)
    georef_residual_m: float | None = None

    # ------------------------------------------------------------------ geometry
    @property
    def width_px(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height_px(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def gsd_m(self) -> float:
        """Ground sample distance, metres per pixel (square root of the affine's area scale)."""
        a, b, _, d, e, _ = self.affine
        return math.sqrt(abs(a * e - b * d))

    def affine_matrix(self) -> np.ndarray:
        """The 3×3 matrix mapping ``[col, row, 1]`` to ``[x, y, 1]``."""
        a, b, c, d, e, f = self.affine
        return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])

    def pixel_to_local(self, col, row):
        """Continuous pixel coordinates to local metres ``(x east, y north)``."""
        a, b, c, d, e, f = self.affine
        col, row = np.asarray(col, dtype=float), np.asarray(row, dtype=float)
        return a * col + b * row + c, d * col + e * row + f

    def local_to_pixel(self, x, y):
        """Local metres to continuous pixel coordinates ``(col, row)``."""
        inv = np.linalg.inv(self.affine_matrix())
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return inv[0, 0] * x + inv[0, 1] * y + inv[0, 2], inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]

    def pixel_to_lonlat(self, col, row):
        """Continuous pixel coordinates to ``(lon, lat)`` degrees."""
        return self.frame.to_geo(*self.pixel_to_local(col, row))

    def lonlat_to_pixel(self, lon, lat):
        """``(lon, lat)`` degrees to continuous pixel coordinates ``(col, row)``."""
        return self.local_to_pixel(*self.frame.to_local(lon, lat))

    def corners_lonlat(self) -> np.ndarray:
        """Lon/lat of the image corners (top-left, top-right, bottom-right, bottom-left), (4, 2)."""
        w, h = self.width_px, self.height_px
        lon, lat = self.pixel_to_lonlat(np.array([0, w, w, 0.0]), np.array([0, 0, h, float(h)]))
        return np.column_stack([lon, lat])

    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` degrees of the image's corners."""
        c = self.corners_lonlat()
        return (float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()),
                float(c[:, 1].max()))

    def footprint_lonlat(self) -> Polygon:
        """The image's outline as a lon/lat polygon."""
        return Polygon(self.corners_lonlat())

    def building_local(self, b: Building) -> Polygon:
        """A building's polygon in local metres."""
        return self.frame.geom_to_local(b.polygon_lonlat)

    def building_pixels(self, b: Building) -> Polygon:
        """A building's polygon in continuous pixel coordinates."""
        return shapely.transform(self.building_local(b), self._local_to_pixel_xy)

    def _local_to_pixel_xy(self, xy: np.ndarray) -> np.ndarray:
        c, r = self.local_to_pixel(xy[:, 0], xy[:, 1])
        return np.column_stack([c, r])

    def geotransform_lonlat(self, grid: int = 5) -> tuple[tuple[float, ...], float]:
        """Least-squares pixel → lon/lat affine ``(a, b, c, d, e, f)`` and its max error, degrees.

        ``lon = a*col + b*row + c``, ``lat = d*col + e*row + f`` (rasterio's ``Affine`` order).
        """
        cols, rows = np.meshgrid(np.linspace(0, self.width_px, grid),
                                 np.linspace(0, self.height_px, grid))
        lon, lat = self.pixel_to_lonlat(cols.ravel(), rows.ravel())
        coef, err = fit_affine(np.column_stack([cols.ravel(), rows.ravel()]),
                               np.column_stack([lon, lat]))
        return coef, err


def fit_affine(src: np.ndarray, dst: np.ndarray) -> tuple[tuple[float, ...], float]:
    """Least-squares affine ``dst ≈ A @ [src, 1]``; returns ``(a, b, c, d, e, f)`` and RMS error.

    Parameters
    ----------
    src, dst
        ``(N, 2)`` point pairs, ``N >= 3`` and not all on one line.
    """
    src = np.asarray(src, dtype=float)
    dst = np.asarray(dst, dtype=float)
    m = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(m, dst, rcond=None)
    resid = m @ coef - dst
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    (a, d), (b, e), (c, f) = coef
    return (float(a), float(b), float(c), float(d), float(e), float(f)), rms


# ====================================================================== generation
_ROOF_BGR: tuple[tuple[int, int, int], ...] = (
    (128, 128, 124),  # grey slate / metal
    (150, 150, 146),  # light grey
    (104, 72, 46),    # dark blue (Japanese glazed tiles)
    (88, 64, 50),     # blue-grey
    (52, 66, 128),    # red-brown
    (60, 80, 112),    # brown tiles
    (72, 96, 84),     # olive-green metal
)
_FIELD_BGR: tuple[tuple[int, int, int], ...] = (
    (60, 128, 96),    # rice, green
    (48, 104, 80),    # darker crop
    (80, 140, 120),   # grass
    (70, 100, 120),   # bare soil
    (84, 116, 132),   # dry soil
    (58, 118, 110),   # mixed
)
_WATER_BGR = (70, 104, 112)   # muddy flood water, brownish-green
_ROAD_BGR = (96, 98, 100)
_TREE_BGR = (40, 72, 44)


def _default_counts(size_m: tuple[float, float]) -> dict[str, int]:
    n = max(10, int(size_m[0] * size_m[1] / 4000.0))
    minor = major = destroyed = max(1, round(0.2 * n))
    return {"intact": n - minor - major - destroyed, "minor": minor, "major": major,
            "destroyed": destroyed}


def generate_scene(*, center_lon: float, center_lat: float,
                   size_m: tuple[float, float] = (500.0, 400.0), gsd_m: float = 0.25,
                   seed: int = 0, counts: dict[str, int] | None = None) -> Scene:
    """Generate a flooded settlement around (``center_lon``, ``center_lat``), north-up.

    Parameters
    ----------
    center_lon, center_lat
        Centre of the scene, degrees (e.g. Jōsō, Ibaraki: 139.9933, 36.0712).
    size_m
        ``(width, height)`` of the area in metres.
    gsd_m
        Metres per pixel.
    seed
        Everything random follows from it: the same seed gives the same scene.
    counts
        Buildings per damage level (keys from :data:`DAMAGE_CLASSES`); by default one building
        per 4000 m², 40 % intact and 20 % each of minor, major, destroyed.

    Returns
    -------
    Scene
        Roads, water and buildings do not overlap one another.

    Raises
    ------
    InputError
        Bad sizes or counts, or the buildings asked for do not fit.
    """
    w_m, h_m = float(size_m[0]), float(size_m[1])
    if not (w_m >= 50 and h_m >= 50):
        raise InputError("size_m", f"scene must be at least 50 m × 50 m, got {size_m}")
    if not (0.02 <= gsd_m <= 5.0):
        raise InputError("gsd_m", f"GSD must be within 0.02..5 m/px, got {gsd_m}")
    counts = dict(_default_counts((w_m, h_m)) if counts is None else counts)
    unknown = set(counts) - set(DAMAGE_CLASSES)
    if unknown or any(int(v) < 0 for v in counts.values()):
        raise InputError("counts", f"keys must be {', '.join(DAMAGE_CLASSES)} with counts >= 0")
    width, height = round(w_m / gsd_m), round(h_m / gsd_m)
    if width * height > 20000 * 20000:
        raise InputError("size_m", f"scene of {width}×{height} px is too large")
    w_m, h_m = width * gsd_m, height * gsd_m
    frame = LocalFrame(center_lat, center_lon)
    affine = (gsd_m, 0.0, -w_m / 2.0, 0.0, -gsd_m, h_m / 2.0)
    rng = np.random.default_rng(seed)
    g = _Gen(rng, width, height, gsd_m, affine)

    area = box(-w_m / 2, -h_m / 2, w_m / 2, h_m / 2)
    water = _make_water(rng, w_m, h_m).intersection(area)
    roads = _make_roads(rng, w_m, h_m, area)
    road_angle = roads[0][1]
    g.ground(road_angle)
    g.trees(_tree_spots(rng, area, water, roads, n=int(w_m * h_m / 2500)))
    g.water(water)
    for poly, _angle, main in roads:
        g.road(poly, main)

    plan = [d for d in DAMAGE_CLASSES for _ in range(int(counts.get(d, 0)))]
    order = rng.permutation(len(plan))
    footprints = _place_buildings(rng, area, water, roads, len(plan))
    if len(footprints) < len(plan):
        raise InputError("counts", f"only {len(footprints)} of {len(plan)} buildings fit in "
                         f"{w_m:.0f} m × {h_m:.0f} m: ask for fewer or a larger size_m")
    buildings: list[Building] = []
    for i, (parts, angle) in enumerate(footprints):
        damage = plan[order[i]]
        outline = unary_union(parts)
        g.building(parts, outline, angle, damage)
        buildings.append(Building(i + 1, frame.geom_to_geo(outline), damage))
    g.finish()

    return Scene(image=g.img, frame=frame, affine=affine, buildings=buildings,
                 roads=[frame.geom_to_geo(p) for p, _, _ in roads],
                 water=[frame.geom_to_geo(p) for p in _polys(water)])


def generate_village(*, center_lon: float, center_lat: float, size_m: tuple[float, float],
                     gsd_m: float = 0.25, seed: int = 0) -> Scene:
    """:func:`generate_scene` built up as a village: one building per 2,500 m² (30 % intact,
    20 % minor, 20 % major, 30 % destroyed), or the default density where that many do not fit.
    """
    n = int(size_m[0] * size_m[1] / 2500.0)
    counts = {"intact": round(0.3 * n), "minor": round(0.2 * n), "major": round(0.2 * n),
              "destroyed": round(0.3 * n)}
    try:
        return generate_scene(center_lon=center_lon, center_lat=center_lat, size_m=size_m,
                              gsd_m=gsd_m, seed=seed, counts=counts)
    except InputError:  # not that many fit
        return generate_scene(center_lon=center_lon, center_lat=center_lat, size_m=size_m,
                              gsd_m=gsd_m, seed=seed)


def _polys(geom) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for p in getattr(geom, "geoms", []) if isinstance(p, Polygon)]


def _make_water(rng: np.random.Generator, w_m: float, h_m: float):
    """A meandering river from north to south near one side, plus a flood lobe beside it."""
    side = rng.choice([-1.0, 1.0])
    x_base = side * w_m * rng.uniform(0.25, 0.36)
    ys = np.linspace(-h_m / 2 - 20, h_m / 2 + 20, 60)
    phase, wl = rng.uniform(0, 2 * np.pi), rng.uniform(250, 450)
    amp = rng.uniform(8, 20)
    xs = x_base + amp * np.sin(2 * np.pi * ys / wl + phase)
    width = rng.uniform(28, 45)
    river = LineString(np.column_stack([xs, ys])).buffer(width / 2, quad_segs=8)
    # Flood water spilling over the fields on the inner side (the Kinugawa levee breach).
    cy = rng.uniform(-0.25, 0.25) * h_m
    cx = x_base - side * rng.uniform(25, 45)
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = 1.0 + 0.18 * np.sin(3 * t + rng.uniform(0, 6)) + 0.1 * np.sin(5 * t + rng.uniform(0, 6))
    lobe = Polygon(np.column_stack([cx + rng.uniform(40, 70) * r * np.cos(t),
                                    cy + rng.uniform(60, 110) * r * np.sin(t)]))
    return unary_union([river, lobe]).simplify(0.3)


def _make_roads(rng: np.random.Generator, w_m: float, h_m: float,
                area: Polygon) -> list[tuple[Polygon, float, bool]]:
    """A main road across the area and a few side roads; (polygon, angle rad, is_main)."""
    angle = rng.uniform(-0.35, 0.35)  # main road roughly east-west
    d = np.array([math.cos(angle), math.sin(angle)])
    n = np.array([-d[1], d[0]])
    big = 2 * (w_m + h_m)
    off = rng.uniform(-0.15, 0.15) * h_m
    roads: list[tuple[Polygon, float, bool]] = []
    main = LineString([off * n - big * d, off * n + big * d])
    roads.append((main.buffer(4.5, cap_style="flat").intersection(area), angle, True))
    n_side = max(2, int(w_m / 160))
    xs = np.linspace(-w_m / 2, w_m / 2, n_side + 2)[1:-1] + rng.uniform(-25, 25, n_side)
    for x in xs:
        p = x * d + off * n
        roads.append((LineString([p - big * n, p + big * n]).buffer(2.75, cap_style="flat")
                      .intersection(area), angle + math.pi / 2, False))
    for sgn in (-1.0, 1.0):  # lanes parallel to the main road
        o = off + sgn * rng.uniform(0.28, 0.4) * h_m
        line = LineString([o * n - big * d, o * n + big * d])
        roads.append((line.buffer(2.5, cap_style="flat").intersection(area), angle, False))
    return [(r, a, m) for r, a, m in roads if not r.is_empty and isinstance(r, Polygon)]


def _tree_spots(rng, area, water, roads, n: int) -> list[tuple[float, float, float]]:
    minx, miny, maxx, maxy = area.bounds
    blocked = unary_union([water] + [r for r, _, _ in roads])
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        for _ in range(int(rng.integers(2, 7))):
            x, y, r = cx + rng.normal(0, 4), cy + rng.normal(0, 4), rng.uniform(1.5, 3.5)
            if not blocked.intersects(shapely.Point(x, y).buffer(r)):
                out.append((x, y, r))
    return out


def _place_buildings(rng: np.random.Generator, area: Polygon, water, roads,
                     n: int) -> list[tuple[list[Polygon], float]]:
    """Footprints (one or two rectangles, an L) beside roads, apart from each other and water."""
    inner = area.buffer(-6.0)
    keep_out = unary_union([water.buffer(4.0)] + [r.buffer(2.5) for r, _, _ in roads])
    placed: list[Polygon] = []
    tree = None
    out: list[tuple[list[Polygon], float]] = []
    road_lines = [(r, a) for r, a, _ in roads]
    attempts = 0
    while len(out) < n and attempts < 400 * max(n, 1):
        attempts += 1
        road, ang = road_lines[int(rng.integers(len(road_lines)))]
        # A point along the road, set back on one side.
        bnd = road.exterior
        p = bnd.interpolate(rng.uniform(0, bnd.length))
        d = np.array([math.cos(ang), math.sin(ang)])
        nrm = np.array([-d[1], d[0]]) * rng.choice([-1.0, 1.0])
        length, width = rng.uniform(9, 22), rng.uniform(7, 13)
        setback = rng.uniform(4, 14) + width / 2
        c = np.array([p.x, p.y]) + nrm * setback
        a = ang + rng.normal(0, 0.05)
        if rng.random() < 0.3:  # sometimes turned across the road
            a += math.pi / 2
            length, width = max(length, width), min(length, width)
        parts = [_rect(c, length, width, a)]
        if rng.random() < 0.3 and length > 11:  # an L-shaped house
            wl, ww = rng.uniform(5, 9), rng.uniform(5, 8)
            u = np.array([math.cos(a), math.sin(a)])
            v = np.array([-u[1], u[0]]) * rng.choice([-1.0, 1.0])
            end = c + u * (length / 2 - ww / 2) * rng.choice([-1.0, 1.0])
            parts.append(_rect(end + v * (width / 2 + wl / 2 - 0.5), ww, wl, a))
        outline = unary_union(parts)
        minx, miny, maxx, maxy = outline.bounds
        if max(maxx - minx, maxy - miny) > 25 * math.sqrt(2) or not inner.contains(outline):
            continue
        if keep_out.intersects(outline):
            continue
        halo = outline.buffer(3.5)
        if tree is not None and len(tree.query(halo, predicate="intersects")):
            continue
        if any(halo.intersects(q) for q in placed[len(placed) - len(placed) % 64:]):
            continue
        placed.append(outline)
        if len(placed) % 64 == 0:
            tree = shapely.STRtree(placed)
        out.append((parts, a))
    return out


def _rect(c: np.ndarray, length: float, width: float, angle: float) -> Polygon:
    u = np.array([math.cos(angle), math.sin(angle)]) * length / 2
    v = np.array([-math.sin(angle), math.cos(angle)]) * width / 2
    return Polygon([c - u - v, c + u - v, c + u + v, c - u + v])


class _Gen:
    """Drawing in the scene image (local metres → pixel coordinates)."""

    SHIFT = 4  # fixed-point bits for cv2 polygon drawing

    def __init__(self, rng: np.random.Generator, width: int, height: int, gsd: float,
                 affine: tuple[float, ...]) -> None:
        self.rng, self.w, self.h, self.gsd = rng, width, height, gsd
        self.x0, self.y0 = affine[2], affine[5]
        self.img = np.zeros((height, width, 3), np.uint8)

    # ---------------------------------------------------------------- helpers
    def px(self, xy: np.ndarray) -> np.ndarray:
        """Local metres → fixed-point pixel coordinates for cv2 (pixel centres at i + 0.5)."""
        xy = np.asarray(xy, float)
        col = (xy[:, 0] - self.x0) / self.gsd - 0.5
        row = (self.y0 - xy[:, 1]) / self.gsd - 0.5
        return np.round(np.column_stack([col, row]) * (1 << self.SHIFT)).astype(np.int32)

    def mask(self, geom, shape: tuple[int, int] | None = None) -> np.ndarray:
        m = np.zeros(shape or (self.h, self.w), np.uint8)
        for p in _polys(geom):
            rings = [self.px(np.asarray(p.exterior.coords))]
            cv2.fillPoly(m, rings, 255, cv2.LINE_8, self.SHIFT)
            for hole in p.interiors:
                cv2.fillPoly(m, [self.px(np.asarray(hole.coords))], 0, cv2.LINE_8, self.SHIFT)
        return m

    def noise(self, h: int, w: int, cell_px: float, amp: float) -> np.ndarray:
        """Smooth value noise with features of ``cell_px`` pixels, zero mean, ±amp."""
        gh, gw = max(2, int(h / cell_px) + 2), max(2, int(w / cell_px) + 2)
        small = self.rng.uniform(-amp, amp, (gh, gw)).astype(np.float32)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    def blend(self, mask: np.ndarray, layer: np.ndarray) -> None:
        """Paint ``layer`` (full-size float/uint8) where ``mask`` is set."""
        sel = mask > 0
        self.img[sel] = np.clip(layer[sel], 0, 255).astype(np.uint8)

    # ---------------------------------------------------------------- layers
    def ground(self, angle: float) -> None:
        """Rectangular field parcels aligned with the main road, textured."""
        h, w, g = self.h, self.w, self.gsd
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
        x = self.x0 + (cols + 0.5) * g
        y = self.y0 - (rows + 0.5) * g
        ca, sa = math.cos(angle), math.sin(angle)
        u = x * ca + y * sa
        v = -x * sa + y * ca
        span = (w + h) * g
        cu = np.cumsum(self.rng.uniform(25, 70, int(span / 25) + 4)) - span
        cv = np.cumsum(self.rng.uniform(18, 45, int(span / 18) + 4)) - span
        iu = np.searchsorted(cu, u)
        iv = np.searchsorted(cv, v)
        pid = (iu * 7919 + iv * 104729) % 9973
        kinds = self.rng.integers(0, len(_FIELD_BGR), 9973)
        tint = self.rng.normal(0, 8, (9973, 3))
        base = np.asarray(_FIELD_BGR, np.float32)[kinds[pid]] + tint[pid].astype(np.float32)
        stripes = (kinds[pid] <= 1) * (6.0 * np.sin(2 * np.pi * v / 1.2)).astype(np.float32)
        shade = self.noise(h, w, 40 / g, 14) + self.noise(h, w, 6 / g, 8)
        fine = self.rng.normal(0, 5, (h, w)).astype(np.float32)
        layer = base + (shade + stripes + fine)[..., None]
        # Narrow grassy bunds between paddies.
        du = np.minimum(np.abs(u - cu[np.clip(iu - 1, 0, None)]), np.abs(cu[np.clip(iu, 0,
                        len(cu) - 1)] - u))
        dv = np.minimum(np.abs(v - cv[np.clip(iv - 1, 0, None)]), np.abs(cv[np.clip(iv, 0,
                        len(cv) - 1)] - v))
        bund = (np.minimum(du, dv) < 0.6)[..., None]
        layer = np.where(bund, np.float32(0.85) * layer + np.float32(0.15 * 170), layer)
        self.img[:] = np.clip(layer, 0, 255).astype(np.uint8)

    def trees(self, spots: list[tuple[float, float, float]]) -> None:
        for x, y, r in spots:
            c = self.px(np.array([[x, y]]))[0]
            rr = round(r / self.gsd * (1 << self.SHIFT))
            sh = (c + np.array([0.35, 0.35]) * rr).astype(int)
            cv2.circle(self.img, tuple(int(t) for t in sh), rr, (30, 46, 34), -1, cv2.LINE_AA,
                       self.SHIFT)
        for x, y, r in spots:
            c = self.px(np.array([[x, y]]))[0]
            rr = round(r / self.gsd * (1 << self.SHIFT))
            col = tuple(int(v + self.rng.normal(0, 8)) for v in _TREE_BGR)
            cv2.circle(self.img, tuple(int(t) for t in c), rr, col, -1, cv2.LINE_AA, self.SHIFT)

    def water(self, geom) -> None:
        if geom.is_empty:
            return
        h, w = self.h, self.w
        mud = self.mask(geom.buffer(2.5))
        layer = (np.array([74, 110, 128], np.float32)
                 + self.noise(h, w, 3 / self.gsd, 10)[..., None])
        self.blend(mud, layer)
        m = self.mask(geom)
        layer = (np.asarray(_WATER_BGR, np.float32)
                 + self.noise(h, w, 30 / self.gsd, 10)[..., None]
                 + self.noise(h, w, 1.5 / self.gsd, 3)[..., None]
                 + self.rng.normal(0, 1.5, (h, w, 1)).astype(np.float32))
        self.blend(m, layer)

    def road(self, poly: Polygon, main: bool) -> None:
        m = self.mask(poly)
        ys, xs = np.nonzero(m)
        if not len(xs):
            return
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        sub = m[y0:y1, x0:x1] > 0
        hh, ww = y1 - y0, x1 - x0
        layer = (np.asarray(_ROAD_BGR, np.float32)
                 + self.noise(hh, ww, 4 / self.gsd, 6)[..., None]
                 + self.rng.normal(0, 4, (hh, ww, 1)).astype(np.float32))
        roi = self.img[y0:y1, x0:x1]
        roi[sub] = np.clip(layer[sub], 0, 255).astype(np.uint8)
        # Markings: edge lines and, on the main road, a dashed centre line.
        rect = poly.minimum_rotated_rectangle
        pts = np.asarray(rect.exterior.coords)[:4]
        e1, e2 = pts[1] - pts[0], pts[2] - pts[1]
        if np.linalg.norm(e1) < np.linalg.norm(e2):
            a, b, c, d = pts[1], pts[2], pts[3], pts[0]
        else:
            a, b, c, d = pts[0], pts[1], pts[2], pts[3]
        # a→b one long edge, d→c the other
        half = np.linalg.norm(d - a) / 2
        inward = (d - a) / max(1e-9, 2 * half)
        thick = max(1, round(0.15 / self.gsd))
        white = (214, 218, 220)
        for s, t in ((a, b), (d, c)):
            k = 0.4 if s is a else -0.4
            p = self.px(np.array([s + inward * k, t + inward * k]))
            cv2.line(self.img, tuple(p[0]), tuple(p[1]), white, thick, cv2.LINE_AA, self.SHIFT)
        if main:
            mid0, mid1 = (a + d) / 2, (b + c) / 2
            length = np.linalg.norm(mid1 - mid0)
            u = (mid1 - mid0) / max(length, 1e-9)
            for t0 in np.arange(0, length, 8.0):
                p = self.px(np.array([mid0 + u * t0, mid0 + u * min(t0 + 4.0, length)]))
                cv2.line(self.img, tuple(p[0]), tuple(p[1]), white, thick, cv2.LINE_AA,
                         self.SHIFT)

    def building(self, parts: Sequence[Polygon], outline: Polygon, angle: float,
                 damage: str) -> None:
        rng, g = self.rng, self.gsd
        pad = 6.0
        minx, miny, maxx, maxy = outline.buffer(pad).bounds
        c0, r0 = self.px(np.array([[minx, maxy]]))[0] >> self.SHIFT
        c1, r1 = (self.px(np.array([[maxx, miny]]))[0] >> self.SHIFT) + 2
        c0, r0 = max(0, int(c0)), max(0, int(r0))
        c1, r1 = min(self.w, int(c1)), min(self.h, int(r1))
        if c1 <= c0 or r1 <= r0:
            return
        hh, ww = r1 - r0, c1 - c0
        roi = self.img[r0:r1, c0:c1]
        off = np.array([c0, r0]) << self.SHIFT

        def local_mask(geom) -> np.ndarray:
            m = np.zeros((hh, ww), np.uint8)
            for p in _polys(geom):
                cv2.fillPoly(m, [self.px(np.asarray(p.exterior.coords)) - off], 255,
                             cv2.LINE_8, self.SHIFT)
            return m

        # Shadow towards the south-east (sun in the north-west... of the picture's convention).
        sh = shapely.affinity.translate(outline, 2.2, -2.2)
        smask = (local_mask(sh) > 0) & (local_mask(outline) == 0)
        roi[smask] = (roi[smask].astype(np.float32) * 0.5).astype(np.uint8)

        if damage == "destroyed":
            self._rubble(roi, local_mask, outline, spill=2.0, cover=1.0)
            return
        colour = np.asarray(_ROOF_BGR[int(rng.integers(len(_ROOF_BGR)))], np.float32)
        colour = colour + rng.normal(0, 6, 3)
        tiled = rng.random() < 0.6
        rows, cols = np.mgrid[0:hh, 0:ww].astype(np.float32)
        x = self.x0 + (cols + c0 + 0.5) * g
        y = self.y0 - (rows + r0 + 0.5) * g
        for k, part in enumerate(parts):
            pa = angle + (math.pi / 2 if k else 0.0)
            pc = part.centroid
            ca, sa = math.cos(pa), math.sin(pa)
            # Ridge along the rectangle's long axis.
            ex = np.asarray(part.exterior.coords)
            e1 = np.linalg.norm(ex[1] - ex[0])
            e2 = np.linalg.norm(ex[2] - ex[1])
            along = (ex[1] - ex[0]) / e1 if e1 >= e2 else (ex[2] - ex[1]) / e2
            ca, sa = along
            du = (x - pc.x) * ca + (y - pc.y) * sa
            dv = -(x - pc.x) * sa + (y - pc.y) * ca
            side = np.where(dv > 0, 1.12, 0.86).astype(np.float32)
            layer = colour[None, None, :] * side[..., None]
            if tiled:
                layer = layer + (7 * np.sin(2 * np.pi * dv / 0.9)).astype(np.float32)[..., None]
                layer = layer + (4 * np.sin(2 * np.pi * du / 0.35)).astype(np.float32)[..., None]
            layer = layer + rng.normal(0, 3, (hh, ww, 1)).astype(np.float32)
            ridge = np.abs(dv) < max(0.18, g * 0.6)
            layer[ridge] = colour * 0.7
            m = local_mask(part) > 0
            roi[m] = np.clip(layer[m], 0, 255).astype(np.uint8)
            # Eaves: a thin darker outline.
            cv2.polylines(roi, [self.px(np.asarray(part.exterior.coords)) - off], True,
                          tuple(float(t) for t in colour * 0.6), 1, cv2.LINE_AA, self.SHIFT)
        if damage == "minor":
            self._minor(roi, local_mask, outline, angle)
        elif damage == "major":
            self._major(roi, local_mask, outline, angle)

    def _patch(self, outline: Polygon, angle: float, frac: float) -> Polygon:
        """A rotated rectangle somewhere on the roof, ``frac`` of its size."""
        rng = self.rng
        minx, miny, maxx, maxy = outline.bounds
        for _ in range(30):
            p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if outline.contains(p):
                break
        s = math.sqrt(outline.area) * frac
        r = _rect(np.array([p.x, p.y]), s * rng.uniform(0.7, 1.4), s * rng.uniform(0.6, 1.0),
                  angle + rng.normal(0, 0.05))
        return r.intersection(outline)

    def _minor(self, roi, local_mask, outline: Polygon, angle: float) -> None:
        rng = self.rng
        if rng.random() < 0.6:  # a blue tarp
            tarp = self._patch(outline, angle, rng.uniform(0.35, 0.55))
            m = local_mask(tarp) > 0
            tone = np.array([196, 122, 34], np.float32) + rng.normal(0, 8, 3)
            layer = tone + rng.normal(0, 6, (*roi.shape[:2], 1)).astype(np.float32)
            roi[m] = np.clip(layer[m], 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(2, 5))):  # missing tiles: bare boards / underlay
            hole = self._patch(outline, angle, rng.uniform(0.08, 0.16))
            m = local_mask(hole) > 0
            tone = np.array([70, 110, 150], np.float32) * rng.uniform(0.6, 1.1)
            layer = tone + rng.normal(0, 12, (*roi.shape[:2], 3)).astype(np.float32)
            roi[m] = np.clip(layer[m], 0, 255).astype(np.uint8)

    def _major(self, roi, local_mask, outline: Polygon, angle: float) -> None:
        rng = self.rng
        for _ in range(int(rng.integers(1, 3))):
            hole = self._patch(outline, angle, rng.uniform(0.45, 0.65))
            # Ragged edge of the collapse.
            hole = hole.buffer(0.6).buffer(-0.6)
            if hole.is_empty:
                continue
            c = hole.centroid
            pts = np.asarray(hole.exterior.coords) if isinstance(hole, Polygon) else None
            if pts is not None and len(pts) > 3:
                jit = rng.normal(0, 0.5, pts.shape)
                ragged = Polygon(pts + jit).buffer(0)
                hole = ragged.intersection(outline) if not ragged.is_empty else hole
            self._rubble(roi, local_mask, hole, spill=0.0, cover=1.0, dark=True)
            # Debris spilling out across the nearest wall.
            out = shapely.affinity.scale(hole, 1.5, 1.5, origin=c).difference(outline)
            self._rubble(roi, local_mask, out.intersection(outline.buffer(2.5)), spill=0.0,
                         cover=0.55)

    def _rubble(self, roi, local_mask, geom, *, spill: float, cover: float,
                dark: bool = False) -> None:
        """Chaotic debris texture: mixed brown/grey/charred fragments, no roof structure."""
        rng, g = self.rng, self.gsd
        if geom.is_empty:
            return
        area = geom
        if spill > 0:  # irregular outline reaching past the walls
            t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
            c = geom.centroid
            blobs = [geom.buffer(spill * 0.5)]
            for _ in range(int(rng.integers(3, 7))):
                b = geom.exterior.interpolate(rng.uniform(0, geom.exterior.length))
                rr = rng.uniform(0.8, spill + 0.8)
                blobs.append(Polygon(np.column_stack([b.x + rr * np.cos(t), b.y + rr * np.sin(t)])))
            area = unary_union(blobs).buffer(0)
            del c
        m = local_mask(area) > 0
        if cover < 1.0:
            speck = rng.random(m.shape) < cover
            speck = cv2.dilate(speck.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
            m &= speck
        hh, ww = m.shape
        palette = np.array([[60, 70, 84], [96, 104, 112], [40, 42, 46], [70, 96, 128],
                            [128, 132, 136], [30, 32, 34], [84, 120, 150]], np.float32)
        cell = max(1, round(0.6 / g))
        sh, sw = hh // cell + 2, ww // cell + 2
        idx = rng.integers(0, len(palette), (sh, sw))
        coarse = cv2.resize(palette[idx], (sw * cell, sh * cell),
                            interpolation=cv2.INTER_NEAREST)[:hh, :ww]
        layer = coarse + rng.normal(0, 18, (hh, ww, 1)).astype(np.float32)
        layer += self.noise(hh, ww, 2.0 / g, 20)[..., None]
        if dark:
            layer *= 0.55
        # Scattered planks and beams.
        for _ in range(int(m.sum() * g * g / 3) + 2):
            ys, xs = rng.integers(0, hh), rng.integers(0, ww)
            ln = rng.uniform(0.8, 3.0) / g
            a = rng.uniform(0, np.pi)
            p1 = (int(xs), int(ys))
            p2 = (int(xs + ln * math.cos(a)), int(ys + ln * math.sin(a)))
            col = (150.0, 170.0, 190.0) if rng.random() < 0.5 else (35.0, 38.0, 40.0)
            cv2.line(layer, p1, p2, col, max(1, round(0.2 / g)))
        roi[m] = np.clip(layer[m], 0, 255).astype(np.uint8)

    def finish(self) -> None:
        """A slight blur so edges look photographed rather than drawn."""
        self.img = cv2.GaussianBlur(self.img, (3, 3), 0.6)


# ====================================================================== files
def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _feature(geom, props: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def write_scene(scene: Scene, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``scene.tif``, ``truth.geojson`` and ``context.geojson`` into ``out_dir``.

    The GeoTIFF is EPSG:4326 (RGB, deflate); its transform is the least-squares pixel → lon/lat
    affine (a rotated one for a rotated scene). Tags ``LOCAL_LAT0``, ``LOCAL_LON0`` and
    ``LOCAL_AFFINE`` keep the local frame exactly. Each file is written atomically.

    Returns
    -------
    Path
        The GeoTIFF's path.
    """
    import rasterio
    from rasterio.transform import Affine

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (a, b, c, d, e, f), _ = scene.geotransform_lonlat()
    tif = out / SCENE_TIF
    fd, tmp = tempfile.mkstemp(prefix=".scene.", suffix=".tif", dir=out)
    os.close(fd)
    try:
        rgb = scene.image[..., ::-1].transpose(2, 0, 1)
        with rasterio.open(tmp, "w", driver="GTiff", width=scene.width_px,
                           height=scene.height_px, count=3, dtype="uint8", crs="EPSG:4326",
                           transform=Affine(a, b, c, d, e, f), compress="deflate",
                           photometric="RGB", tiled=True) as ds:
            ds.write(rgb)
            ds.update_tags(LOCAL_LAT0=repr(scene.frame.lat0_deg),
                           LOCAL_LON0=repr(scene.frame.lon0_deg),
                           LOCAL_AFFINE=json.dumps(list(scene.affine)))
        os.replace(tmp, tif)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    truth = {"type": "FeatureCollection", "features": [
        _feature(bd.polygon_lonlat, {"id": bd.id, "damage": bd.damage})
        for bd in scene.buildings]}
    atomic_write_text(out / TRUTH_GEOJSON, json.dumps(truth))
    context = {"type": "FeatureCollection", "features": (
        [_feature(p, {"kind": "road"}) for p in scene.roads]
        + [_feature(p, {"kind": "water"}) for p in scene.water])}
    atomic_write_text(out / CONTEXT_GEOJSON, json.dumps(context))
    return tif


def _read_geojson(path: Path) -> list[dict]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return list(doc["features"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a GeoJSON feature collection ({exc})") from exc


def read_scene(path: str | os.PathLike[str]) -> Scene:
    """Read a scene: a folder written by :func:`write_scene`, a GeoTIFF, or an image + bounds.

    Parameters
    ----------
    path
        A folder (holding ``scene.tif``, or one image with a ``*.bounds.json``), a GeoTIFF
        (any CRS), or an image (PNG/JPEG/...) beside ``<stem>.bounds.json`` with ``south``,
        ``west``, ``north``, ``east`` (degrees; the image is taken as north-up in lon/lat).
        ``truth.geojson`` and ``context.geojson`` beside it are read when present.

    Raises
    ------
    InputError
        Missing or unreadable files.
    """
    p = Path(path)
    if p.is_dir():
        folder = p
        bounds = sorted(q for q in folder.iterdir() if q.name.endswith(".bounds.json"))
        cands = [folder / SCENE_TIF, *sorted(folder.glob("*.tif")), *bounds]
        found = next((q for q in cands if q.exists()), None)
        if found is None:
            raise InputError(p, "no scene.tif, GeoTIFF or *.bounds.json in this folder")
        if found.name.endswith(".bounds.json"):
            stem = found.name[: -len(".bounds.json")]
            imgs = [q for q in folder.glob(stem + ".*") if not q.name.endswith(".json")]
            if not imgs:
                raise InputError(found, f"no image named {stem}.* beside it")
            found = imgs[0]
        p = found
    else:
        folder = p.parent
    if not p.exists():
        raise InputError(p, "no such file")
    bounds_json = p.with_name(p.stem + ".bounds.json")
    if p.suffix.lower() in (".tif", ".tiff") and not bounds_json.exists():
        scene = _read_geotiff(p)
    else:
        scene = _read_image_bounds(p, bounds_json)
    truth = folder / TRUTH_GEOJSON
    if truth.exists():
        for i, ft in enumerate(_read_geojson(truth)):
            props = ft.get("properties") or {}
            dmg = props.get("damage")
            if dmg not in DAMAGE_CLASSES:
                raise InputError(truth, f"feature {i}: damage {dmg!r} is not one of "
                                 f"{', '.join(DAMAGE_CLASSES)}")
            scene.buildings.append(Building(int(props.get("id", i + 1)),
                                            shape(ft["geometry"]), dmg))
    ctx = folder / CONTEXT_GEOJSON
    if ctx.exists():
        for ft in _read_geojson(ctx):
            kind = (ft.get("properties") or {}).get("kind")
            geom = shape(ft["geometry"])
            (scene.roads if kind == "road" else scene.water).append(geom)
    return scene


def _read_geotiff(p: Path) -> Scene:
    import rasterio
    from pyproj import Transformer

    try:
        with rasterio.open(p) as ds:
            data = ds.read()
            tags = ds.tags()
            tr, crs = ds.transform, ds.crs
    except rasterio.errors.RasterioError as exc:
        raise ImageError(p, f"cannot read GeoTIFF ({exc})") from exc
    if data.shape[0] < 3:
        data = np.repeat(data[:1], 3, axis=0)
    img = np.ascontiguousarray(data[:3].transpose(1, 2, 0)[..., ::-1])
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if "LOCAL_AFFINE" in tags:
        frame = LocalFrame(float(tags["LOCAL_LAT0"]), float(tags["LOCAL_LON0"]))
        aff = tuple(float(v) for v in json.loads(tags["LOCAL_AFFINE"]))
        return Scene(img, frame, aff)  # type: ignore[arg-type]
    if crs is None:
        raise InputError(p, "GeoTIFF has no CRS")
    h, w = img.shape[:2]
    cols, rows = np.meshgrid(np.linspace(0, w, 7), np.linspace(0, h, 7))
    xs, ys = tr @ (cols.ravel(), rows.ravel())
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(xs, ys)
    return _scene_from_lonlat(img, np.column_stack([cols.ravel(), rows.ravel()]),
                              np.column_stack([lon, lat]))


def _scene_from_lonlat(img: np.ndarray, pix: np.ndarray, lonlat: np.ndarray) -> Scene:
    h, w = img.shape[:2]
    coef, _ = fit_affine(pix, lonlat)
    lon_c = coef[0] * w / 2 + coef[1] * h / 2 + coef[2]
    lat_c = coef[3] * w / 2 + coef[4] * h / 2 + coef[5]
    frame = LocalFrame(float(lat_c), float(lon_c))
    x, y = frame.to_local(lonlat[:, 0], lonlat[:, 1])
    aff, rms = fit_affine(pix, np.column_stack([x, y]))
    return Scene(img, frame, aff, georef_residual_m=rms)  # type: ignore[arg-type]


def _read_image_bounds(p: Path, bounds_json: Path) -> Scene:
    if not bounds_json.exists():
        raise InputError(p, f"no georeferencing: expected {bounds_json.name} beside it")
    try:
        bd = json.loads(bounds_json.read_text(encoding="utf-8"))
        s, w_, n, e = (float(bd[k]) for k in ("south", "west", "north", "east"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(bounds_json, f"needs numbers south, west, north, east ({exc})") from exc
    if not (s < n and w_ < e):
        raise InputError(bounds_json, "south must be below north and west left of east")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError(p, "cannot read the image")
    h, w = img.shape[:2]
    cols, rows = np.meshgrid(np.linspace(0, w, 7), np.linspace(0, h, 7))
    lon = w_ + (e - w_) * cols.ravel() / w
    lat = n - (n - s) * rows.ravel() / h
    return _scene_from_lonlat(img, np.column_stack([cols.ravel(), rows.ravel()]),
                              np.column_stack([lon, lat]))


# ====================================================================== YOLO tiles
def _tile_starts(size: int, tile: int) -> list[int]:
    if size <= tile:
        return [0]
    n = math.ceil(size / tile)
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def scene_tiles_to_yolo(scene: Scene, out_dir: str | os.PathLike[str], *, target_gsd_m: float,
                        tile_px: int = 1024, seed: int = 0, prefix: str = "synth",
                        min_visible: float = 0.5) -> list[Path]:
    """Resample a scene to ``target_gsd_m`` and write YOLO training tiles.

    Writes ``out_dir/images/<prefix>_<seed>_<i>.jpg`` and ``out_dir/labels/<same>.txt``
    (``class cx cy w h``, normalised; classes 0 intact, 1 minor, 2 major, 3 destroyed; boxes
    are the buildings' axis-aligned bounding boxes, clipped to the tile). Tiles cover the
    resampled image with even overlap (one smaller tile when the image is smaller than
    ``tile_px``). A building is labelled in a tile when at least ``min_visible`` of its box lies
    in it. ``seed`` drives a mild satellite-like degradation (blur, colour and brightness
    jitter), so several seeds give several looks of the same scene. Files are written atomically.

    Returns
    -------
    list[Path]
        The image paths written.
    """
    if not (target_gsd_m > 0 and tile_px >= 32):
        raise InputError("target_gsd_m", "target GSD must be > 0 and tile_px >= 32")
    rng = np.random.default_rng(seed)
    scale = scene.gsd_m / target_gsd_m
    w = max(1, round(scene.width_px * scale))
    h = max(1, round(scene.height_px * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    img = cv2.resize(scene.image, (w, h), interpolation=interp)
    sigma = rng.uniform(0.3, 0.8)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.94, 1.06, 3)
    img = np.clip(img.astype(np.float32) * gain + rng.normal(0, 3, (h, w, 1)), 0, 255)
    img = img.astype(np.uint8)
    sx, sy = w / scene.width_px, h / scene.height_px
    boxes = []
    for b in scene.buildings:
        x0, y0, x1, y1 = scene.building_pixels(b).bounds
        boxes.append((DAMAGE_CLASSES.index(b.damage), x0 * sx, y0 * sy, x1 * sx, y1 * sy))
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    i = 0
    for ty in _tile_starts(h, tile_px):
        for tx in _tile_starts(w, tile_px):
            tw, th = min(tile_px, w), min(tile_px, h)
            tile = img[ty:ty + th, tx:tx + tw]
            lines = []
            for cls, x0, y0, x1, y1 in boxes:
                area = max((x1 - x0) * (y1 - y0), 1e-9)
                cx0, cy0 = max(x0, tx), max(y0, ty)
                cx1, cy1 = min(x1, tx + tw), min(y1, ty + th)
                if cx1 <= cx0 or cy1 <= cy0 or (cx1 - cx0) * (cy1 - cy0) / area < min_visible:
                    continue
                lines.append(f"{cls} {((cx0 + cx1) / 2 - tx) / tw:.6f} "
                             f"{((cy0 + cy1) / 2 - ty) / th:.6f} {(cx1 - cx0) / tw:.6f} "
                             f"{(cy1 - cy0) / th:.6f}")
            name = f"{prefix}_{seed}_{i:03d}"
            ok, jpg = cv2.imencode(".jpg", tile, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise ImageError(name, "JPEG encoding failed")
            _atomic_write_bytes(out / "images" / f"{name}.jpg", jpg.tobytes())
            atomic_write_text(out / "labels" / f"{name}.txt",
                              "".join(line + "\n" for line in lines))
            written.append(out / "images" / f"{name}.jpg")
            i += 1
    return written
