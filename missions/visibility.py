"""Shortest obstacle-free paths in the plane (visibility graph, built lazily).

The obstacles are the buffered no-fly zones. A path bends only at obstacle vertices (pushed a
little outward), so the graph's nodes are those vertices; to keep the graph small on maps with
thousands of obstacles, it grows only with the obstacles that the current best path runs into
(Lozano-Pérez & Wesley's visibility graph, built lazily as in "lazy PRM" planners).
"""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from missions.decompose import polygons_of
from survey.errors import PlanningError

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
        self.obstacles = polygons_of(keepout)
        self._test = np.array(
            [p.buffer(-_TOUCH_M, quad_segs=1) for p in self.obstacles], dtype=object
        )
        self._tree = shapely.STRtree(self._test)
        self._fence = fence
        if fence is not None:
            shapely.prepare(fence)
        self._nodes: dict[int, np.ndarray] = {}
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
        if self._fence is not None:
            hit |= ~shapely.covers(self._fence, segments)
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
            pts = np.vstack([np.asarray(r.coords)[:-1] for p in polygons_of(grown)
                             for r in (p.exterior, *p.interiors)])
            geoms = shapely.points(pts)
            ok = np.ones(len(pts), dtype=bool)
            hit = self._tree.query(geoms, predicate="intersects")
            ok[hit[0]] = False
            if self._fence is not None:
                ok &= shapely.contains(self._fence, geoms)
            self._nodes[i] = pts[ok]
        return self._nodes[i]

    def _graph_path(self, a: XY, b: XY) -> list[XY]:
        involved: set[int] = set()
        seg = np.array([LineString([a, b])], dtype=object)
        involved.update(int(i) for i in self._tree.query(seg, predicate="intersects")[1])
        for _ in range(200):
            found = self._search(a, b, involved)
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

    def _search(self, a: XY, b: XY, involved: set[int]) -> list[XY] | None:
        pts = [np.asarray([a, b], dtype=float)]
        pts += [self._obstacle_nodes(i) for i in sorted(involved)]
        xy = np.vstack(pts)
        n = len(xy)
        i, j = np.triu_indices(n, k=1)
        segs = shapely.linestrings(np.stack([xy[i], xy[j]], axis=1))
        local = [self._test[k] for k in sorted(involved)]
        ok = np.ones(len(segs), dtype=bool)
        if local:
            tree = shapely.STRtree(np.array(local, dtype=object))
            hit = tree.query(segs, predicate="intersects")
            ok[np.unique(hit[0])] = False
        if self._fence is not None:
            ok &= shapely.covers(self._fence, segs)
        g = nx.Graph()
        g.add_nodes_from(range(n))
        lengths = np.hypot(*(xy[j] - xy[i]).T)
        g.add_weighted_edges_from(zip(i[ok].tolist(), j[ok].tolist(), lengths[ok].tolist(),
                                      strict=True))

        def h(u: int, v: int) -> float:
            return float(math.dist(xy[u], xy[v]))

        try:
            nodes = nx.astar_path(g, 0, 1, heuristic=h, weight="weight")
        except nx.NetworkXNoPath:
            return None
        return [a] + [(float(xy[k][0]), float(xy[k][1])) for k in nodes[1:-1]] + [b]
