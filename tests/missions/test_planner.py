"""make_plan on the Jōsō example and on small hand-made scenes: photogrammetry, mission items,
sortie cuts (re-fly), range, patrol order, obstacles and fences.

Expected numbers are computed here from the cameras' published sensor and lens figures, not read
back from the planner.
"""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from missions.plan.drone import DroneProfile
from missions.plan.inputs import Poi, Zone, read_area, read_pois, read_zones
from missions.plan.items import Cmd, MissionItem
from missions.plan.model import Mode, Plan, Sortie
from missions.plan.planner import PlanRequest, make_plan
from missions.plan.sorties import path_time_s
from missions.plan.visibility import Router
from survey.core.camera import CATALOG
from survey.core.errors import ParamError, PlanningError
from survey.core.frame import LocalFrame

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "joso"
GEN = LocalFrame(36.07, 139.99)  # where the hand-made scenes are placed
MARGIN_M = 10.0

# (sensor width mm, sensor height mm, focal length mm, image width px) from the makers' specs
SPECS = {
    "mavic3e": (17.3, 13.0, 12.29, 5280),
    "phantom4pro": (13.2, 8.8, 8.8, 5472),
    "phantom3-fc300s": (6.17, 4.55, 3.61, 4000),
    "sony-a7r4-35mm": (35.7, 23.8, 35.0, 9504),
}

XY = tuple[float, float]


# --- helpers ----------------------------------------------------------------------------------

def geo(local: Polygon | LineString | Point):
    """A hand-made local geometry in lon/lat."""
    return GEN.geom_to_geo(local)


def to_xy(plan: Plan, lat_deg: float, lon_deg: float) -> XY:
    x, y = plan.frame.to_local(lon_deg, lat_deg)
    return float(x), float(y)


def xy(plan: Plan, item: MissionItem) -> XY:
    return to_xy(plan, item.lat_deg, item.lon_deg)


def local_lines(plan: Plan) -> list[tuple[XY, XY]]:
    """Every sortie's sweep lines in flight order, in the plan's local frame."""
    return [(to_xy(plan, *a), to_xy(plan, *b)) for s in plan.sorties for a, b in sweep_lines(s)]


