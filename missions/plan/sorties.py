"""Cutting a route into battery-sized sorties.

A route is a list of tasks (sweep lines, or patrol points and lines) flown in order. Each sortie
takes off at home, flies the obstacle-free path to its first task, as many tasks as fit in the
battery budget including the way back home, and returns. At each cut the next sortie re-flies
the last task (QGC #4254) so that photos overlap across the cut. A task too long for any
sortie is shortened to what fits; what can never be reached is reported.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString
from shapely.ops import substring

from missions.plan.drone import DroneProfile
from missions.plan.visibility import Router
from survey.core.errors import PlanningError

XY = tuple[float, float]


@dataclass(frozen=True)
class Task:
    """Something to fly: a polyline with the camera triggering by distance, or a single point
    where the vehicle holds and takes one photo."""

    points: tuple[XY, ...]
    trigger: bool = True  # distance triggering along the polyline
    name: str = ""

    @property
    def length_m(self) -> float:
        return sum(math.dist(p, q) for p, q in zip(self.points, self.points[1:], strict=False))

    def cut(self, length_m: float) -> tuple[Task, Task]:
        """The first ``length_m`` of the task and the rest."""
        line = LineString(self.points)
        head = substring(line, 0.0, length_m)
        tail = substring(line, length_m, line.length)
        return (Task(tuple(head.coords), self.trigger, self.name),
                Task(tuple(tail.coords), self.trigger, self.name))


@dataclass(frozen=True)
class SortieRoute:
    """A sortie's horizontal path (home … home) and the tasks it flies, in order."""

    path: tuple[XY, ...]
    tasks: tuple[Task, ...]
    refly: bool  # starts by re-flying the previous sortie's last task
    time_s: float

    @property
    def distance_m(self) -> float:
        return Router.length(list(self.path))


LegExtra = Callable[[np.ndarray], float]
"""Extra time (s) a path's legs cost beyond level flight: climbs and descents over terrain."""


