"""Patrol order: visit points and lines of interest in a short obstacle-aware tour.

A symmetric TSP with optional direction per line: nearest neighbour from home, then 2-opt and
single-task relocation (Or-opt) on the true (obstacle-aware) distances between task ends.
"""

from __future__ import annotations

import numpy as np

from missions.plan.sorties import Task
from missions.plan.visibility import Router

XY = tuple[float, float]


def _ends_matrix(tasks: list[Task], home: XY, router: Router) -> np.ndarray:
    """Distances between all task ends: index 2i = start of task i, 2i + 1 = its end;
    the last index is home."""
    pts: list[XY] = []
    for t in tasks:
        pts += [t.points[0], t.points[-1]]
    pts.append(home)
    n = len(pts)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = router.distance(pts[i], pts[j])
    return d


def _tour_cost(order: list[tuple[int, bool]], d: np.ndarray) -> float:
    home = d.shape[0] - 1
    pos, total = home, 0.0
    for i, rev in order:
        first, last = (2 * i + 1, 2 * i) if rev else (2 * i, 2 * i + 1)
        total += d[pos, first]
        pos = last
    return total + d[pos, home]


def order_tasks(tasks: list[Task], home: XY, router: Router) -> list[Task]:
    """The tasks in a short visiting order from and back to ``home``; lines may be reversed.

    >>> from shapely.geometry import box
    >>> r = Router(box(1000, 1000, 1001, 1001))
    >>> ts = [Task(((30.0, 0.0),), trigger=False), Task(((10.0, 0.0),), trigger=False),
    ...       Task(((20.0, 0.0), (20.0, 5.0)))]
    >>> [t.points for t in order_tasks(ts, (0.0, 0.0), r)]  # 65.6 m round trip
    [((10.0, 0.0),), ((30.0, 0.0),), ((20.0, 0.0), (20.0, 5.0))]
    """
    if not tasks:
        return []
    d = _ends_matrix(tasks, home, router)
    home_i = d.shape[0] - 1
    left = set(range(len(tasks)))
    order: list[tuple[int, bool]] = []
    pos = home_i
    while left:
        i, rev = min(((i, rev) for i in left for rev in (False, True)),
                     key=lambda t: d[pos, 2 * t[0] + (1 if t[1] else 0)])
        order.append((i, rev))
        left.remove(i)
        pos = 2 * i + (0 if rev else 1)
    best = _tour_cost(order, d)
    improved = True
    while improved:
        improved = False
        for a in range(len(order)):
            for b in range(a, len(order)):  # 2-opt: reverse order[a..b] and each task in it
                cand = order[:a] + [(i, not r) for i, r in order[a:b + 1][::-1]] + order[b + 1:]
                c = _tour_cost(cand, d)
                if c < best - 1e-6:
                    order, best, improved = cand, c, True
            for b in range(len(order)):  # Or-opt: move one task elsewhere
                if a == b:
                    continue
                rest = order[:a] + order[a + 1:]
                cand = [*rest[:b], order[a], *rest[b:]]
                c = _tour_cost(cand, d)
                if c < best - 1e-6:
                    order, best, improved = cand, c, True
    out = []
    for i, rev in order:
        t = tasks[i]
        out.append(Task(t.points[::-1], t.trigger, t.name) if rev else t)
    return out
