"""Coverage route over free space: cells, their sweeps, their order, and the paths between.

1. Decompose the free space into boustrophedon cells for a global sweep angle.
2. Sweep each cell on the global line grid, or at its own angle when that is cheaper in flight
   time (fewer turns, shorter lines).
3. Order the cells (nearest neighbour, then 2-opt on whole cells with their direction), choose
   each cell's entry corner by dynamic programming, and connect consecutive lines with the
   shortest obstacle-free paths.
The global angle is chosen among a few candidates by the total flight time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from missions.plan.decompose import decompose
from missions.plan.drone import DroneProfile
from missions.plan.sweep import CellSweep, candidate_angles, grid_lines
from missions.plan.visibility import Router
from survey.core.geometry import polygons_of

XY = tuple[float, float]


@dataclass(frozen=True)
class CoverageRoute:
    """Sweep lines in flight order (each flown from its first point to its second); the
    sortie planner joins them with obstacle-free connectors."""

    angle_deg: float
    lines: tuple[tuple[XY, XY], ...]
    cells: int

    @property
    def line_length_m(self) -> float:
        return sum(math.dist(a, b) for a, b in self.lines)


def _cell_cost_s(sweep: CellSweep, drone: DroneProfile) -> float:
    """Time to fly a cell's lines and the connectors between them (in the wind, if any)."""
    pts = np.asarray(sweep.lines, dtype=float).reshape(-1, 2)
    return drone.path_time_s(pts, turns=2 * len(sweep.lines))


def _best_sweep(cell, on_grid: CellSweep, spacing_m: float, drone: DroneProfile,
                router: Router) -> CellSweep:
    """The cell's sweep on the global grid, or at its own angle if that flies faster."""
    best = on_grid
    angle_deg = on_grid.angle_deg
    if len(best.lines) < 3:
        return best
    best_cost = _cell_cost_s(best, drone)
    for ang in {angle_deg, *candidate_angles(cell, limit=3), *crosswind_angles(drone)}:
        own = grid_lines(cell, ang, spacing_m, avoid=router.keepout, within=router.fence)
        if not own.monotone or not own.lines:
            continue
        cost = _cell_cost_s(own, drone)
        if cost < best_cost - 1e-6:
            best, best_cost = own, cost
    return best


def crosswind_angles(drone: DroneProfile) -> list[float]:
    """The sweep angle (degrees CCW from east) across the wind, if there is one: lines across
    the wind fly faster than lines along it (both ways at √(V² − w²) against V + w and V − w).

    >>> from missions.plan.drone import Wind
    >>> crosswind_angles(DroneProfile(wind=Wind(5.0, 0.0)))  # from the north: lines east–west
    [0.0]
    """
    if drone.wind.speed_m_s <= 0.0:
        return []
    return [(180.0 - drone.wind.from_deg) % 180.0]


def _ends(sweeps: list[CellSweep]) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit points of each cell's four variants: arrays (n, 4, 2)."""
    n = len(sweeps)
    entry = np.empty((n, 4, 2))
    exit_ = np.empty((n, 4, 2))
    for c, s in enumerate(sweeps):
        for v in range(4):
            var = s.variant(bool(v & 1), bool(v & 2))
            entry[c, v] = var.lines[0][0]
            exit_[c, v] = var.lines[-1][1]
    return entry, exit_