def path_time_s(points: list[XY] | np.ndarray, drone: DroneProfile, altitude_m: float,
                *, holds: int = 0, hold_s: float = 0.0, extra: LegExtra | None = None) -> float:
    """Flight time of a sortie path: climb, horizontal legs with turns, descent, holds, and
    ``extra(points)`` when given (terrain)."""
    xy = np.asarray(points, dtype=float)
    if extra is not None and len(xy) >= 2:
        return path_time_s(xy, drone, altitude_m, holds=holds, hold_s=hold_s) + extra(xy)
    if len(xy) < 2:
        return drone.vertical_time_s(altitude_m)
    d = np.diff(xy, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    d = d[seg > 1e-9]
    heading = np.arctan2(d[:, 1], d[:, 0])
    change = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
    turns = int(np.count_nonzero(change > math.radians(30.0)))
    legs = float(drone.legs_time_s(d[:, 0], d[:, 1]).sum())
    return drone.vertical_time_s(altitude_m) + legs + turns * drone.turn_s + holds * hold_s


@dataclass(frozen=True)
class SortieSplit:
    sorties: tuple[SortieRoute, ...]
    dropped: tuple[Task, ...]  # tasks (or parts) no sortie can reach within the budget


def split_sorties(tasks: list[Task], *, home: XY, router: Router, drone: DroneProfile,
                  altitude_m: float, refly: bool = True, hold_s: float = 2.0,
                  inner: Router | None = None, extra: LegExtra | None = None) -> SortieSplit:
    """Cut ``tasks`` (in flight order) into sorties that each fit ``drone.budget_s``.

    ``inner`` routes the connectors from one task to the next, where it finds a path (a
    survey keeps them over the area); the legs from and to home, and connectors it cannot
    route, take ``router``. ``extra`` adds the time terrain costs (see :func:`path_time_s`).

    Raises
    ------
    PlanningError
        From the router, when a task cannot be reached round the obstacles at all.
    """
    budget = drone.budget_s
    todo = list(tasks)
    sorties: list[SortieRoute] = []
    dropped: list[Task] = []
    carry: Task | None = None  # the task to re-fly at the start of the next sortie

    def fits(path: list[XY], holds: int) -> bool:
        return path_time_s(path, drone, altitude_m, holds=holds, hold_s=hold_s,
                           extra=extra) <= budget

    def flown(path: list[XY], task: Task) -> list[XY]:
        if path[-1] == task.points[0]:
            return path + list(task.points[1:])
        leg = connector(path[-1], task.points[0]) if len(path) > 1 else router.path(
            path[-1], task.points[0])
        return path + leg[1:] + list(task.points[1:])

    def connector(a: XY, b: XY) -> list[XY]:
        if inner is not None:
            try:
                return inner.path(a, b)
            except PlanningError:
                pass
        return router.path(a, b)

    def try_add(path: list[XY], holds: int) -> bool | None:
        """True: fits with the exact way home; None: fits with a generous estimate of the way
        home (checked exactly when the sortie closes); False: does not fit."""
        dx, dy = home[0] - path[-1][0], home[1] - path[-1][1]
        direct = math.hypot(dx, dy)
        base = path_time_s(path, drone, altitude_m, holds=holds, hold_s=hold_s, extra=extra)
        straight = float(drone.legs_time_s(np.array([dx]), np.array([dy]))[0])
        if base + straight > budget:
            return False
        generous = straight * (1.15 + 50.0 / max(direct, 1.0)) + 4 * drone.turn_s
        if base + generous <= budget:
            return None
        return fits(path + router.path(path[-1], home)[1:], holds)

    while todo:
        started_with_refly = carry is not None
        queue = ([carry] if carry is not None else []) + todo
        # State after each accepted task: (path, photo holds); backed off if it overruns.
        states: list[tuple[list[XY], int]] = [([home], 0)]
        for task in queue:
            path, holds = states[-1]
            trial = flown(path, task)
            h = holds + (0 if task.trigger else 1)
            if try_add(trial, h) is False:
                break
            states.append((trial, h))
        while len(states) > 1:  # the exact way home for the last state, backing off if needed
            path, holds = states[-1]
            if fits(path + router.path(path[-1], home)[1:], holds):
                break
            states.pop()
        done = list(queue[:len(states) - 1])
        path, holds = states[-1]
        new_done = len(done) - (1 if started_with_refly and done else 0)
        consumed = new_done
        if new_done == 0:
            if started_with_refly:
                carry = None  # re-flying leaves no room: start clean
                continue
            # The first task alone does not fit: fly the part that fits, leave the rest.
            head, tail = _longest_fitting_part(todo[0], home, router, drone, altitude_m,
                                               hold_s, extra)
            if head is None:
                dropped.append(todo.pop(0))
                continue
            todo[0] = tail
            path, done = flown([home], head), [head]
            holds = 0 if head.trigger else 1
            consumed = 0
        back = router.path(path[-1], home)
        full = path + back[1:]
        sorties.append(SortieRoute(tuple(full), tuple(done), started_with_refly and bool(done),
                                   path_time_s(full, drone, altitude_m, holds=holds,
                                               hold_s=hold_s, extra=extra)))
        todo = todo[consumed:]
        carry = done[-1] if (refly and todo and done and done[-1].trigger) else None
    return SortieSplit(tuple(sorties), tuple(dropped))


def _longest_fitting_part(task: Task, home: XY, router: Router, drone: DroneProfile,
                          altitude_m: float, hold_s: float,
                          extra: LegExtra | None = None) -> tuple[Task | None, Task]:
    """Binary search for the longest head of ``task`` that one sortie can fly."""
    if not task.trigger or task.length_m < 1.0:
        return None, task
    lo, hi = 0.0, task.length_m
    for _ in range(30):
        mid = (lo + hi) / 2
        head, _ = task.cut(mid)
        out = router.path(home, head.points[0])
        back = router.path(head.points[-1], home)
        path = out + list(head.points[1:]) + back[1:]
        if path_time_s(path, drone, altitude_m, extra=extra) <= drone.budget_s:
            lo = mid
        else:
            hi = mid
    if lo < 1.0:
        return None, task
    return task.cut(lo)


def pieces(a: XY, b: XY, max_m: float) -> list[Task]:
    """A sweep line cut into equal collinear pieces no longer than ``max_m``: a sortie may end
    between two, and the next re-flies only the last piece, not a whole long line.

    >>> [t.points for t in pieces((0.0, 0.0), (30.0, 0.0), 12.0)]
    [((0.0, 0.0), (10.0, 0.0)), ((10.0, 0.0), (20.0, 0.0)), ((20.0, 0.0), (30.0, 0.0))]
    """
    n = max(1, math.ceil(math.dist(a, b) / max_m - 1e-9))
    pts = [(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n) for k in range(n + 1)]
    pts[-1] = b
    return [Task((p, q)) for p, q in itertools.pairwise(pts)]


def merge_pieces(route: SortieRoute) -> SortieRoute:
    """Join consecutive collinear pieces of the same line back into one task, dropping the
    junctions from the path: a sortie that re-flies the last piece of the previous one flies it
    as the start of the line it continues."""
    merged: list[Task] = []
    junctions: set[XY] = set()
    for t in route.tasks:
        prev = merged[-1] if merged else None
        if (prev is not None and prev.trigger and t.trigger
                and len(prev.points) == 2 and len(t.points) == 2
                and prev.points[1] == t.points[0] and _same_direction(prev, t)):
            merged[-1] = Task((prev.points[0], t.points[1]), True, prev.name)
            junctions.add(t.points[0])
        else:
            merged.append(t)
    path = tuple(p for p in route.path if p not in junctions)
    return SortieRoute(path, tuple(merged), route.refly, route.time_s)


def _same_direction(t1: Task, t2: Task) -> bool:
    (ax, ay), (bx, by) = t1.points
    (cx, cy), (dx, dy) = t2.points
    u, v = (bx - ax, by - ay), (dx - cx, dy - cy)
    cross = u[0] * v[1] - u[1] * v[0]
    dot = u[0] * v[0] + u[1] * v[1]
    return dot > 0 and abs(cross) <= 1e-9 * math.hypot(*u) * math.hypot(*v)
