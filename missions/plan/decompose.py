"""Boustrophedon cell decomposition of free space.

Sweep lines run along the x axis after rotating the free space by ``-angle``. The space is cut
into slabs at every y where a boundary vertex is a local extremum in y; pieces of neighbouring
slabs that meet one-to-one are merged again. What remains are the boustrophedon cells: each
horizontal line meets a cell in one interval, so a cell is swept back and forth with no detour.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from survey.core.geometry import polygons_of

_TOL = 1e-6  # metres: y values closer than this are the same cut


def _turning(ring: np.ndarray) -> np.ndarray:
    """The vertices of a ring (closed coordinates, (n + 1, 2)) that are local extrema in y,
    flat runs included."""
    y = ring[:-1, 1]
    return ring[:-1][(np.roll(y, 1) - y) * (np.roll(y, -1) - y) >= 0]


def critical_ys(geom: BaseGeometry) -> np.ndarray:
    """Sorted unique y values of ring vertices that are local extrema in y (flat runs included).

    >>> critical_ys(Polygon([(0, 0), (4, 0), (4, 3), (2, 1), (0, 3)])).tolist()
    [0.0, 1.0, 3.0]
    """
    ys = [_turning(r)[:, 1] for r in _rings(geom)]
    if not ys:
        return np.empty(0)
    out = np.unique(np.concatenate(ys))
    keep = np.concatenate([[True], np.diff(out) > _TOL])
    return out[keep]


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    """The coordinates of every ring of ``geom``'s polygons with three vertices or more."""
    rings = [np.asarray(r.coords) for p in polygons_of(geom) for r in (p.exterior, *p.interiors)]
    return [r for r in rings if len(r) >= 4]


def _slice(geom: BaseGeometry, ys: np.ndarray, lo: int, hi: int, x0: float, x1: float,
           out: list[tuple[int, Polygon]]) -> None:
    """Cut ``geom`` (lying between ys[lo] and ys[hi]) into slabs, by recursive halving."""
    if geom.is_empty:
        return
    if hi - lo == 1:
        out.extend((lo, p) for p in polygons_of(geom) if p.area > 0)
        return
    mid = (lo + hi) // 2
    below, above = _split(geom, ys[lo] - 1.0, ys[mid], ys[hi] + 1.0, x0, x1)
    _slice(below, ys, lo, mid, x0, x1, out)
    _slice(above, ys, mid, hi, x0, x1, out)


def _split(geom: BaseGeometry, y0: float, ym: float, y1: float, x0: float,
           x1: float) -> tuple[BaseGeometry, BaseGeometry]:
    """``geom`` below and above ``ym``. GEOS's rectangle clip is about 4× faster than a general
    intersection but may return "dirty" output for concave shapes; it is kept only when both
    halves are valid and their areas add up, else the exact intersection is used."""
    below = shapely.clip_by_rect(geom, x0, y0, x1, ym)
    above = shapely.clip_by_rect(geom, x0, ym, x1, y1)
    total = geom.area
    if (abs(below.area + above.area - total) <= 1e-9 * max(total, 1.0)
            and below.is_valid and above.is_valid):
        return below, above
    return geom.intersection(box(x0, y0, x1, ym)), geom.intersection(box(x0, ym, x1, y1))