def _order_cells(sweeps: list[CellSweep], home: XY) -> list[tuple[int, int]]:
    """Cell order and variant: nearest neighbour, 2-opt, then DP over entry variants."""
    n = len(sweeps)
    entry, exit_ = _ends(sweeps)
    # Nearest neighbour over (cell, variant).
    left = np.ones(n, dtype=bool)
    pos = np.asarray(home, dtype=float)
    order: list[int] = []
    for _ in range(n):
        d = np.hypot(*(entry - pos).transpose(2, 0, 1))  # (n, 4)
        d[~left] = np.inf
        c, v = np.unravel_index(int(np.argmin(d)), d.shape)
        order.append(int(c))
        left[c] = False
        pos = exit_[c, v]
    # 2-opt on cells using each cell's best-so-far traversal as a directed segment.
    seq = _dp_variants(order, entry, exit_, home)
    a = np.array([entry[c, v] for c, v in seq])  # entries in order
    b = np.array([exit_[c, v] for c, v in seq])  # exits in order
    h = np.asarray(home, dtype=float)
    for _ in range(3):
        improved = False
        m = len(seq)
        for i in range(m):
            prev_exit = h if i == 0 else b[i - 1]
            js = np.arange(i, m)
            nxt_entry = np.vstack([a[i + 1:], h[None, :]])  # entry after j (home at the end)
            old = np.hypot(*(a[i] - prev_exit)) + np.hypot(*(nxt_entry - b[js]).T)
            new = np.hypot(*(b[js] - prev_exit).T) + np.hypot(*(nxt_entry - a[i]).T)
            k = int(np.argmin(new - old))
            if new[k] - old[k] < -1e-6:
                j = int(js[k])
                seg = seq[i:j + 1][::-1]
                seq[i:j + 1] = [(c, _reverse_variant(sweeps[c], v)) for c, v in seg]
                a[i:j + 1], b[i:j + 1] = b[i:j + 1][::-1].copy(), a[i:j + 1][::-1].copy()
                improved = True
        if not improved:
            break
    return _dp_variants([c for c, _ in seq], entry, exit_, home)


def _reverse_variant(sweep: CellSweep, v: int) -> int:
    """The variant that flies the same lines backwards (entry and exit swapped)."""
    rev, flip = bool(v & 1), bool(v & 2)
    # Backwards: line order reversed; the last line (now first) is flown the other way.
    last_flipped = (len(sweep.lines) - 1) % 2 == 1
    return int(not rev) | (int(flip ^ (not last_flipped)) << 1)


def _dp_variants(order: list[int], entry: np.ndarray, exit_: np.ndarray,
                 home: XY) -> list[tuple[int, int]]:
    """For a fixed cell order, the variants that minimise the straight transit length."""
    h = np.asarray(home, dtype=float)
    n = len(order)
    if n == 0:
        return []
    cost = np.hypot(*(entry[order[0]] - h).T)  # (4,)
    back = np.zeros((n, 4), dtype=int)
    for k in range(1, n):
        d = np.hypot(*(entry[order[k]][None, :, :] - exit_[order[k - 1]][:, None, :])
                     .transpose(2, 0, 1))  # (4 prev, 4 next)
        tot = cost[:, None] + d
        back[k] = np.argmin(tot, axis=0)
        cost = tot[back[k], np.arange(4)]
    cost = cost + np.hypot(*(exit_[order[-1]] - h).T)
    v = int(np.argmin(cost))
    out = [v]
    for k in range(n - 1, 0, -1):
        v = int(back[k][v])
        out.append(v)
    return list(zip(order, out[::-1], strict=True))


def estimate_time_s(lines: list[tuple[XY, XY]] | tuple[tuple[XY, XY], ...], home: XY,
                    router: Router, drone: DroneProfile) -> float:
    """Flight time of the lines flown in one go from and back to home, for ranking orders and
    angles: straight connectors, those that cross a keep-out zone counted 25 % longer with two
    more turns (the exact detours are found once, for the chosen route)."""
    if not lines:
        return 0.0
    pts = np.asarray(lines, dtype=float)  # (n, 2, 2)
    h = np.asarray(home, dtype=float)
    ends = np.vstack([h[None, :], pts[:, 1]])
    starts = np.vstack([pts[:, 0], h[None, :]])
    gaps = np.hypot(*(starts - ends).T)
    moved = gaps > 1e-6
    blocked = np.zeros(len(gaps), dtype=bool)
    if moved.any():
        blocked[moved] = router.blocked(
            shapely.linestrings(np.stack([ends[moved], starts[moved]], axis=1)))
    along = pts[:, 1] - pts[:, 0]
    across = starts - ends
    line_s = drone.legs_time_s(along[:, 0], along[:, 1])
    gap_s = drone.legs_time_s(across[:, 0], across[:, 1])
    total = float(line_s.sum() + gap_s.sum() + 0.25 * gap_s[blocked].sum())
    return total + (2 * len(lines) + 2 * int(blocked.sum())) * drone.turn_s


