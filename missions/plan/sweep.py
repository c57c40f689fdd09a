"""Sweep lines over one boustrophedon cell, and the choice of the sweep angle."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from survey.core.geometry import lines_of, single_parts

XY = tuple[float, float]


@dataclass(frozen=True)
class CellSweep:
    """The sweep lines of one cell, in flight order, each as (start, end) in local metres."""

    angle_deg: float
    lines: tuple[tuple[XY, XY], ...]
    monotone: bool = True  # every sweep line met the cell in one interval

    @property
    def length_m(self) -> float:
        """Length of the lines plus the straight connectors between them."""
        total = 0.0
        prev: XY | None = None
        for a, b in self.lines:
            if prev is not None:
                total += math.dist(prev, a)
            total += math.dist(a, b)
            prev = b
        return total

    def variant(self, reverse_order: bool, flip_first: bool) -> CellSweep:
        """The same lines flown from the other end and/or starting the other way.

        Boustrophedon alternates direction line by line; ``flip_first`` flips them all.
        """
        lines = list(self.lines[::-1] if reverse_order else self.lines)
        if flip_first:
            lines = [(b, a) for a, b in lines]
        return CellSweep(self.angle_deg, tuple(lines), self.monotone)


def grid_lines(cell: Polygon, angle_deg: float, spacing_m: float, *,
               origin_y_m: float | None = None, extend: bool = True,
               avoid: BaseGeometry | None = None, within: Polygon | None = None) -> CellSweep:
    """Boustrophedon lines over ``cell`` at ``angle_deg`` (CCW from east), ``spacing_m`` apart.

    With ``origin_y_m`` the lines lie on the global grid y = origin + (k + ½)·spacing (in the
    frame rotated by ``-angle_deg``), so neighbouring cells' lines line up; without it the cell
    gets its own ``ceil(height / spacing)`` lines, evenly spread, each edge within half a spacing.

    With ``extend``, each line is lengthened to the extent of the cell within half a spacing of
    it, so that photos also cover the corners and spikes between lines where the cell's edge is
    slanted; extensions stop where they meet ``avoid`` (keep-out) or leave ``within`` (the
    region routes must stay in).

    >>> sq = Polygon([(0, 0), (100, 0), (100, 60), (0, 60)])
    >>> s = grid_lines(sq, 0.0, 20.0)
    >>> [round(a[1], 1) for a, _ in s.lines]
    [10.0, 30.0, 50.0]
    >>> s.lines[0][0][0] < s.lines[0][1][0], s.lines[1][0][0] > s.lines[1][1][0]
    (True, True)
    """
    rot = affinity.rotate(cell, -angle_deg, origin=(0, 0), use_radians=False)
    minx, miny, maxx, maxy = rot.bounds
    if origin_y_m is None:
        n = max(1, math.ceil((maxy - miny) / spacing_m - 1e-9))
        step = (maxy - miny) / n
        ys = miny + (np.arange(n) + 0.5) * step
    else:
        k0 = math.ceil((miny - origin_y_m) / spacing_m - 0.5)
        k1 = math.floor((maxy - origin_y_m) / spacing_m - 0.5)
        ys = origin_y_m + (np.arange(k0, k1 + 1) + 0.5) * spacing_m
    if len(ys) == 0:
        return CellSweep(angle_deg, ())
    half = (spacing_m if origin_y_m is not None else (maxy - miny) / len(ys)) / 2
    if extend:
        bands = shapely.box(minx - 1, ys - half, maxx + 1, ys + half)
        reach = shapely.bounds(shapely.intersection(bands, rot))[:, [0, 2]]
    rays = shapely.linestrings(
        np.stack([np.column_stack([np.full_like(ys, minx - 1), ys]),
                  np.column_stack([np.full_like(ys, maxx + 1), ys])], axis=1)
    )
    cuts = shapely.intersection(rays, rot)
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    lines: list[tuple[XY, XY]] = []
    cores: list[XY] = []  # a point of each line's unextended part
    monotone = True
    for k, cut in enumerate(cuts):
        parts = lines_of(cut)
        segs = sorted(
            (p for p in parts if isinstance(p, LineString) and p.length > 1e-6),
            key=lambda p: p.bounds[0],
        )
        monotone &= len(segs) <= 1
        for p in segs:
            (x0, y0), (x1, y1) = p.coords[0], p.coords[-1]
            if x0 > x1:
                x0, y0, x1, y1 = x1, y1, x0, y0
            if extend and len(segs) == 1 and np.all(np.isfinite(reach[k])):
                x0 = min(x0, reach[k, 0])
                x1 = max(x1, reach[k, 1])
            a = (x0 * c - y0 * s, x0 * s + y0 * c)
            b = (x1 * c - y1 * s, x1 * s + y1 * c)
            lines.append((a, b))
            mx, my = (p.coords[0][0] + p.coords[-1][0]) / 2, (p.coords[0][1] + p.coords[-1][1]) / 2
            cores.append((mx * c - my * s, mx * s + my * c))
    if extend and lines and (avoid is not None or within is not None):
        lines = _clip_extensions(lines, cores, avoid, within)
    # Alternate directions: every second line is flown backwards.
    flown = [ln if i % 2 == 0 else (ln[1], ln[0]) for i, ln in enumerate(lines)]
    return CellSweep(angle_deg, tuple(flown), monotone)


def _clip_extensions(lines: list[tuple[XY, XY]], cores: list[XY], avoid: BaseGeometry | None,
                     within: Polygon | None) -> list[tuple[XY, XY]]:
    """Each line cut back to its piece outside ``avoid`` and inside ``within`` that holds its
    core point."""
    geoms = shapely.linestrings(np.asarray(lines))
    hit = np.zeros(len(geoms), dtype=bool)
    near: dict[int, list[int]] = {}  # line -> the parts of ``avoid`` it meets
    parts = np.empty(0, dtype=object)
    if avoid is not None and not avoid.is_empty:
        tree, parts = _parts_index(avoid)
        line, part = tree.query(geoms, predicate="intersects")
        hit[line] = True
        for i, j in zip(line.tolist(), part.tolist(), strict=True):
            near.setdefault(i, []).append(j)
    if within is not None:
        hit |= ~shapely.covers(within, geoms)
    out = list(lines)
    for i in np.flatnonzero(hit).tolist():
        rest = geoms[i]
        if i in near:
            rest = shapely.difference(rest, shapely.union_all(parts[near[i]]))
        if within is not None:
            rest = shapely.intersection(rest, within)
        core = shapely.points(cores[i])
        for piece in lines_of(rest):
            if piece.distance(core) < 1e-6:
                a = lines[i][0]
                p0, p1 = piece.coords[0], piece.coords[-1]
                if math.dist(p0, a) > math.dist(p1, a):
                    p0, p1 = p1, p0
                out[i] = ((float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1])))
                break
    return out


_INDEX: dict[int, tuple[BaseGeometry, shapely.STRtree, np.ndarray]] = {}


def _parts_index(geom: BaseGeometry) -> tuple[shapely.STRtree, np.ndarray]:
    """An STRtree of ``geom``'s single parts, kept for the last few geometries asked about
    (a plan clips thousands of cells' lines against the same keep-out of thousands of
    zones; a difference with all of it at once costs a pass over every zone)."""
    held = _INDEX.get(id(geom))
    if held is None or held[0] is not geom:
        if len(_INDEX) >= 4:
            _INDEX.clear()
        parts = np.array(single_parts(geom), dtype=object)
        held = _INDEX[id(geom)] = (geom, shapely.STRtree(parts), parts)
    return held[1], held[2]


def candidate_angles(poly: Polygon, *, limit: int = 4) -> list[float]:
    """Sweep angles worth trying for ``poly``: along its longest hull edges, and across its
    minimum width (the direction that needs the fewest lines).

    >>> candidate_angles(Polygon([(0, 0), (100, 0), (100, 10), (0, 10)]))[0]
    0.0
    """
    hull = poly.convex_hull
    if not isinstance(hull, Polygon):
        return [0.0]
    xy = np.asarray(hull.exterior.coords)
    d = np.diff(xy, axis=0)
    lengths = np.hypot(d[:, 0], d[:, 1])
    angles = np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180.0
    # Minimum width is attained with lines parallel to some hull edge (rotating calipers).
    widths = []
    for ang in angles:
        r = math.radians(ang)
        proj = -xy[:, 0] * math.sin(r) + xy[:, 1] * math.cos(r)
        widths.append(proj.max() - proj.min())
    order_width = np.argsort(widths, kind="stable")
    order_len = np.argsort(-lengths, kind="stable")
    out: list[float] = []
    for idx in [*order_width[:2], *order_len[:limit]]:
        a = round(float(angles[idx]), 6) % 180.0
        if all(abs((a - b + 90) % 180 - 90) > 1.0 for b in out):
            out.append(a)
        if len(out) >= limit:
            break
    return out