def _cut_intervals(pieces: list[tuple[int, Polygon]],
                   ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x-extent of each slab piece's vertices on its bottom and its top cut, as (n, 2) arrays;
    NaN where a piece only touches a cut at a point or not at all."""
    n = len(pieces)
    xy, idx = shapely.get_coordinates([p.exterior for _, p in pieces], return_index=True)
    slab = np.array([k for k, _ in pieces])
    out = []
    for y_of in (ys[slab], ys[slab + 1]):
        y = y_of[idx]
        on = np.abs(xy[:, 1] - y) < 1e-6 * np.maximum(1.0, np.abs(y))
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        np.minimum.at(lo, idx[on], xy[on, 0])
        np.maximum.at(hi, idx[on], xy[on, 0])
        count = np.bincount(idx[on], minlength=n)
        iv = np.column_stack([lo, hi])
        iv[count < 2] = np.nan
        out.append(iv)
    return out[0], out[1]


def _pairs_across_cuts(slab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j) of pieces with piece j in the slab just above piece i's."""
    order = np.argsort(slab, kind="stable")
    counts = np.bincount(slab, minlength=int(slab.max()) + 2)
    starts = np.concatenate([[0], np.cumsum(counts)])
    reps = counts[slab + 1]  # pieces in the slab above each piece
    i = np.repeat(np.arange(len(slab)), reps)
    ends = np.cumsum(reps)
    within = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - reps, reps)
    j = order[starts[slab[i] + 1] + within]
    return i, j


def decompose(free: BaseGeometry, angle_deg: float) -> list[Polygon]:
    """Boustrophedon cells of ``free`` for sweep lines at ``angle_deg`` (CCW from the x axis).

    The cells partition ``free`` (up to rounding) and each is monotone across the sweep lines.
    They are cut by :func:`_local_cuts`; where that comes out wrong (degenerate rounding), by
    slicing the whole space into slabs (:func:`_slab_cells`).

    >>> square_with_hole = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)],
    ...                            [[(4, 4), (6, 4), (6, 6), (4, 6)]])
    >>> cells = decompose(square_with_hole, 0.0)
    >>> len(cells), round(sum(c.area for c in cells), 6)
    (4, 96.0)
    """
    if free.is_empty:
        return []
    rot = affinity.rotate(free, -angle_deg, origin=(0, 0))
    cells = _local_cuts(rot)
    if cells is None:
        cells = _slab_cells(rot)
    a = np.radians(angle_deg)
    turn = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # xy @ turn: rotate by a
    return list(shapely.transform(np.array(cells, dtype=object), lambda xy: xy @ turn))


