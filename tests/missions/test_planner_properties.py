"""Property tests of the planner over random areas, holes and obstacles (hypothesis).

Invariants: no route segment (as flown from the mission items) comes within the margin of a
blocking zone; photo footprints cover ≥ 99 % of the free area; every sortie fits its budget (in
the wind, when there is one); the survey part of each sortie stays over the area grown by the
camera's half footprint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon, box

from missions.plan.drone import DroneProfile, Wind
from missions.plan.inputs import Zone
from missions.plan.items import Cmd
from missions.plan.planner import PlanRequest, make_plan
from missions.plan.sorties import path_time_s
from survey.core.camera import CATALOG
from survey.core.errors import PlanningError
from survey.core.frame import LocalFrame

GEN = LocalFrame(36.07, 139.99)  # where the random areas are placed
MARGIN_M = 10.0


def star(rng: np.random.Generator, cx: float, cy: float, r: float, n: int) -> Polygon:
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.45, 1.0, n)
    return Polygon(np.column_stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)]))


@st.composite
def scenes(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    area = star(rng, 0.0, 0.0, draw(st.floats(150.0, 450.0)), draw(st.integers(3, 12)))
    assume(area.is_valid and area.area > 20_000)
    holes = []
    for _ in range(draw(st.integers(0, 2))):
        c = rng.uniform(-0.5, 0.5, 2) * np.sqrt(area.area)
        h = star(rng, c[0], c[1], rng.uniform(20, 60), 6)
        if h.is_valid and area.buffer(-5).contains(h):
            holes.append(h)
    if holes:
        area = area.difference(shapely.union_all(holes))
    zones = []
    for i in range(draw(st.integers(0, 8))):
        c = rng.uniform(-0.6, 0.6, 2) * np.sqrt(area.area)
        kind = rng.integers(0, 3)
        if kind == 0:
            g = Point(c).buffer(rng.uniform(3, 30), quad_segs=8)
        else:
            w, h = rng.uniform(5, 60, 2)
            g = shapely.affinity.rotate(box(c[0] - w / 2, c[1] - h / 2, c[0] + w / 2,
                                            c[1] + h / 2), rng.uniform(0, 90))
        height = [None, float(rng.uniform(5, 30)), float(rng.uniform(70, 200))][rng.integers(0, 3)]
        zones.append(Zone(GEN.geom_to_geo(g), height, f"zone {i}"))
    return GEN.geom_to_geo(area), zones


def blocking_local(plan, zones):
    return [plan.frame.geom_to_local(z.geometry) for z in zones
            if z.height_m is None or z.height_m > plan.altitude_m - 20.0]


def mission_polyline(plan, sortie) -> LineString:
    """What the autopilot flies: home, then every positional item, then home (RTL)."""
    pts = [plan.home_xy]
    for it in sortie.items:
        if it.command == Cmd.NAV_WAYPOINT:
            x, y = plan.frame.to_local(it.lon_deg, it.lat_deg)
            pts.append((float(x), float(y)))
    pts.append(plan.home_xy)
    return LineString(pts)


def survey_polyline(plan, sortie) -> LineString | None:
    """The mission's path from the waypoint where the camera first starts to the one where it
    last stops: the survey part of the sortie, without the transits from and to home."""
    pts: list[tuple[float, float]] = []
    start = end = None
    for it in sortie.items:
        if it.command == Cmd.NAV_WAYPOINT:
            x, y = plan.frame.to_local(it.lon_deg, it.lat_deg)
            pts.append((float(x), float(y)))
        camera = (it.command == Cmd.IMAGE_START_CAPTURE
                  or it.command == Cmd.DO_SET_CAM_TRIGG_DIST)
        if camera and pts:
            start = len(pts) - 1 if start is None else start
            end = len(pts) - 1
    if start is None or end is None or end <= start:
        return None
    return LineString(pts[start:end + 1])


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(scene=scenes(), altitude=st.floats(40.0, 120.0),
       front=st.sampled_from([0.6, 0.75, 0.8]), side=st.sampled_from([0.5, 0.65, 0.7]),
       endurance_min=st.floats(6.0, 30.0),
       wind=st.one_of(st.just(Wind()), st.builds(Wind, st.floats(0.5, 8.0), st.floats(0, 360))))
def test_plan_invariants(scene, altitude, front, side, endurance_min, wind):
    area, zones = scene
    drone = DroneProfile(endurance_s=endurance_min * 60.0, max_range_m=5000.0, wind=wind)
    req = PlanRequest(area=area, zones=zones, camera=CATALOG["mavic3e"], altitude_m=altitude,
                      front_overlap=front, side_overlap=side, drone=drone, margin_m=MARGIN_M)
    try:
        plan = make_plan(req)
    except PlanningError:
        assume(False)
        return
    blocking = blocking_local(plan, zones)

    # 1. No segment of any sortie (route geometry and mission items) nears a blocking zone.
    for s in plan.sorties:
        for line in (s.route, mission_polyline(plan, s)):
            for z in blocking:
                assert line.distance(z) >= MARGIN_M - 0.05, (s.number, line.distance(z))

    # 2. Photo footprints cover ≥ 99 % of the free area within reach.
    free = plan.area.difference(shapely.union_all(
        [z.buffer(MARGIN_M) for z in blocking])) if blocking else plan.area
    target = free.difference(plan.unreachable)
    assume(target.area > 1000.0)
    feet = shapely.union_all([p.footprint(plan.camera, plan.altitude_m)
                              for s in plan.sorties for p in s.photos])
    covered = target.intersection(feet).area / target.area
    assert covered >= 0.99, covered

    # 3. Every sortie fits its budget, recomputed from its route.
    for s in plan.sorties:
        assert s.time_s <= drone.budget_s + 1e-6
        holds = sum(it.param1 for it in s.items if it.command == Cmd.NAV_WAYPOINT)
        t = path_time_s(list(s.route.coords), drone, plan.altitude_m) + holds
        assert t <= drone.budget_s + 1e-6
        assert math.isclose(t, s.time_s, rel_tol=1e-9)

    # 4. The survey part of each sortie stays within the area plus the half footprint.
    across, along = plan.camera.footprint_m(plan.altitude_m)
    allowed = plan.area.buffer(min(across, along) / 2)
    for s in plan.sorties:
        part = survey_polyline(plan, s)
        if part is not None:
            assert part.difference(allowed).length < 0.5, (s.number,
                                                           part.difference(allowed).length)