def sweep_lines(sortie: Sortie) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The lines a sortie photographs, as ((lat, lon) start, (lat, lon) end): the WAYPOINT
    before DO_SET_CAM_TRIGG_DIST(d > 0) and the WAYPOINT before DO_SET_CAM_TRIGG_DIST(0)."""
    lines = []
    start = None
    for prev, it in itertools.pairwise(sortie.items):
        if it.command != Cmd.DO_SET_CAM_TRIGG_DIST:
            continue
        assert prev.command == Cmd.NAV_WAYPOINT
        if it.param1 > 0:
            start = (prev.lat_deg, prev.lon_deg)
        else:
            assert start is not None
            lines.append((start, (prev.lat_deg, prev.lon_deg)))
            start = None
    return lines


def flown(plan: Plan, sortie: Sortie) -> LineString:
    """What the autopilot flies: home, every WAYPOINT item, home (RTL)."""
    pts = [plan.home_xy]
    pts += [xy(plan, it) for it in sortie.items if it.command == Cmd.NAV_WAYPOINT]
    pts.append(plan.home_xy)
    return LineString(pts)


def fence_polygon(plan: Plan, k: int) -> Polygon:
    from missions.plan.fence_budget import zone_shape

    return zone_shape(plan.fence[k], plan.frame)


def same_line(a, b, tol_deg: float = 1e-9) -> bool:
    return all(abs(u - v) <= tol_deg for p, q in zip(a, b, strict=True)
               for u, v in zip(p, q, strict=True))


def rectangle_request(**kw) -> PlanRequest:
    """A 500 m × 300 m field with nothing in it."""
    base = {"area": geo(box(0, 0, 500, 300)), "camera": CATALOG["mavic3e"], "altitude_m": 80.0}
    return PlanRequest(**(base | kw))


# --- fixtures: the Jōsō example ---------------------------------------------------------------

@pytest.fixture(scope="module")
def joso():
    return (read_area(EXAMPLE / "area.geojson"), read_zones(EXAMPLE / "zones.geojson"),
            read_pois(EXAMPLE / "pois.geojson"))


def joso_request(joso, **kw) -> PlanRequest:
    area, zones, _ = joso
    base = {"area": area, "zones": zones, "camera": CATALOG["mavic3e"], "gsd_cm": 2.0,
            "front_overlap": 0.8, "side_overlap": 0.7}
    return PlanRequest(**(base | kw))


@pytest.fixture(scope="module")
def joso_plan(joso) -> Plan:
    """The README demo: --gsd 2.0 --overlap 80/70, re-fly on (3 sorties)."""
    return make_plan(joso_request(joso))


# --- photogrammetry ---------------------------------------------------------------------------

@pytest.mark.parametrize(("camera", "altitude_m", "front", "side"), [
    ("mavic3e", 80.0, 0.80, 0.70),
    ("phantom4pro", 60.0, 0.75, 0.65),
    ("sony-a7r4-35mm", 120.0, 0.70, 0.60),
])
def test_line_spacing_and_trigger_distance_follow_from_camera(camera, altitude_m, front, side):
    sw, sh, focal, _ = SPECS[camera]
    spacing = altitude_m * sw / focal * (1 - side)  # across-track footprint × (1 − side)
    trigger = altitude_m * sh / focal * (1 - front)  # along-track footprint × (1 − front)
    plan = make_plan(rectangle_request(camera=CATALOG[camera], altitude_m=altitude_m,
                                       front_overlap=front, side_overlap=side))
    assert plan.spacing_m == pytest.approx(spacing, rel=1e-9)
    assert plan.trigger_m == pytest.approx(trigger, rel=1e-9)

    # What the autopilot is told: DO_SET_CAM_TRIGG_DIST(trigger) on every line.
    starts = [it.param1 for s in plan.sorties for it in s.items
              if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0]
    assert starts and all(d == pytest.approx(trigger, rel=1e-9) for d in starts)

    # The flown lines are parallel, at most `spacing` apart (coverage) and no denser than
    # the field's width needs (a cell may spread its lines evenly, a little closer).
    lines = local_lines(plan)
    assert len(lines) >= 3
    (a, b) = lines[0]
    ux, uy = (b[0] - a[0]) / math.dist(a, b), (b[1] - a[1]) / math.dist(a, b)
    gaps = [abs((c[0] - a[0]) * uy - (c[1] - a[1]) * ux) for (a, _), (c, _) in
            itertools.pairwise(lines)]
    for p, q in lines:  # parallel to the first line
        assert abs((q[0] - p[0]) * uy - (q[1] - p[1]) * ux) < 1e-3 * math.dist(p, q)
    assert max(gaps) <= spacing * (1 + 1e-3)
    assert min(gaps) >= 0.85 * spacing
    field = plan.frame.geom_to_local(geo(box(0, 0, 500, 300)))
    across = [x * uy - y * ux for x, y in field.exterior.coords]
    assert len(lines) <= math.ceil((max(across) - min(across)) / spacing)

    # Photos along one line are `trigger` apart.
    photos = plan.sorties[0].photos
    steps = [math.dist((p.x_m, p.y_m), (q.x_m, q.y_m)) for p, q in itertools.pairwise(photos)
             if p.heading_deg == q.heading_deg]
    assert statistics.median(steps) == pytest.approx(trigger, rel=1e-6)


@pytest.mark.parametrize(("camera", "gsd_cm"), [
    ("mavic3e", 2.0), ("phantom4pro", 1.5), ("phantom3-fc300s", 1.71), ("sony-a7r4-35mm", 1.0)])
def test_gsd_sets_the_altitude(camera, gsd_cm):
    sw, _, focal, width_px = SPECS[camera]
    expected_m = gsd_cm / 100 * focal * width_px / sw  # GSD = H · sensor_w / (f · width_px)
    plan = make_plan(rectangle_request(camera=CATALOG[camera], altitude_m=None, gsd_cm=gsd_cm))
    assert plan.altitude_m == pytest.approx(expected_m, rel=1e-9)
    assert plan.gsd_cm == pytest.approx(gsd_cm, rel=1e-9)
    nav = [it for s in plan.sorties for it in s.items
           if it.command in (Cmd.NAV_TAKEOFF, Cmd.NAV_WAYPOINT)]
    assert nav and all(it.alt_m == pytest.approx(expected_m, rel=1e-9) for it in nav)


def test_default_altitude_is_80_m():
    assert make_plan(rectangle_request(altitude_m=None)).altitude_m == 80.0


@pytest.mark.parametrize(("kw", "param"), [
    ({"altitude_m": 150.5}, "altitude_m"),
    ({"altitude_m": 200.0}, "altitude_m"),
    ({"altitude_m": None, "gsd_cm": 5.0}, "gsd_cm"),  # mavic3e: 187.6 m
])
def test_altitude_above_150_m_is_refused_unless_allowed(kw, param):
    with pytest.raises(ParamError) as e:
        make_plan(rectangle_request(**kw))
    assert e.value.params == (param,)
    assert "150" in e.value.problem and "`allow_altitude`" in e.value.problem
    plan = make_plan(rectangle_request(allow_altitude=True, **kw))
    assert plan.altitude_m > 150.0
    assert {it.alt_m for s in plan.sorties for it in s.items
            if it.command == Cmd.NAV_WAYPOINT} == {plan.altitude_m}


def test_150_m_itself_is_allowed():
    assert make_plan(rectangle_request(altitude_m=150.0)).altitude_m == 150.0


@pytest.mark.parametrize(("front", "side", "param"), [
    (0.96, 0.7, "front_overlap"), (0.8, 0.96, "side_overlap"), (-0.05, 0.7, "front_overlap")])
def test_overlap_outside_0_to_95_percent_is_refused(front, side, param):
    with pytest.raises(ParamError) as e:
        make_plan(rectangle_request(front_overlap=front, side_overlap=side))
    assert e.value.params == (param,)


# --- mission items and sortie cuts ------------------------------------------------------------

def test_every_sortie_takes_off_triggers_around_each_line_and_returns(joso_plan):
    plan = joso_plan
    assert len(plan.sorties) >= 2
    for s in plan.sorties:
        items = s.items
        assert items[0].command == Cmd.NAV_TAKEOFF
        assert items[0].alt_m == pytest.approx(plan.altitude_m)
        assert (items[0].lat_deg, items[0].lon_deg) == pytest.approx(
            (plan.home_lat_deg, plan.home_lon_deg), abs=1e-9)
        assert items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
        assert not any(it.command == Cmd.IMAGE_START_CAPTURE for it in items)

        trig = [(i, it.param1) for i, it in enumerate(items)
                if it.command == Cmd.DO_SET_CAM_TRIGG_DIST]
        assert len(trig) == 2 * s.lines
        for (i_on, d_on), (i_off, d_off) in zip(trig[::2], trig[1::2], strict=True):
            assert d_on == pytest.approx(plan.trigger_m) and d_off == 0.0
            assert items[i_on - 1].command == Cmd.NAV_WAYPOINT  # the line's start
            between = items[i_on + 1:i_off]
            assert between and all(it.command == Cmd.NAV_WAYPOINT for it in between)
        assert trig[-1][1] == 0.0 and trig[-1][0] < len(items) - 1  # camera off before RTL


def test_items_fly_the_sortie_route_which_starts_and_ends_at_home(joso_plan):
    plan = joso_plan
    for s in plan.sorties:
        route = list(s.route.coords)
        assert route[0] == pytest.approx(plan.home_xy, abs=1e-6)
        assert route[-1] == pytest.approx(plan.home_xy, abs=1e-6)
        wps = [xy(plan, it) for it in s.items if it.command == Cmd.NAV_WAYPOINT]
        assert len(wps) == len(route) - 1
        for p, q in zip(wps, route[1:], strict=True):
            assert math.dist(p, q) < 0.01


def overlap_m(plan, a, b) -> float:
    """Length (m) over which line ``b`` re-flies line ``a``: both on one straight line, flown the
    same way; 0 when they are not."""
    (p0, p1), (q0, q1) = ([to_xy(plan, *p) for p in ln] for ln in (a, b))
    u = np.subtract(p1, p0)
    length = float(np.hypot(*u))
    u = u / length
    for q in (q0, q1):
        off = np.subtract(q, p0)
        if abs(u[0] * off[1] - u[1] * off[0]) > 0.05:  # not on a's line
            return 0.0
    if float(np.dot(np.subtract(q1, q0), u)) <= 0:  # flown the other way
        return 0.0
    s0, s1 = float(np.dot(np.subtract(q0, p0), u)), float(np.dot(np.subtract(q1, p0), u))
    return max(0.0, min(s1, length) - max(s0, 0.0))


@pytest.mark.parametrize("endurance_min", [25.0, 12.0])
def test_each_cut_re_flies_the_end_of_the_last_line(joso, endurance_min):
    """At each cut the next sortie starts on the previous sortie's last line, re-flying its
    last piece (long lines are cut into pieces of at most 5 % of a sortie's range) in the same
    direction; nothing else is flown twice."""
    drone = DroneProfile(endurance_s=endurance_min * 60)
    plan = make_plan(joso_request(joso, drone=drone))
    piece_m = max(4 * plan.trigger_m, 0.05 * drone.budget_s * drone.cruise_speed_m_s)
    lines = [sweep_lines(s) for s in plan.sorties]
    assert len(lines) >= 2
    for k in range(len(lines) - 1):
        last, first = lines[k][-1], lines[k + 1][0]
        last_len = overlap_m(plan, last, last)
        again = overlap_m(plan, last, first)
        assert again >= min(last_len, piece_m / 2) - 0.05, f"cut after sortie {k + 1}"
        assert again <= piece_m + 0.05
    flat = [ln for ls in lines for ln in ls]
    twice = sum(overlap_m(plan, a, b) > 0.05 for i, a in enumerate(flat)
                for b in flat[i + 1:])
    assert twice == len(lines) - 1  # each cut, and nothing else, is flown twice


@pytest.mark.parametrize("endurance_min", [25.0, 12.0])
def test_without_refly_no_line_is_flown_twice(joso, endurance_min):
    plan = make_plan(joso_request(joso, refly=False,
                                  drone=DroneProfile(endurance_s=endurance_min * 60)))
    lines = [sweep_lines(s) for s in plan.sorties]
    assert len(lines) >= 2
    for k in range(len(lines) - 1):
        a, b = lines[k][-1], lines[k + 1][0]
        assert not same_line(a, b) and not same_line(a, b[::-1])
    flat = [ln for ls in lines for ln in ls]
    assert len({tuple(sorted(ln)) for ln in flat}) == len(flat)


@pytest.mark.parametrize("endurance_min", [25.0, 12.0, 6.0])
def test_every_sortie_fits_endurance_minus_reserve_with_the_legs_home(joso, endurance_min):
    drone = DroneProfile(endurance_s=endurance_min * 60, reserve=0.2)
    plan = make_plan(joso_request(joso, drone=drone))
    budget_s = endurance_min * 60 * 0.8
    for s in plan.sorties:
        path = list(flown(plan, s).coords)  # includes home → first line and last line → home
        t = path_time_s(path, drone, plan.altitude_m)
        assert t == pytest.approx(s.time_s, rel=1e-6)
        assert t <= budget_s + 1e-6
    assert len(plan.sorties) > (1 if endurance_min == 25 else 4)


# --- range ------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_range_m", [
    400.0,
    # BUG: at 500 m the path round the helicopter landing zone (sortie 2) bends 530.7 m from
    # home: sweep lines are clipped to the range, the connectors between them are not.
    pytest.param(500.0, id="500.0-detour-round-landing-zone-leaves-max-range"),
])
def test_everything_flown_stays_within_max_range(joso, max_range_m):
    plan = make_plan(joso_request(joso, drone=DroneProfile(max_range_m=max_range_m)))
    home = Point(plan.home_xy)
    reach = home.buffer(max_range_m, quad_segs=64)
    free = plan.area.difference(plan.keepout)
    beyond = free.difference(reach)
    assert beyond.area > 10_000  # the example is ~1.1 km across: much lies beyond
    assert not plan.unreachable.is_empty
    assert beyond.difference(plan.unreachable).area < 0.01 * beyond.area
    assert plan.covered.difference(reach.buffer(1.0)).area < 1.0
    assert plan.photo_count > 0
    for s in plan.sorties:
        for p in s.photos:
            assert home.distance(Point(p.x_m, p.y_m)) <= max_range_m + 0.5
        far = max(home.distance(Point(c)) for c in flown(plan, s).coords)
        assert far <= max_range_m + 0.5, f"sortie {s.number} flies {far:.1f} m from home"
        far = max(home.distance(Point(c)) for c in s.route.coords)
        assert far <= max_range_m + 0.5, f"sortie {s.number} route reaches {far:.1f} m"


def test_far_area_is_reported_unreachable_not_dropped_silently():
    """A 3 km strip with a 1 km range: the far part is unreachable, the near part covered."""
    plan = make_plan(PlanRequest(area=geo(box(0, 0, 3000, 200)), camera=CATALOG["mavic3e"],
                                 altitude_m=80.0, home_latlon=GEN.to_geo(0.0, 0.0)[::-1],
                                 drone=DroneProfile(max_range_m=1000.0)))
    far_end = plan.frame.geom_to_local(geo(box(1100, 0, 3000, 200)))
    near_end = plan.frame.geom_to_local(geo(box(0, 0, 900, 200)))
    assert plan.unreachable.intersection(far_end).area == pytest.approx(far_end.area, rel=0.01)
    assert plan.unreachable.intersection(near_end).area < 1.0
    assert plan.covered.intersection(near_end).area == pytest.approx(near_end.area, rel=0.01)


@pytest.mark.parametrize("gap_m", [0.0, 60.0])
def test_a_pocket_walled_in_by_no_fly_zones_is_cut_off(gap_m):
    """A square ring of no-fly zone round the middle of the area: the pocket inside is
    reported cut off, no photo taken there; with a gate in the ring, it is flown."""
    ring = box(-150, -150, 150, 150).difference(box(-80, -80, 80, 80))
    if gap_m:
        ring = ring.difference(box(-gap_m / 2, 60, gap_m / 2, 200))  # a gate in the north wall
    plan = make_plan(PlanRequest(
        area=geo(box(-400, -400, 400, 400)), camera=CATALOG["mavic3e"], altitude_m=40.0,
        zones=[Zone(geo(ring), None, "ring")], home_latlon=GEN.to_geo(-390.0, -390.0)[::-1]))
    pocket = plan.frame.geom_to_local(geo(box(-60, -60, 60, 60)))
    photos = shapely.points([(p.x_m, p.y_m) for s in plan.sorties for p in s.photos])
    inside = int(shapely.contains(pocket, photos).sum())
    if gap_m:
        assert inside > 0 and plan.unreachable.intersection(pocket).area < 1.0
        assert not any("cannot be reached" in n for n in plan.notes)
    else:
        assert inside == 0
        assert plan.unreachable.intersection(pocket).area == pytest.approx(pocket.area)
        assert any("cannot be reached round the no-fly zones" in n for n in plan.notes)


# --- obstacles and fences ---------------------------------------------------------------------

@pytest.mark.parametrize(("height_m", "overflown"), [
    (None, False), (100.0, False), (61.0, False), (60.0, True), (10.0, True)])
def test_low_obstacles_are_overflown_and_tall_ones_flown_round(height_m, overflown):
    """Altitude 80 m, 20 m vertical clearance: an obstacle up to 60 m is flown over."""
    building = box(200, 120, 260, 180)  # in the middle of the 500 m × 300 m field
    plan = make_plan(rectangle_request(zones=[Zone(geo(building), height_m, "building")],
                                       margin_m=MARGIN_M))
    local = plan.frame.geom_to_local(geo(building))
    exclusions = [fence_polygon(plan, k) for k, f in enumerate(plan.fence) if not f.inclusion]
    routes = [g for s in plan.sorties for g in (s.route, flown(plan, s))]
    if overflown:
        assert plan.keepout.is_empty and not exclusions
        assert any(r.crosses(local) for r in routes)  # straight over it
        assert plan.covered.contains(local)
    else:
        for r in routes:
            assert r.distance(local) >= MARGIN_M - 0.05
        assert any(e.contains(local) for e in exclusions)
        assert plan.covered.intersection(local).is_empty


def test_inclusion_fence_contains_every_waypoint_rally_point_and_home(joso_plan):
    plan = joso_plan
    assert [f.inclusion for f in plan.fence].count(True) == 1 and plan.fence[0].inclusion
    inclusion = fence_polygon(plan, 0)
    pts = [xy(plan, it) for s in plan.sorties for it in s.items if it.is_nav]
    pts += [to_xy(plan, r.lat_deg, r.lon_deg) for r in plan.rally]
    pts.append(plan.home_xy)
    assert len(plan.rally) >= 1
    assert all(inclusion.contains(Point(p)) for p in pts)
    for s in plan.sorties:
        assert inclusion.contains(flown(plan, s))


def test_exclusion_fences_for_no_fly_zone_and_tall_tower_only(joso, joso_plan):
    plan = joso_plan  # 75 m: the 62 m tower is flown round, the 9–15 m buildings over
    _, zones, _ = joso
    exclusions = [fence_polygon(plan, k) for k, f in enumerate(plan.fence) if not f.inclusion]
    by_name = {z.name: plan.frame.geom_to_local(z.geometry) for z in zones}
    for name in ("Helicopter landing zone (school ground)", "Transmission tower"):
        assert sum(e.contains(by_name[name]) for e in exclusions) == 1, name
    for name in ("Grain warehouse", "Community hall", "Fire-brigade hose tower"):
        assert not any(e.intersects(by_name[name]) for e in exclusions), name
    assert len(exclusions) == 2
    for s in plan.sorties:  # the route never enters an exclusion fence
        for e in exclusions:
            assert not flown(plan, s).intersects(e)
            assert s.route.distance(by_name["Transmission tower"]) >= MARGIN_M - 0.05


def test_home_inside_a_no_fly_zone_is_refused(joso):
    heli = next(z for z in joso[1] if z.name.startswith("Helicopter"))
    c = heli.geometry.centroid
    with pytest.raises(ParamError) as e:
        make_plan(joso_request(joso, home_latlon=(c.y, c.x)))
    assert e.value.params == ("home_latlon",)
    assert "Helicopter landing zone (school ground)" in e.value.problem


def test_area_fully_covered_by_a_no_fly_zone_is_refused():
    field = box(0, 0, 300, 200)
    zone = Zone(geo(field.buffer(50)), None, "cordon")
    with pytest.raises(PlanningError):
        make_plan(PlanRequest(area=geo(field), zones=[zone], camera=CATALOG["mavic3e"],
                              home_latlon=GEN.to_geo(-200.0, -200.0)[::-1]))


# --- patrol -----------------------------------------------------------------------------------

def patrol_visits(plan: Plan) -> list[tuple[XY, XY]]:
    """The tasks flown, in flight order: a point photographed (a WAYPOINT followed by
    IMAGE_START_CAPTURE) as (p, p); a line (a DO_SET_CAM_TRIGG_DIST pair) as (start, end)."""
    out: list[tuple[XY, XY]] = []
    for s in plan.sorties:
        start = None
        for prev, it in itertools.pairwise(s.items):
            if it.command == Cmd.IMAGE_START_CAPTURE:
                assert prev.command == Cmd.NAV_WAYPOINT
                out.append((xy(plan, prev), xy(plan, prev)))
            elif it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0:
                start = xy(plan, prev)
            elif it.command == Cmd.DO_SET_CAM_TRIGG_DIST:
                assert start is not None
                out.append((start, xy(plan, prev)))
    return out


def split_visits(visits: list[tuple[XY, XY]]) -> tuple[list[XY], list[tuple[XY, XY]]]:
    return [a for a, b in visits if a == b], [(a, b) for a, b in visits if a != b]


def test_patrol_visits_every_point_and_line_of_interest(joso):
    area, zones, pois = joso
    plan = make_plan(PlanRequest(area=area, zones=zones, pois=pois, camera=CATALOG["mavic3e"],
                                 altitude_m=80.0))
    assert plan.mode is Mode.PATROL
    points, lines = split_visits(patrol_visits(plan))
    want_points = [plan.frame.geom_to_local(p.geometry).coords[0] for p in pois
                   if p.geometry.geom_type == "Point"]
    want_lines = [plan.frame.geom_to_local(p.geometry).coords for p in pois
                  if p.geometry.geom_type == "LineString"]
    assert len(want_points) == 4 and len(want_lines) == 2
    assert len(points) == len(want_points)
    for w in want_points:
        assert min(math.dist(w, p) for p in points) < 0.01, w
    assert len(lines) == len(want_lines)
    for w in want_lines:
        first, last = w[0], w[-1]
        assert any((math.dist(a, first) < 0.01 and math.dist(b, last) < 0.01)
                   or (math.dist(a, last) < 0.01 and math.dist(b, first) < 0.01)
                   for a, b in lines), (first, last)
    assert sum(s.lines for s in plan.sorties) == 6


def tour_length(order: list[tuple[XY, XY]], home: XY, router: Router) -> float:
    """Home → each task (start → end, straight along the task) → home."""
    pos, total = home, 0.0
    for a, b in order:
        total += router.distance(pos, a) + math.dist(a, b)
        pos = b
    return total + router.distance(pos, home)


def brute_force(tasks: list[tuple[XY, XY]], home: XY, router: Router) -> float:
    """The shortest tour over every order, and every direction of the lines."""
    best = math.inf
    for perm in itertools.permutations(tasks):
        lines = [k for k, (a, b) in enumerate(perm) if a != b]
        for flips in itertools.product((False, True), repeat=len(lines)):
            order = list(perm)
            for k, f in zip(lines, flips, strict=True):
                if f:
                    order[k] = order[k][::-1]
            best = min(best, tour_length(order, home, router))
    return best


WALL = box(-20, -150, 20, 150)  # a no-fly strip between home (west) and half the points

PATROL_SCENES = {
    # in this order by straight-line distance, the tour round the wall is 12 % longer than
    # the best: the order must come from obstacle-aware distances
    "wall": ([(220, -123), (-75, -11), (-271, -240), (41, 0), (78, 189)], [], True),
    "six-points": ([(-300, 250), (-250, -200), (250, 280), (300, -250), (150, 0), (-100, 50)],
                   [], False),
    # points and lines (a line may be flown either way)
    "mixed": ([(-250, 200), (200, -150), (150, 220)],
              [((-200, -250), (-200, -50)), ((80, -40), (300, -40))], False),
}


@pytest.mark.parametrize("scene", list(PATROL_SCENES))
def test_patrol_order_is_within_5_percent_of_brute_force(scene):
    pts, lns, wall_matters = PATROL_SCENES[scene]
    pois = [Poi(geo(Point(p)), f"p{i}") for i, p in enumerate(pts)]
    pois += [Poi(geo(LineString(ln)), f"l{i}") for i, ln in enumerate(lns)]
    home = GEN.to_geo(-350.0, 0.0)
    plan = make_plan(PlanRequest(area=Polygon(), pois=pois, camera=CATALOG["mavic3e"],
                                 zones=[Zone(geo(WALL), None, "wall")], altitude_m=60.0,
                                 home_latlon=(home[1], home[0]), margin_m=MARGIN_M))
    assert len(plan.sorties) == 1
    sortie = plan.sorties[0]
    visits = patrol_visits(plan)
    points, lines = split_visits(visits)
    assert len(points) == len(pts) and len(lines) == len(lns)

    def here(p: XY) -> XY:
        return plan.frame.geom_to_local(geo(Point(p))).coords[0]

    tasks = [(here(p), here(p)) for p in pts] + [(here(a), here(b)) for a, b in lns]
    router = Router(plan.keepout, fence_polygon(plan, 0))
    optimum = brute_force(tasks, plan.home_xy, router)
    assert sortie.distance_m <= 1.05 * optimum
    # the distance reported is that of the obstacle-aware tour through the tasks as flown
    assert sortie.distance_m == pytest.approx(tour_length(visits, plan.home_xy, router),
                                              rel=1e-6)
    if wall_matters:  # the scene really tells straight-line from obstacle-aware ordering
        straight = Router(Polygon())
        naive = min(itertools.permutations(tasks),
                    key=lambda o: tour_length(list(o), plan.home_xy, straight))
        assert tour_length(list(naive), plan.home_xy, router) > 1.1 * optimum

    wall = plan.frame.geom_to_local(geo(WALL))
    for g in (sortie.route, flown(plan, sortie)):
        assert g.distance(wall) >= MARGIN_M - 0.05


def test_patrol_round_a_no_fly_zone_reaching_past_the_fence():
    """BUG: the inclusion fence is the points' hull + 30 m; a no-fly zone that reaches across
    it leaves no way round inside the fence, and make_plan raises "no obstacle-free path from
    (x, y) to (x, y)" instead of flying round the zone's end."""
    wall = box(-20, -450, 20, 450)
    pts = [(-200, 150), (200, 150), (200, -150), (-200, -150)]
    home = GEN.to_geo(-300.0, 0.0)
    plan = make_plan(PlanRequest(area=Polygon(), pois=[Poi(geo(Point(p)), f"p{i}")
                                                       for i, p in enumerate(pts)],
                                 camera=CATALOG["mavic3e"], zones=[Zone(geo(wall), None, "wall")],
                                 altitude_m=60.0, home_latlon=(home[1], home[0])))
    points, _ = split_visits(patrol_visits(plan))
    assert len(points) == len(pts)
    local = plan.frame.geom_to_local(geo(wall))
    for s in plan.sorties:
        assert flown(plan, s).distance(local) >= MARGIN_M - 0.05


def test_survey_area_split_by_a_no_fly_corridor_is_planned():
    """BUG: a river-like no-fly corridor across the whole field (reaching 100 m past it) splits
    the free space inside the inclusion fence (area hull + 30 m); make_plan raises
    "no obstacle-free path from (x, y) to (x, y)" (no file named) instead of covering the side
    it can reach and reporting or routing round to the other."""
    field = box(0, 0, 600, 400)
    corridor = box(280, -100, 320, 500)
    plan = make_plan(PlanRequest(area=geo(field), zones=[Zone(geo(corridor), None, "river")],
                                 camera=CATALOG["mavic3e"], altitude_m=80.0, margin_m=MARGIN_M))
    local = plan.frame.geom_to_local(geo(corridor))
    free = plan.area.difference(plan.keepout)
    accounted = shapely.union_all([plan.covered, plan.unreachable])
    assert accounted.intersection(free).area >= 0.99 * free.area
    assert plan.covered.area >= 0.45 * free.area
    for s in plan.sorties:
        assert flown(plan, s).distance(local) >= MARGIN_M - 0.05


def test_footprints_union_equals_the_union_of_every_footprint():
    from missions.plan.model import footprints_union
    from missions.plan.planner import _photos
    from missions.plan.sorties import Task

    cam = CATALOG["mavic3e"]
    tasks = [Task(((0.0, 0.0), (0.0, 300.0), (40.0, 420.0), (40.0, 700.0))),  # a bent line
             Task(((60.0, 700.0), (60.0, 0.0))),  # back the other way
             Task(((200.0, 5.0),), trigger=False),  # a hover photo
             Task(((300.0, 0.0), (300.0, 3.0)))]  # shorter than the trigger distance
    for trigger_m in (8.0, 21.0, 90.0):  # the last leaves gaps between footprints
        photos = [p for t in tasks for p in _photos(t, trigger_m)]
        exact = shapely.union_all([p.footprint(cam, 80.0) for p in photos])
        fast = footprints_union(photos, cam, 80.0)
        assert fast.symmetric_difference(exact).area < 1e-6 * exact.area