def _local_cuts(rot: BaseGeometry) -> list[Polygon] | None:
    """Cells of ``rot`` (sweep lines along x) cut at each vertex where the boundary turns in
    y, along the sweep line through it, from the nearest boundary on its left to the nearest on
    its right, where the space on that side is free: the textbook boustrophedon cells, with
    the cuts found through an index of the boundary's edges and the cells by polygonizing the
    noded boundary and cuts. ``None`` if the cells' area does not add up."""
    rings = _rings(rot)
    if not rings:
        return []
    ep = np.vstack([r[:-1] for r in rings])
    eq = np.vstack([r[1:] for r in rings])
    c = np.unique(np.vstack([_turning(r) for r in rings]), axis=0)
    minx, _, maxx, _ = rot.bounds
    tree = shapely.STRtree(shapely.linestrings(np.stack([ep, eq], axis=1)))
    rays = shapely.linestrings(np.stack([np.column_stack([np.full(len(c), minx - 1), c[:, 1]]),
                                         np.column_stack([np.full(len(c), maxx + 1), c[:, 1]])],
                                        axis=1))
    k, e = tree.query(rays, predicate="intersects")
    p, q, yc = ep[e], eq[e], c[k, 1]
    flat = p[:, 1] == q[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(flat, p[:, 0], p[:, 0] + (yc - p[:, 1]) * (q[:, 0] - p[:, 0])
                     / (q[:, 1] - p[:, 1]))
    k = np.concatenate([k, k[flat]])  # a flat edge on the ray meets it at both ends
    x = np.concatenate([x, q[flat, 0]])
    tol = 1e-9 * max(1.0, abs(minx), abs(maxx))
    left = np.full(len(c), -np.inf)
    right = np.full(len(c), np.inf)
    on_left = x < c[k, 0] - tol
    np.maximum.at(left, k[on_left], x[on_left])
    on_right = x > c[k, 0] + tol
    np.minimum.at(right, k[on_right], x[on_right])
    shapely.prepare(rot)
    cuts = []
    grow = 1e-6 * max(1.0, abs(minx), abs(maxx))  # past the boundary, so that noding meets it
    for end, sign in ((left, -1.0), (right, 1.0)):
        ok = np.isfinite(end)
        ok[ok] = shapely.contains_xy(rot, (end[ok] + c[ok, 0]) / 2, c[ok, 1])
        far = np.column_stack([end[ok] + sign * grow, c[ok, 1]])
        cuts.append(shapely.linestrings(np.stack([c[ok], far], axis=1)))
    boundary = np.array([shapely.linestrings(r) for r in rings], dtype=object)
    lines = shapely.union_all(np.concatenate([boundary, *cuts]))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    if not len(faces):
        return None
    inside = shapely.contains(rot, shapely.point_on_surface(faces))
    cells = [f for f in faces[inside] if f.area > 0]
    total = rot.area
    if abs(sum(f.area for f in cells) - total) > 1e-9 * max(total, 1.0):
        return None
    b = shapely.bounds(np.array(cells, dtype=object))
    # bottom to top, then left to right (to the centimetre: cells on one cut share a bottom,
    # and the order should not hang on the last bits of a reprojection)
    order = np.lexsort((np.round(b[:, 0], 2), np.round(b[:, 1], 2)))
    return [cells[i] for i in order]


def _slab_cells(rot: BaseGeometry) -> list[Polygon]:
    """Cells of ``rot`` (sweep lines along x) by cutting it into slabs at every y where a
    boundary vertex is a local extremum in y and merging the pieces of neighbouring slabs that
    meet one-to-one."""
    ys = critical_ys(rot)
    minx, miny, maxx, maxy = rot.bounds
    ys = np.unique(np.concatenate([[miny, maxy], ys]))
    pieces: list[tuple[int, Polygon]] = []
    _slice(rot, ys, 0, len(ys) - 1, minx - 1.0, maxx + 1.0, pieces)

    # Adjacency across each cut: top interval of a piece in slab k vs bottom of slab k+1.
    bottom, top = _cut_intervals(pieces, ys)
    lo, hi = _pairs_across_cuts(np.array([k for k, _ in pieces]))
    t0, t1 = top[lo, 0], top[lo, 1]
    b0, b1 = bottom[hi, 0], bottom[hi, 1]
    with np.errstate(invalid="ignore"):
        meet = np.minimum(t1, b1) - np.maximum(t0, b0) > 1e-6  # False where NaN
    lo, hi = lo[meet], hi[meet]
    ups = np.bincount(lo, minlength=len(pieces))  # pieces above each piece
    downs = np.bincount(hi, minlength=len(pieces))  # pieces below

    parent = list(range(len(pieces)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    one_to_one = (ups[lo] == 1) & (downs[hi] == 1)
    for a, b in zip(lo[one_to_one].tolist(), hi[one_to_one].tolist(), strict=True):
        parent[find(b)] = find(a)

    groups: dict[int, list[Polygon]] = {}
    for i, (_, p) in enumerate(pieces):
        groups.setdefault(find(i), []).append(p)
    cells: list[Polygon] = []
    for members in groups.values():
        cells.extend(polygons_of(_merge(members)) if len(members) > 1 else members)
    return cells


def _merge(members: list[Polygon]) -> BaseGeometry:
    """The union of slab pieces stacked one on another. They share their cut edges vertex
    for vertex, which GEOS's coverage union (much faster) needs; the general union is used if
    its result does not hold the pieces' area."""
    try:
        merged = shapely.coverage_union_all(members)
    except shapely.errors.GEOSException:  # "incorrectly noded": a cut's vertices differ
        return shapely.union_all(members)
    total = sum(p.area for p in members)
    if merged.is_valid and abs(merged.area - total) <= 1e-9 * max(total, 1.0):
        return merged
    return shapely.union_all(members)


def as_multipolygon(polys: list[Polygon]) -> MultiPolygon:
    """Polygons as one MultiPolygon (empty when none)."""
    return MultiPolygon(polys) if polys else MultiPolygon()
