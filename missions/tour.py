"""Local search on the order and direction of sweep lines (2-opt and Or-opt with neighbour lists).

The tour starts and ends at home and flies each line whole, in either direction. Moves are
screened with straight-line distances (a lower bound of the obstacle-free distance) and only
the promising ones are priced with the router, so the search stays fast on thousands of lines.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from missions.visibility import Router

XY = tuple[float, float]
Line = tuple[XY, XY]


class _Dist:
    """Obstacle-free distance with a cache; straight-line distance when the segment is clear."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.cache: dict[tuple[XY, XY], float] = {}

    def __call__(self, a: XY, b: XY) -> float:
        key = (a, b) if a <= b else (b, a)
        d = self.cache.get(key)
        if d is None:
            d = self.router.distance(a, b)
            self.cache[key] = d
        return d


def tour_length(lines: list[Line], home: XY, dist: _Dist | Router) -> float:
    """Connector length of flying ``lines`` in order from and back to home (lines excluded)."""
    d = dist if isinstance(dist, _Dist) else _Dist(dist)
    if not lines:
        return 0.0
    total = d(home, lines[0][0]) + d(lines[-1][1], home)
    return total + sum(d(a[1], b[0]) for a, b in itertools.pairwise(lines))


def improve_order(lines: list[Line], home: XY, router: Router, *, neighbours: int = 8,
                  max_passes: int = 6) -> list[Line]:
    """Shorten the connectors of a line tour by 2-opt (reverse a run of lines, flipping each)
    and Or-opt (move one line elsewhere, either way round).

    >>> from shapely.geometry import box
    >>> r = Router(box(500, 500, 501, 501))
    >>> bad = [((0.0, 0.0), (100.0, 0.0)), ((0.0, 20.0), (100.0, 20.0)),
    ...        ((0.0, 10.0), (100.0, 10.0))]
    >>> [ln[0][1] for ln in improve_order(bad, (0.0, -10.0), r)]
    [0.0, 10.0, 20.0]
    """
    n = len(lines)
    if n < 3:
        return list(lines)
    d = _Dist(router)
    tour = [((float(a[0]), float(a[1])), (float(b[0]), float(b[1]))) for a, b in lines]
    ends = np.array([p for ln in tour for p in ln])  # 2n points, ids 2i (start) / 2i+1 (end)
    k = min(neighbours, 2 * n - 1)
    d2 = ((ends[:, None, :] - ends[None, :, :]) ** 2).sum(-1) if n <= 1500 else None
    knn = _knn(ends, k, d2)
    line_of = np.arange(2 * n) // 2
    # Each original line keeps its id; pos[id] is where it is in the tour now.
    ids = list(range(n))
    geom = {i: tour[i] for i in range(n)}  # current orientation of each line id
    for _ in range(max_passes):
        improved = False
        pos = {lid: p for p, lid in enumerate(ids)}
        for p in range(n):
            lid = ids[p]
            s, _e = geom[lid]
            prev_end = home if p == 0 else geom[ids[p - 1]][1]
            # 2-opt: new edge prev_end -> end of some line at q >= p (reversing p..q).
            for cand in knn[_nearest_id(ends, prev_end)]:
                q = pos[int(line_of[cand])]
                if q < p:
                    continue
                eq = geom[ids[q]][1]
                nxt = home if q == n - 1 else geom[ids[q + 1]][0]
                lb = math.dist(prev_end, eq) + math.dist(s, nxt)
                old = d(prev_end, s) + d(eq, nxt)
                if lb >= old - 1e-6:
                    continue
                if d(prev_end, eq) + d(s, nxt) < old - 1e-6:
                    seg = ids[p:q + 1][::-1]
                    ids[p:q + 1] = seg
                    for x in seg:
                        a, b = geom[x]
                        geom[x] = (b, a)
                    pos = {lid2: i for i, lid2 in enumerate(ids)}
                    improved = True
                    break
        # Or-opt: move one line next to one of its nearest neighbours, either way round.
        pos = {lid2: i for i, lid2 in enumerate(ids)}
        for lid in range(n):
            p = pos[lid]
            s, e = geom[lid]
            prev_end = home if p == 0 else geom[ids[p - 1]][1]
            nxt = home if p == n - 1 else geom[ids[p + 1]][0]
            gain = d(prev_end, s) + d(e, nxt) - d(prev_end, nxt)
            if gain <= 1e-6:
                continue
            best: tuple[float, int, bool, bool] | None = None
            for cand in (*knn[2 * lid], *knn[2 * lid + 1]):
                other = int(line_of[cand])
                if other == lid:
                    continue
                qo = pos[other]
                for after_other in (False, True):
                    if after_other:
                        q2 = qo + 1 if qo + 1 != p else qo + 2
                        before = geom[other][1]
                        after = home if q2 >= n else geom[ids[q2]][0]
                    else:
                        q2 = qo - 1 if qo - 1 != p else qo - 2
                        before = home if q2 < 0 else geom[ids[q2]][1]
                        after = geom[other][0]
                    for flip in (False, True):
                        a, b = (e, s) if flip else (s, e)
                        lb = math.dist(before, a) + math.dist(b, after)
                        base = d(before, after)
                        if lb - base >= gain - 1e-6:
                            continue
                        add = d(before, a) + d(b, after) - base
                        if add < gain - 1e-6 and (best is None or add < best[0]):
                            best = (add, other, after_other, flip)
            if best is not None:
                _, other, after_other, flip = best
                if flip:
                    geom[lid] = (e, s)
                ids.pop(p)
                q = ids.index(other) + (1 if after_other else 0)
                ids.insert(q, lid)
                pos = {lid2: i for i, lid2 in enumerate(ids)}
                improved = True
        if not improved:
            break
    return [geom[i] for i in ids]


def _knn(pts: np.ndarray, k: int, d2: np.ndarray | None) -> np.ndarray:
    """Indices of each point's ``k`` nearest other points."""
    if d2 is None:
        out = np.empty((len(pts), k), dtype=int)
        for i0 in range(0, len(pts), 512):
            blk = ((pts[i0:i0 + 512, None, :] - pts[None, :, :]) ** 2).sum(-1)
            blk[np.arange(len(blk)), np.arange(i0, i0 + len(blk))] = np.inf
            out[i0:i0 + 512] = np.argpartition(blk, k, axis=1)[:, :k]
        return out
    d2 = d2.copy()
    np.fill_diagonal(d2, np.inf)
    return np.argpartition(d2, k, axis=1)[:, :k]


def _nearest_id(pts: np.ndarray, p: XY) -> int:
    return int(np.argmin(((pts - np.asarray(p)) ** 2).sum(-1)))