def _row_major(sweeps: list[CellSweep], angle_deg: float) -> list[tuple[XY, XY]]:
    """All lines ordered row by row across the whole space, alternating direction: one long
    boustrophedon that detours round obstacles instead of splitting into cells."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    rows: dict[float, list[tuple[float, XY, XY]]] = {}
    for sw in sweeps:
        for a, b in sw.lines:
            xa, ya = a[0] * c + a[1] * s, -a[0] * s + a[1] * c
            xb = b[0] * c + b[1] * s
            if xa > xb:
                a, b, xa = b, a, xb
            rows.setdefault(round(ya, 3), []).append((xa, a, b))
    out: list[tuple[XY, XY]] = []
    for k, y in enumerate(sorted(rows)):
        segs = sorted(rows[y], key=lambda t: t[0])
        if k % 2:
            segs = [(x, b, a) for x, a, b in segs[::-1]]
        out.extend((a, b) for _, a, b in segs)
    return out


def _sample_points(poly, step_m: float) -> np.ndarray:
    """Points on a square grid inside ``poly`` (at least its representative point)."""
    minx, miny, maxx, maxy = poly.bounds
    xs = np.arange(minx + step_m / 2, maxx, step_m)
    ys = np.arange(miny + step_m / 2, maxy, step_m)
    gx, gy = (g.ravel() for g in np.meshgrid(xs, ys))
    keep = shapely.contains_xy(poly, gx, gy)
    pts = np.column_stack([gx[keep], gy[keep]])
    if len(pts) == 0:
        p = poly.representative_point()
        pts = np.array([[p.x, p.y]])
    return pts


def _fill_gaps(cells: list, grid: list[CellSweep], angle_deg: float, spacing_m: float,
               half_width_m: float, router: Router, reach_m: float = 0.0) -> dict[int, CellSweep]:
    """Own lines for the cells that no grid line crosses (slivers between two grid lines) and
    that the photos of their neighbours' lines would not cover: each line's photos see
    ``half_width_m`` to either side and ``reach_m`` past either end."""
    lines = [_lengthened(ln, reach_m) for g in grid for ln in g.lines]
    geoms = [LineString(ln) for ln in lines]
    tree = shapely.STRtree(geoms) if geoms else None
    out: dict[int, CellSweep] = {}
    for i, (cell, g) in enumerate(zip(cells, grid, strict=True)):
        if g.lines:
            continue
        near = [] if tree is None else tree.query(cell, predicate="dwithin",
                                                  distance=half_width_m)
        # Quick screen: are sample points inside the cell and on its outline all beside a
        # neighbouring line (within its length) and within the photos' half width of it?
        # If not, measure the missed area exactly.
        probe = np.vstack([_sample_points(cell, spacing_m / 6), shapely.get_coordinates(
            shapely.segmentize(cell.exterior, spacing_m / 6))])
        missed = cell.area
        if len(near):
            seg = np.array([lines[k] for k in near])  # (m, 2, 2)
            a, d = seg[:, 0], seg[:, 1] - seg[:, 0]
            length = np.hypot(d[:, 0], d[:, 1])
            u = d / length[:, None]
            rel = probe[:, None, :] - a[None, :, :]  # (k, m, 2)
            along = (rel * u[None]).sum(-1)
            across = np.abs(rel[..., 0] * u[None, :, 1] - rel[..., 1] * u[None, :, 0])
            inside = (along >= 0) & (along <= length[None]) & (across <= half_width_m)
            if inside.any(axis=1).all():
                continue
            strips = shapely.union_all([geoms[k].buffer(half_width_m, cap_style="flat")
                                        for k in near])
            missed = cell.difference(strips).area
        if missed > max(1.0, 0.002 * cell.area):
            own = grid_lines(cell, angle_deg, spacing_m, avoid=router.keepout,
                             within=router.fence)
            if own.lines:
                out[i] = own
    return out


def _lengthened(line: tuple[XY, XY], by_m: float) -> tuple[XY, XY]:
    """A line lengthened by ``by_m`` at each end."""
    (ax, ay), (bx, by) = line
    n = math.hypot(bx - ax, by - ay)
    if by_m <= 0 or n == 0:
        return line
    ux, uy = (bx - ax) / n * by_m, (by - ay) / n * by_m
    return (ax - ux, ay - uy), (bx + ux, by + uy)


def route_for_angle(free: BaseGeometry, angle_deg: float, *, spacing_m: float, home: XY,
                    router: Router, drone: DroneProfile,
                    footprint_m: float | None = None,
                    footprint_along_m: float = 0.0) -> CoverageRoute:
    """The coverage route of ``free`` for global sweep angle ``angle_deg``: the faster of the
    cell-by-cell order (cells swept at their best angles) and the row-by-row order.

    ``footprint_m`` is the photo footprint across the track (default: two line spacings); it
    decides whether a sliver cell that no grid line crosses needs lines of its own, with
    ``footprint_along_m`` (along it: the first and last photos of a line see half of it past
    its ends).
    """
    cells = decompose(free, angle_deg)
    origin_y = affinity.rotate(free, -angle_deg, origin=(0, 0)).bounds[1]
    grid = [grid_lines(c, angle_deg, spacing_m, origin_y_m=origin_y, avoid=router.keepout,
                       within=router.fence)
            for c in cells]
    half_width = 0.98 * (footprint_m if footprint_m is not None else 2 * spacing_m) / 2
    extra = _fill_gaps(cells, grid, angle_deg, spacing_m, half_width, router,
                       0.98 * footprint_along_m / 2)
    sweeps = [extra[i] if i in extra else _best_sweep(c, grid[i], spacing_m, drone, router)
              for i, c in enumerate(cells)]
    grid = [extra.get(i, g) for i, g in enumerate(grid)]
    grid = [g for g in grid if g.lines]
    sweeps = [s for s in sweeps if s.lines]
    by_cell: list[tuple[XY, XY]] = []
    for c, v in _order_cells(sweeps, home):
        by_cell.extend(sweeps[c].variant(bool(v & 1), bool(v & 2)).lines)
    candidates = [ordered for lines in (by_cell, _row_major(grid, angle_deg))
                  for ordered in (lines, [(b, a) for a, b in lines[::-1]])]
    best = min(candidates, key=lambda ls: estimate_time_s(ls, home, router, drone))
    return CoverageRoute(angle_deg, tuple(best), len(sweeps))


def coverage_route(free: BaseGeometry, *, spacing_m: float, home: XY, router: Router,
                   drone: DroneProfile, angles: list[float] | None = None,
                   footprint_m: float | None = None,
                   footprint_along_m: float = 0.0) -> CoverageRoute:
    """The fastest coverage route of ``free`` among candidate global sweep angles.

    Parameters
    ----------
    free
        Space to cover, local metres (the area minus the keep-out zones).
    spacing_m
        Distance between sweep lines.
    home
        Launch point; the route starts and ends nearest to it.
    angles
        Global sweep angles to try (degrees CCW from east); default: the free space's
        minimum-width direction and its longest hull edges.
    footprint_m, footprint_along_m
        Photo footprint across and along the track (see :func:`route_for_angle`).
    """
    polys = polygons_of(free)
    if not polys:
        return CoverageRoute(0.0, (), 0)
    if angles is None:
        biggest = max(polys, key=lambda p: p.area)
        complexity = int(shapely.get_num_coordinates(free))
        angles = candidate_angles(biggest, limit=4 if complexity < 4000 else 1)
        angles += [a for a in crosswind_angles(drone) if a not in angles]
    best: CoverageRoute | None = None
    best_t = math.inf
    for ang in angles:
        r = route_for_angle(free, ang, spacing_m=spacing_m, home=home, router=router, drone=drone,
                            footprint_m=footprint_m, footprint_along_m=footprint_along_m)
        t = estimate_time_s(r.lines, home, router, drone)
        if t < best_t:
            best, best_t = r, t
    assert best is not None
    return best
