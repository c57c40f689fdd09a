"""Shortest obstacle-free paths in the plane (visibility graph, built lazily).

The obstacles are the buffered no-fly zones. A path bends only at obstacle vertices (pushed a
little outward), so the graph's nodes are those vertices; to keep the graph small on maps with
thousands of obstacles, it grows only with the obstacles that the current best path runs into
(Lozano-Pérez & Wesley's visibility graph, built lazily as in "lazy PRM" planners).
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from survey.core.errors import PlanningError
from survey.core.geometry import polygons_of

XY = tuple[float, float]

_TOUCH_M = 0.01  # obstacles are shrunk by this for tests, so touching a boundary is allowed
_NODE_OFFSET_M = 0.25  # nodes sit this far outside their obstacle


class Router:
    """Obstacle-avoiding paths among ``keepout`` polygons, inside a convex ``fence``.

    >>> from shapely.geometry import box
    >>> r = Router(box(-10, -10, 10, 10), box(-100, -100, 100, 100))
    >>> path = r.path((-50, 0), (50, 0))
    >>> len(path), round(r.length(path), 1)
    (4, 102.6)
    >>> r.path((-50, 50), (50, 50))
    [(-50, 50), (50, 50)]
    """

    def __init__(self, keepout: BaseGeometry, fence: Polygon | None = None) -> None:
        self.keepout = keepout
        self.obstacles = polygons_of(keepout)
        self._test = np.array(
            [p.buffer(-_TOUCH_M, quad_segs=1) for p in self.obstacles], dtype=object
        )
        self._tree = shapely.STRtree(self._test)
        self.fence = fence
        self._fence_slack = None if fence is None else fence.buffer(1e-6)
        if fence is not None:
            shapely.prepare(fence)
            shapely.prepare(self._fence_slack)
        self._nodes: dict[int, np.ndarray] = {}
        self._dirs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._edge_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cache: dict[tuple[XY, XY], list[XY]] = {}

    # -- queries -------------------------------------------------------------------------------
    def blocked(self, segments: np.ndarray) -> np.ndarray:
        """For an array of LineStrings, True where one crosses an obstacle (or leaves the fence)."""
        hit = np.zeros(len(segments), dtype=bool)
        if len(segments) == 0:
            return hit
        if len(self._test):
            idx = self._tree.query(segments, predicate="intersects")
            hit[np.unique(idx[0])] = True
        if self.fence is not None:
            hit |= ~shapely.covers(self.fence, segments)
        return hit

    def is_clear(self, a: XY, b: XY) -> bool:
        """True when the straight segment a–b touches no obstacle."""
        if a == b:
            return not self.inside_obstacle(a)
        return not bool(self.blocked(np.array([LineString([a, b])], dtype=object))[0])

    def inside_obstacle(self, p: XY) -> bool:
        """True when point ``p`` lies inside an obstacle."""
        pt = shapely.points(p)
        return bool(len(self._tree.query(pt, predicate="intersects")))

    def path(self, a: XY, b: XY) -> list[XY]:
        """Shortest obstacle-free path from ``a`` to ``b`` as a list of points (ends included).

        Raises
        ------
        PlanningError
            When no path exists (b is enclosed by obstacles, or outside the fence).
        """
        key = (a, b)
        if key in self._cache:
            return self._cache[key]
        if self.is_clear(a, b):
            result = [a, b]
        elif self._fence_slack is not None and not all(
                self._fence_slack.covers(shapely.points(p)) for p in (a, b)):
            raise PlanningError(f"no path from {a} to {b}: a point lies outside the operation "
                                "region")
        else:
            result = self._graph_path(a, b)
        self._cache[key] = result
        self._cache[(b, a)] = result[::-1]
        return result

    def distance(self, a: XY, b: XY) -> float:
        """Length of :meth:`path`."""
        return self.length(self.path(a, b))

    @staticmethod
    def length(points: list[XY]) -> float:
        """Length of a polyline given as points."""
        return sum(math.dist(p, q) for p, q in itertools.pairwise(points))

    # -- the lazy visibility graph ---------------------------------------------------------------
    def _obstacle_nodes(self, i: int) -> np.ndarray:
        """Candidate path vertices of obstacle ``i``: its vertices pushed slightly outward, minus
        those inside another obstacle or outside the fence."""
        if i not in self._nodes:
            grown = self.obstacles[i].buffer(_NODE_OFFSET_M, join_style="mitre", mitre_limit=4)
            rings = [np.asarray(r.coords)[:-1] for p in polygons_of(grown)
                     for r in (p.exterior, *p.interiors)]
            pts = np.vstack(rings)
            # vectors to each vertex's neighbours on its ring (for the tangent test)
            prev = np.vstack([np.roll(r, 1, axis=0) for r in rings]) - pts
            nxt = np.vstack([np.roll(r, -1, axis=0) for r in rings]) - pts
            geoms = shapely.points(pts)
            ok = np.ones(len(pts), dtype=bool)
            hit = self._tree.query(geoms, predicate="intersects")
            ok[hit[0]] = False
            if self.fence is not None:
                ok &= shapely.contains(self.fence, geoms)
            self._nodes[i] = pts[ok]
            self._dirs[i] = (prev[ok], nxt[ok])
        return self._nodes[i]

    def _edges(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end points of the edges of obstacle ``i`` (as tested: shrunk slightly)."""
        if i not in self._edge_cache:
            rings = [np.asarray(r.coords) for p in polygons_of(self._test[i])
                     for r in (p.exterior, *p.interiors)]
            self._edge_cache[i] = (np.vstack([r[:-1] for r in rings]),
                                   np.vstack([r[1:] for r in rings]))
        return self._edge_cache[i]

    def _graph_path(self, a: XY, b: XY) -> list[XY]:
        involved: set[int] = set()
        seg = np.array([LineString([a, b])], dtype=object)
        involved.update(int(i) for i in self._tree.query(seg, predicate="intersects")[1])
        for _ in range(200):
            found = self._search(a, b, involved, tangent=True)
            if found is None:  # the tangent pruning is a heuristic here: check without it
                found = self._search(a, b, involved, tangent=False)
            if found is None:
                grow = self._neighbours(involved)
                if not grow:
                    raise PlanningError(f"no obstacle-free path from {a} to {b}")
                involved |= grow
                continue
            legs = shapely.linestrings(
                np.stack([np.asarray(found[:-1]), np.asarray(found[1:])], axis=1))
            hits = {int(i) for i in self._tree.query(legs, predicate="intersects")[1]}
            new = hits - involved
            if not new:
                return found
            involved |= new
        raise PlanningError(f"no obstacle-free path from {a} to {b} (search did not settle)")

    def _neighbours(self, involved: set[int]) -> set[int]:
        """Obstacles near those already involved: lets the search go round a cluster."""
        if not involved:
            return set()
        near = shapely.union_all([self.obstacles[i] for i in involved]).buffer(50.0)
        return {int(i) for i in self._tree.query(near, predicate="intersects")} - involved

    def _search(self, a: XY, b: XY, involved: set[int], *, tangent: bool = True
                ) -> list[XY] | None:
        """A* over the vertices of the involved obstacles; an edge is checked (against those
        obstacles) only when its tail is expanded and it could improve the head's cost.

        With ``tangent``, only edges tangent to the (grown) obstacle at both ends are tried
        (a shortest path bends round obstacles, so it only uses those: the reduced visibility
        graph)."""
        order = sorted(involved)
        xy = np.vstack([np.asarray([a, b], dtype=float)]
                       + [self._obstacle_nodes(i) for i in order])
        zero = np.zeros((2, 2))
        pdir = np.vstack([zero] + [self._dirs[i][0] for i in order])
        ndir = np.vstack([zero] + [self._dirs[i][1] for i in order])
        n = len(xy)
        edges = [self._edges(i) for i in order]
        ep = np.vstack([e[0] for e in edges]) if edges else np.empty((0, 2))
        eq = np.vstack([e[1] for e in edges]) if edges else np.empty((0, 2))
        h = np.hypot(*(xy - xy[1]).T)
        dense = n <= _DENSE_NODES  # small graphs: every distance and tangent test at once
        if dense:
            sx = xy[None, :, 0] - xy[:, None, 0]  # [u, v]: from u to v
            sy = xy[None, :, 1] - xy[:, None, 1]
            dist = np.hypot(sx, sy)
            if tangent:
                fine = (_tangent(sx, sy, dist, pdir[:, None], ndir[:, None])
                        & _tangent(sx, sy, dist, pdir[None, :], ndir[None, :]))
                fine[:2] = True  # edges from a or b, and to b, are not tested: those may lie
                fine[:, 1] = True  # in the band between an obstacle and its nodes
        g = np.full(n, np.inf)
        g[0] = 0.0
        parent = np.full(n, -1)
        closed = np.zeros(n, dtype=bool)
        heap = [(float(h[0]), 0)]
        while heap:
            _, u = heapq.heappop(heap)
            if closed[u]:
                continue
            if u == 1:
                out = [1]
                while out[-1] != 0:
                    out.append(int(parent[out[-1]]))
                mid = [(float(xy[k][0]), float(xy[k][1])) for k in out[-2:0:-1]]
                return [a, *mid, b]
            closed[u] = True
            if dense:
                d = dist[u]
                want = ~closed & (g[u] + d < g - 1e-9)
                if tangent:
                    want &= fine[u]
            else:
                sv = xy - xy[u]
                d = np.hypot(*sv.T)
                want = ~closed & (g[u] + d < g - 1e-9)
                if tangent and u > 1:
                    sx_, sy_ = sv[:, 0], sv[:, 1]
                    want &= (_tangent(sx_, sy_, d, pdir[u], ndir[u])
                             & _tangent(sx_, sy_, d, pdir, ndir))
                    want[1] = g[u] + d[1] < g[1] - 1e-9
            cand = np.flatnonzero(want)
            if not cand.size:
                continue
            ok = ~_crosses(xy[u], xy[cand], ep, eq)
            for v in cand[ok]:
                g[v] = g[u] + d[v]
                parent[v] = u
                heapq.heappush(heap, (float(g[v] + h[v]), int(v)))
        return None


