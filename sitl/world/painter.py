"""The procedural painter: a village with roads, water, trees and buildings of every damage level,
painted top-down at a real place (:func:`generate_scene`, :func:`generate_village`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

from sitl.world.scene import Building, Scene
from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.frame import LocalFrame
from survey.core.geometry import polygons_of

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


def _default_counts(size_m: tuple[float, float]) -> dict[DamageClass, int]:
    n = max(10, int(size_m[0] * size_m[1] / 4000.0))
    minor = major = destroyed = max(1, round(0.2 * n))
    return {DamageClass.INTACT: n - minor - major - destroyed, DamageClass.MINOR: minor,
            DamageClass.MAJOR: major, DamageClass.DESTROYED: destroyed}


def generate_scene(*, center_lon: float, center_lat: float,
                   size_m: tuple[float, float] = (500.0, 400.0), gsd_m: float = 0.25,
                   seed: int = 0, counts: Mapping[DamageClass, int] | None = None) -> Scene:
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
        Buildings per damage class; by default one building per 4000 m², 40 % intact and 20 %
        each of minor, major, destroyed.

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
    unknown = [k for k in counts if not isinstance(k, DamageClass)]
    if unknown or any(int(v) < 0 for v in counts.values()):
        valid = ", ".join(f"DamageClass.{c.name}" for c in DamageClass)
        raise InputError("counts", f"keys must be {valid} with counts >= 0")
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

    plan = [d for d in DamageClass for _ in range(int(counts.get(d, 0)))]
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
                 water=[frame.geom_to_geo(p) for p in polygons_of(water)])


def generate_village(*, center_lon: float, center_lat: float, size_m: tuple[float, float],
                     gsd_m: float = 0.25, seed: int = 0) -> Scene:
    """:func:`generate_scene` built up as a village: one building per 2,500 m² (30 % intact,
    20 % minor, 20 % major, 30 % destroyed), or the default density where that many do not fit.
    """
    n = int(size_m[0] * size_m[1] / 2500.0)
    counts = {DamageClass.INTACT: round(0.3 * n), DamageClass.MINOR: round(0.2 * n),
              DamageClass.MAJOR: round(0.2 * n), DamageClass.DESTROYED: round(0.3 * n)}
    try:
        return generate_scene(center_lon=center_lon, center_lat=center_lat, size_m=size_m,
                              gsd_m=gsd_m, seed=seed, counts=counts)
    except InputError:  # not that many fit
        return generate_scene(center_lon=center_lon, center_lat=center_lat, size_m=size_m,
                              gsd_m=gsd_m, seed=seed)


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
        self.img: np.ndarray = np.zeros((height, width, 3), np.uint8)

    # ---------------------------------------------------------------- helpers
    def px(self, xy: np.ndarray) -> np.ndarray:
        """Local metres → fixed-point pixel coordinates for cv2 (pixel centres at i + 0.5)."""
        xy = np.asarray(xy, float)
        col = (xy[:, 0] - self.x0) / self.gsd - 0.5
        row = (self.y0 - xy[:, 1]) / self.gsd - 0.5
        return np.round(np.column_stack([col, row]) * (1 << self.SHIFT)).astype(np.int32)

    def mask(self, geom, shape: tuple[int, int] | None = None) -> np.ndarray:
        m = np.zeros(shape or (self.h, self.w), np.uint8)
        for p in polygons_of(geom):
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
                 damage: DamageClass) -> None:
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
            for p in polygons_of(geom):
                cv2.fillPoly(m, [self.px(np.asarray(p.exterior.coords)) - off], 255,
                             cv2.LINE_8, self.SHIFT)
            return m

        # Shadow towards the south-east (sun in the north-west... of the picture's convention).
        sh = shapely.affinity.translate(outline, 2.2, -2.2)
        smask = (local_mask(sh) > 0) & (local_mask(outline) == 0)
        roi[smask] = (roi[smask].astype(np.float32) * 0.5).astype(np.uint8)

        if damage is DamageClass.DESTROYED:
            self._rubble(roi, local_mask, outline, spill=2.0, cover=1.0)
            return
        roof = np.asarray(_ROOF_BGR[int(rng.integers(len(_ROOF_BGR)))], np.float32)
        colour = roof + rng.normal(0, 6, 3)  # float64
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
        if damage is DamageClass.MINOR:
            self._minor(roi, local_mask, outline, angle)
        elif damage is DamageClass.MAJOR:
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
            tarp_tone = np.array([196, 122, 34], np.float32) + rng.normal(0, 8, 3)
            layer = tarp_tone + rng.normal(0, 6, (*roi.shape[:2], 1)).astype(np.float32)
            roi[m] = np.clip(layer[m], 0, 255).astype(np.uint8)
        for _ in range(int(rng.integers(2, 5))):  # missing tiles: bare boards / underlay
            hole = self._patch(outline, angle, rng.uniform(0.08, 0.16))
            m = local_mask(hole) > 0
            board_tone = np.array([70, 110, 150], np.float32) * rng.uniform(0.6, 1.1)
            boards = board_tone + rng.normal(0, 12, (*roi.shape[:2], 3)).astype(np.float32)
            roi[m] = np.clip(boards[m], 0, 255).astype(np.uint8)

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
        coarse: np.ndarray = cv2.resize(palette[idx], (sw * cell, sh * cell),
                                        interpolation=cv2.INTER_NEAREST)[:hh, :ww]  # float32
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
