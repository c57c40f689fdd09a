"""Several drones over one area (missions.plan.fleet): property tests over random areas with
obstacles (the planner's scene strategy), and the fleet file, homes, notes and files.

Invariants: the photo footprints of all drones cover ≥ 99 % of the free area (less what is
reported unreachable); no route nears a blocking zone; the makespan is within 15 % of the mean
drone time; parts are disjoint, cover the area, and each drone's photos lie in its own part
(grown by half a footprint).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box

from missions.plan import fleet as fleet_mod
from missions.plan.drone import DroneProfile, Wind
from missions.plan.fleet import (
    FleetDrone,
    FleetPlan,
    copies,
    make_fleet_plan,
    read_fleet,
    write_fleet_files,
)
from missions.plan.inputs import Poi, Zone
from missions.plan.planner import PlanRequest, make_plan
from survey.core.camera import CATALOG
from survey.core.errors import InputError, ParamError, PlanningError
from tests.missions.test_planner_properties import GEN, MARGIN_M, mission_polyline, scenes

CAMERA = CATALOG["mavic3e"]


def request(area_local: Polygon, zones=(), altitude: float = 60.0, **drone) -> PlanRequest:
    return PlanRequest(area=GEN.geom_to_geo(area_local), zones=list(zones), camera=CAMERA,
                       altitude_m=altitude, margin_m=MARGIN_M,
                       drone=DroneProfile(max_range_m=5000.0, **drone))


def photo_points(fleet: FleetPlan, k: int) -> np.ndarray:
    """Drone ``k``'s photo centres in the fleet's frame, (n, 2)."""
    d = fleet.drones[k]
    xy = np.array([(p.x_m, p.y_m) for s in d.plan.sorties for p in s.photos])
    lon, lat = d.plan.frame.to_geo(xy[:, 0], xy[:, 1])
    return np.column_stack(fleet.frame.to_local(lon, lat))


def footprints(fleet: FleetPlan):
    return shapely.union_all([fleet.local(d, p.footprint(d.plan.camera, d.plan.altitude_m))
                              for d in fleet.drones for s in d.plan.sorties for p in s.photos])


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(scene=scenes(), n=st.integers(2, 4), altitude=st.floats(40.0, 120.0),
       endurance_min=st.floats(6.0, 30.0),
       wind=st.one_of(st.just(Wind()), st.builds(Wind, st.floats(0.5, 6.0), st.floats(0, 360))))
def test_fleet_invariants(scene, n, altitude, endurance_min, wind):
    area, zones = scene
    drone = DroneProfile(endurance_s=endurance_min * 60.0, max_range_m=5000.0, wind=wind)
    req = PlanRequest(area=area, zones=zones, camera=CAMERA, altitude_m=altitude, drone=drone,
                      margin_m=MARGIN_M)
    try:
        fleet = make_fleet_plan(req, copies(n))
    except PlanningError:
        assume(False)
        return
    frame = fleet.frame
    blocking = [frame.geom_to_local(z.geometry) for z in zones
                if z.height_m is None or z.height_m > altitude - 20.0]
    across, along = CAMERA.footprint_m(altitude)

    # 1. Photo footprints of all drones cover ≥ 99 % of the free area, seams included.
    free = fleet.area.difference(shapely.union_all([z.buffer(MARGIN_M) for z in blocking]))
    unreachable = shapely.union_all([fleet.local(d, d.plan.unreachable) for d in fleet.drones])
    target = free.difference(unreachable)
    assume(target.area > 1000.0)
    covered = target.intersection(footprints(fleet)).area / target.area
    assert covered >= 0.99, covered

    # 2. No route (geometry and mission items) nears a blocking zone.
    for d in fleet.drones:
        own = [d.plan.frame.geom_to_local(z.geometry) for z in zones
               if z.height_m is None or z.height_m > altitude - 20.0]
        for s in d.plan.sorties:
            for line in (s.route, mission_polyline(d.plan, s)):
                for z in own:
                    assert line.distance(z) >= MARGIN_M - 0.05, (d.name, s.number)

    # 3. Equal flight time: the makespan within 15 % of the mean drone time, where each drone
    # has at least four photos' worth of free area (below that a part's time is its climb and
    # a line or two, a staircase in its size and shape) and all fly as many sorties (a part
    # just over one battery's worth jumps by a sortie's climb, descent and transit).
    times = [d.time_s for d in fleet.drones]
    same_sorties = len({len(d.plan.sorties) for d in fleet.drones}) == 1
    if fleet.free.area / n >= 4 * across * along and same_sorties:
        assert max(times) <= 1.15 * sum(times) / n, times
    assert fleet.makespan_s == max(times)
    assert fleet.total_time_s == pytest.approx(sum(times))

    # 4. Parts are disjoint, make up the area (to under a square metre: they are cut on a
    # millimetre grid, finer than the planner's 0.5 m detail), and hold their drone's photos.
    for i, a in enumerate(fleet.drones):
        for b in fleet.drones[i + 1:]:
            assert a.part.intersection(b.part).area < 1.0, (a.name, b.name)
    union = shapely.union_all([d.part for d in fleet.drones])
    assert union.symmetric_difference(fleet.area).area < 1.0
    for k, d in enumerate(fleet.drones):
        grown = d.part.buffer(min(across, along) / 2)
        far = shapely.distance(grown, shapely.points(photo_points(fleet, k))).max()
        assert far < 0.5, (d.name, far)


@pytest.mark.parametrize("shape", ["strip", "star"])
def test_twice_as_fast_drone_gets_larger_part_in_equal_time(shape):
    if shape == "strip":
        area = box(-400, -150, 400, 150)
    else:
        area = Polygon([(-420, -60), (-100, -220), (380, -180), (300, 60), (420, 240),
                        (-60, 160), (-380, 220)])
    req = request(area, altitude=50.0)
    fleet = make_fleet_plan(req, [FleetDrone("slow"), FleetDrone("fast", cruise_speed_m_s=20.0)])
    slow, fast = fleet.drones
    assert fast.plan.drone.cruise_speed_m_s == 20.0 and slow.plan.drone.cruise_speed_m_s == 10.0
    assert fast.part.area > 1.4 * slow.part.area, (fast.part.area, slow.part.area)
    assert fast.time_s == pytest.approx(slow.time_s, rel=0.1)
    # The same two at one speed split the area about evenly.
    even = make_fleet_plan(req, copies(2))
    small, large = sorted(d.part.area for d in even.drones)
    assert large < 1.25 * small


def test_a_farther_home_gets_a_smaller_part_in_equal_time():
    near_lon, near_lat = GEN.to_geo(-400.0, 0.0)
    far_lon, far_lat = GEN.to_geo(1200.0, 0.0)  # 800 m beyond the east edge
    drones = [FleetDrone("near", home_latlon=(near_lat, near_lon)),
              FleetDrone("far", home_latlon=(far_lat, far_lon))]
    fleet = make_fleet_plan(request(box(-400, -150, 400, 150), altitude=50.0), drones)
    near, far = fleet.drones
    assert far.part.area < 0.9 * near.part.area, (far.part.area, near.part.area)
    assert far.time_s == pytest.approx(near.time_s, rel=0.1)


def test_one_drone_is_the_plain_plan():
    req = request(box(-300, -200, 300, 200))
    fleet = make_fleet_plan(req, [FleetDrone("solo")])
    alone = make_plan(req)
    assert fleet.drones[0].part.symmetric_difference(fleet.area).area < 1e-6
    assert fleet.drones[0].time_s == pytest.approx(alone.time_s, rel=0.02)
    assert fleet.balance == pytest.approx(1.0)


def test_homes_choose_the_sides_and_stay_off_the_seams():
    area = box(-500, -100, 500, 100)
    west, east = (GEN.to_geo(-480.0, -100.0), GEN.to_geo(480.0, -100.0))
    drones = [FleetDrone("e", home_latlon=(east[1], east[0])),
              FleetDrone("w", home_latlon=(west[1], west[0]))]
    fleet = make_fleet_plan(request(area), drones)
    e, w = fleet.drones
    assert e.part.centroid.x > 0 > w.part.centroid.x
    for d in fleet.drones:
        home = Point(fleet.frame.to_local(d.plan.home_lon_deg, d.plan.home_lat_deg))
        assert d.part.distance(home) < 1.0
        assert not any("crosses" in n for n in d.plan.notes), d.plan.notes
    # Default homes: on each part's outline, away from the other parts (not on the seam).
    fleet = make_fleet_plan(request(area), copies(3))
    for d in fleet.drones:
        home = Point(fleet.frame.to_local(d.plan.home_lon_deg, d.plan.home_lat_deg))
        others = shapely.union_all([o.part for o in fleet.drones if o is not d])
        assert d.part.exterior.distance(home) < 1.0
        assert others.distance(home) >= 19.0
        assert not any("crosses" in n for n in d.plan.notes), d.plan.notes  # convex parts


def test_a_transit_across_another_part_is_reported():
    area = box(-500, -100, 500, 100)
    lon, lat = GEN.to_geo(-520.0, 0.0)
    lon2, lat2 = GEN.to_geo(-510.0, 0.0)
    drones = [FleetDrone("a", home_latlon=(lat, lon)), FleetDrone("b", home_latlon=(lat2, lon2))]
    fleet = make_fleet_plan(request(area), drones)
    a, b = fleet.drones
    assert b.part.centroid.x > a.part.centroid.x  # b's home is the farther east of the two
    crossing = [n for n in b.plan.notes if "crosses a's part" in n]
    assert crossing, b.plan.notes
    assert any(n.startswith("b: the route crosses a's part") for n in fleet.notes)
    # Both take off from nearly one place at once: the closest approach is a warning.
    assert any(n.startswith("warning: closest approach") for n in fleet.notes), fleet.notes


def test_home_in_a_zone_names_the_fleet_file():
    zone = Zone(GEN.geom_to_geo(Point(-300, 0).buffer(30)), None, "tower")
    lon, lat = GEN.to_geo(-300.0, 0.0)
    drones = [FleetDrone("a", home_latlon=(lat, lon), source="fleet.json"), FleetDrone("b")]
    with pytest.raises(InputError) as err:
        make_fleet_plan(request(box(-500, -100, 500, 100), [zone]), drones)
    assert str(err.value).startswith("fleet.json: drone 'a': home")


def test_fleet_refusals():
    req = request(box(-200, -100, 200, 100))
    with pytest.raises(ParamError):
        make_fleet_plan(req, [])
    with pytest.raises(ParamError):
        make_fleet_plan(req, [FleetDrone("a"), FleetDrone("A")])
    with pytest.raises(ParamError):
        copies(0)
    patrol = PlanRequest(area=req.area, camera=CAMERA, pois=[Poi(GEN.geom_to_geo(Point(0, 0)),
                                                                 "p")])
    with pytest.raises(InputError, match="surveys only"):
        make_fleet_plan(patrol, copies(2))


def test_drones_take_the_commands_values_where_the_file_has_none():
    req = request(box(-400, -150, 400, 150), endurance_s=20 * 60.0)
    fleet = make_fleet_plan(req, [FleetDrone("a", camera=CATALOG["phantom3-fc300s"],
                                             endurance_s=30 * 60.0), FleetDrone("b")])
    a, b = fleet.drones
    assert a.plan.camera.name == "phantom3-fc300s" and b.plan.camera is CAMERA
    assert a.plan.drone.endurance_s == 1800.0 and b.plan.drone.endurance_s == 1200.0
    assert a.plan.drone.cruise_speed_m_s == b.plan.drone.cruise_speed_m_s == 10.0


# --- the fleet file ------------------------------------------------------------------------

def test_read_fleet_forms(tmp_path: Path):
    f = tmp_path / "fleet.json"
    f.write_text(json.dumps({"drones": [
        {"name": "alpha", "home": [36.07, 139.98], "camera": "mavic3e", "speed_m_s": 12,
         "endurance_min": 30},
        {"home": "36.071,139.981"},
    ]}))
    a, b = read_fleet(f)
    assert (a.name, a.home_latlon, a.camera, a.cruise_speed_m_s, a.endurance_s) == (
        "alpha", (36.07, 139.98), CAMERA, 12.0, 1800.0)
    assert (b.name, b.home_latlon, b.camera, b.cruise_speed_m_s, b.endurance_s) == (
        "drone2", (36.071, 139.981), None, None, None)
    assert a.source == str(f)


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "not a readable JSON file"),
    ("[]", "non-empty list of drones"),
    ('{"fleet": []}', "got an object with keys 'fleet'"),
    ('[{"name": "a"}]', "drone 1 ('a'): no `home`"),
    ('[{"name": "a", "home": "36.07"}]', "drone 1 ('a'): `home`: expected LAT,LON"),
    ('[{"name": "a", "home": [36.07, 200]}]', "longitude 200 is out of range"),
    ('[{"name": "a", "home": {"lat": 36}}]', "`home` must be"),
    ('[{"name": "a", "home": "36,140", "camera": "nikon"}]', "unknown camera 'nikon'"),
    ('[{"name": "a", "home": "36,140", "speed_m_s": 0}]', "`speed_m_s` must be 0.5–40 m/s"),
    ('[{"name": "a", "home": "36,140", "speed_m_s": -3}]', "got -3"),
    ('[{"name": "a", "home": "36,140", "speed_m_s": "fast"}]', "`speed_m_s` must be a number"),
    ('[{"name": "a", "home": "36,140", "speed_m_s": true}]', "`speed_m_s` must be a number"),
    ('[{"name": "a", "home": "36,140", "endurance_min": 0}]', "`endurance_min` must be 1–600"),
    ('[{"name": "a", "home": "36,140", "speed_m_s": NaN}]', "NaN is not JSON"),
    ('[{"name": "a", "home": "36,140", "speed": 3}]', "unknown field(s) 'speed'"),
    ('[{"name": "../x", "home": "36,140"}]', "not a folder name"),
    ('[{"name": "summary.json", "home": "36,140"}]', "not a folder name"),
    ('[{"name": "a", "home": "36,140"}, {"name": "A", "home": "36,140"}]', "used twice"),
    ('["a"]', "drone 1: expected an object"),
])
def test_read_fleet_errors(tmp_path: Path, text: str, problem: str):
    f = tmp_path / "fleet.json"
    f.write_text(text)
    with pytest.raises(InputError) as err:
        read_fleet(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: ") and problem in msg and "\n" not in msg, msg


def test_read_fleet_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="no such file"):
        read_fleet(tmp_path / "none.json")


# --- files ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_fleets() -> tuple[FleetPlan, FleetPlan]:
    req = request(box(-300, -120, 300, 120), altitude=80.0)
    return make_fleet_plan(req, copies(3)), make_fleet_plan(req, copies(2))


def test_write_fleet_files(tmp_path: Path, small_fleets):
    three, two = small_fleets
    out = tmp_path / "out"
    written = write_fleet_files(three, out)
    assert all(p.is_file() for p in written)
    summary = json.loads((out / "summary.json").read_text())["fleet"]
    assert summary["makespan_s"] == pytest.approx(three.makespan_s)
    assert [d["name"] for d in summary["drones"]] == ["drone1", "drone2", "drone3"]
    for d, entry in zip(three.drones, summary["drones"], strict=True):
        assert entry["time_s"] == pytest.approx(d.time_s)
        assert entry["photos"] == d.plan.photo_count
        assert entry["part_area_m2"] == pytest.approx(d.part.area)
        assert (out / d.name / "sortie_01.plan").is_file()
        assert (out / d.name / "summary.json").is_file()
    assert sum(e["part_area_m2"] for e in summary["drones"]) == pytest.approx(summary["area_m2"])

    # A drone folder's other files (a flight record) survive a re-plan; the sortie files of
    # a drone the new fleet no longer has are removed, so none is flown by mistake.
    (out / "drone1" / "flight").mkdir()
    (out / "drone1" / "flight" / "log.jsonl").write_text("{}\n")
    write_fleet_files(two, out)
    assert (out / "drone1" / "flight" / "log.jsonl").is_file()
    assert (out / "drone2" / "sortie_01.plan").is_file()
    assert not list((out / "drone3").glob("sortie_*"))
    summary = json.loads((out / "summary.json").read_text())["fleet"]
    assert [d["name"] for d in summary["drones"]] == ["drone1", "drone2"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_write_fleet_files_is_all_or_nothing(tmp_path: Path, small_fleets, monkeypatch):
    three, two = small_fleets
    out = tmp_path / "out"
    write_fleet_files(two, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = fleet_mod.write_plan_files
    calls = []

    def failing(plan, folder):
        calls.append(folder)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(plan, folder)

    monkeypatch.setattr(fleet_mod, "write_plan_files", failing)
    with pytest.raises(OSError, match="disk full"):
        write_fleet_files(three, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_fleet_files_refuses_a_file_as_folder(tmp_path: Path, small_fleets):
    out = tmp_path / "out"
    out.write_text("not a folder")
    with pytest.raises(InputError, match="an output may only replace a folder"):
        write_fleet_files(small_fleets[1], out)