_DENSE_NODES = 160


def _tangent(sx: np.ndarray, sy: np.ndarray, d: np.ndarray, prev: np.ndarray,
             nxt: np.ndarray) -> np.ndarray:
    """For lines along (sx, sy) through a node whose ring neighbours lie at ``prev`` and
    ``nxt`` from it: True where both neighbours are on one side of the line, or one of them
    at most the node offset over it (the band between nodes and obstacle is free to cross).
    A node with no neighbours (a or b: zero vectors) passes."""
    c1 = sx * prev[..., 1] - sy * prev[..., 0]
    c2 = sx * nxt[..., 1] - sy * nxt[..., 0]
    return (c1 * c2 >= 0) | (np.minimum(np.abs(c1), np.abs(c2)) <= _NODE_OFFSET_M * d)


def _crosses(u: np.ndarray, vs: np.ndarray, ep: np.ndarray, eq: np.ndarray) -> np.ndarray:
    """For segments u→vs[k], True where one crosses or touches an edge ep[m]→eq[m].

    Segment ends lie outside the obstacles, so a segment enters one only through an edge; a
    segment through an obstacle's vertex, or along an edge's line, counts as touching (it may
    pass between two edges into the inside).
    """
    if len(ep) == 0:
        return np.zeros(len(vs), dtype=bool)
    e = eq - ep  # (m, 2)
    d1 = e[:, 0] * (u[1] - ep[:, 1]) - e[:, 1] * (u[0] - ep[:, 0])  # (m,)
    d2 = (e[None, :, 0] * (vs[:, None, 1] - ep[None, :, 1])
          - e[None, :, 1] * (vs[:, None, 0] - ep[None, :, 0]))  # (k, m)
    s = vs - u  # (k, 2)
    d3 = s[:, None, 0] * (ep[None, :, 1] - u[1]) - s[:, None, 1] * (ep[None, :, 0] - u[0])
    d4 = s[:, None, 0] * (eq[None, :, 1] - u[1]) - s[:, None, 1] * (eq[None, :, 0] - u[0])
    return ((d1[None, :] * d2 <= 0) & (d3 * d4 <= 0)).any(axis=1)
