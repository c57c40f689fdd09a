"""The built-in vehicle over terrain: a synthetic valley DEM, a terrain-following plan in
MAV_FRAME_GLOBAL (altitudes above sea level from the DEM), landing on the slope, and a waypoint
below the ground."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.transform import Affine

from mapping.dem import Dem
from sitl.builtin import BuiltinCopter, CopterMode, TrackPoint, telemetry
from sitl.builtin.copter import Copter
from sitl.builtin.geo import LocalFrame
from sitl.builtin.params import ParamStore
from sitl.builtin.protocol import mavlink as M
from sitl.builtin.terrain import Ground
from tests.sitl.conftest import Gcs

HOME_LAT, HOME_LON = 35.3606, 138.7274
FRAME = LocalFrame(HOME_LAT, HOME_LON)
CRS = "EPSG:32654"  # UTM 54N
FLOOR_M, DEPTH_M, HALF_WIDTH_M = 300.0, 60.0, 500.0
HOME_FROM_FLOOR_M = 250.0
"""Home is on the west slope, this far from the valley floor."""
PIXEL_M = 10.0
HEIGHT_M = 50.0
SPACING_M = 30.0
LAND_EAST_M = 630.0
"""The plan's end and landing point: high on the east slope (ground 18 m above home)."""
SPEEDUP = 60.0
TIMEOUT_S = 120.0
"""Real seconds a whole flight may take (a deadline, not a pace: the flight itself runs on the
simulated clock)."""
CRASH = "Crash: hit terrain"


def valley_dem() -> Dem:
    """A V valley running north-south: floor at FLOOR_M, rims DEPTH_M higher HALF_WIDTH_M to
    either side; home on the west slope."""
    to_utm = Transformer.from_crs(4326, CRS, always_xy=True)
    hx, hy = to_utm.transform(HOME_LON, HOME_LAT)
    floor_x = hx + HOME_FROM_FLOOR_M
    west, north = floor_x - 700.0, hy + 300.0
    cols, rows = 140, 60
    xs = west + (np.arange(cols) + 0.5) * PIXEL_M
    heights = FLOOR_M + DEPTH_M * np.minimum(np.abs(xs - floor_x), HALF_WIDTH_M) / HALF_WIDTH_M
    transform = Affine(PIXEL_M, 0.0, west, 0.0, -PIXEL_M, north)  # north-up, 10 m pixels
    return Dem(np.tile(heights, (rows, 1)), transform, CRS)


DEM = valley_dem()


def ground_m(lat_deg: float, lon_deg: float) -> float:
    return float(DEM.height_at(lon_deg, lat_deg))


HOME_ALT_M = ground_m(HOME_LAT, HOME_LON)


def e7(north_m: float, east_m: float) -> tuple[int, int]:
    lat, lon = FRAME.to_latlon(north_m, east_m)
    return round(lat * 1e7), round(lon * 1e7)


def ground_at(east_m: float) -> float:
    x, y = e7(0.0, east_m)
    return ground_m(x * 1e-7, y * 1e-7)


def item(command: int, east_m: float = 0.0, alt: float = 0.0, *,
         frame: int = M.MAV_FRAME_GLOBAL_INT) -> tuple[float, ...]:
    x, y = e7(0.0, east_m) if east_m else (0, 0)
    return (frame, command, 0, 0, 0, 0, x, y, alt)


def waypoint(east_m: float, height_m: float) -> tuple[float, ...]:
    """A MAV_FRAME_GLOBAL waypoint ``height_m`` above the DEM (what `survey plan --dem`
    writes)."""
    return item(M.MAV_CMD_NAV_WAYPOINT, east_m, ground_at(east_m) + height_m)


def plan(waypoints: list[tuple[float, ...]], takeoff_m: float = HEIGHT_M
         ) -> list[tuple[float, ...]]:
    """Home, take-off to ``takeoff_m`` above home, ``waypoints``, land where the last one is."""
    rel = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    return [item(M.MAV_CMD_NAV_WAYPOINT), item(M.MAV_CMD_NAV_TAKEOFF, 0, takeoff_m, frame=rel),
            *waypoints, item(M.MAV_CMD_NAV_LAND, frame=rel)]


def height_above_dem(p: TrackPoint) -> float:
    return HOME_ALT_M + p.alt_rel_m - ground_m(p.lat_deg, p.lon_deg)


def east_of(p: TrackPoint) -> float:
    return FRAME.to_ne(p.lat_deg, p.lon_deg)[1]


def armed(h: Any) -> bool:
    return bool(h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)


def fly(gcs: Gcs, mission: list[tuple[float, ...]], *, terrain: bool = True) -> list[Any]:
    """Upload, fly in AUTO to the end (landed, disarmed); the messages received meanwhile
    (positions at 2 Hz, TERRAIN_REPORT at 1 Hz over ``terrain``)."""
    gcs.wait_ready()
    assert gcs.upload(mission) == M.MAV_MISSION_ACCEPTED
    gcs.stream(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 2)
    if terrain:
        gcs.stream(M.MAVLINK_MSG_ID_TERRAIN_REPORT, 1)
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.set_mode(CopterMode.AUTO) == M.MAV_RESULT_ACCEPTED
    assert gcs.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
    gcs.expect("HEARTBEAT", armed)
    return gcs.collect(["HEARTBEAT", "GLOBAL_POSITION_INT", "TERRAIN_REPORT", "STATUSTEXT"],
                       lambda m: m.get_type() == "HEARTBEAT" and not armed(m),
                       timeout_s=TIMEOUT_S)


@pytest.fixture
def terrain_vehicle() -> Iterator[BuiltinCopter]:
    with BuiltinCopter(HOME_LAT, HOME_LON, speedup=SPEEDUP, terrain=DEM) as v:
        yield v


@pytest.fixture
def terrain_gcs(terrain_vehicle: BuiltinCopter) -> Iterator[Gcs]:
    g = Gcs(terrain_vehicle.url)
    yield g
    g.close()


def test_the_valley_is_what_the_tests_assume() -> None:
    assert HOME_ALT_M == pytest.approx(FLOOR_M + DEPTH_M * HOME_FROM_FLOOR_M / HALF_WIDTH_M,
                                       abs=0.5)
    assert min(ground_at(e) for e in range(0, 640, 10)) == pytest.approx(FLOOR_M, abs=1.0)
    assert ground_at(LAND_EAST_M) - HOME_ALT_M > 15


class _Quiet:
    """Events nobody listens to."""

    def text(self, severity: int, text: str) -> None: ...

    def item_reached(self, seq: int) -> None: ...

    def mission_current(self) -> None: ...

    def camera_shot(self, shot: Any) -> None: ...

    def home_changed(self) -> None: ...


def test_outside_the_dem_the_ground_is_the_home_altitude() -> None:
    ground = Ground(DEM, FRAME, 123.0)
    alt, known = ground.sample(0.0, 0.0)
    assert known and alt == pytest.approx(HOME_ALT_M)
    assert ground.sample(0.0, 2000.0) == (123.0, False)  # 1 km east of the DEM's edge
    copter = Copter(FRAME, 123.0, ParamStore(), _Quiet(), terrain=DEM)
    assert copter.ground_alt_m == pytest.approx(HOME_ALT_M)  # starts on the DEM
    copter.body.east_m, copter.body.alt_m = 2000.0, 150.0
    report = telemetry.terrain_report(copter)
    assert (report.spacing, report.terrain_height, report.current_height) == (0, 123.0, 27.0)


def test_home_and_ground_start_on_the_terrain(terrain_vehicle: BuiltinCopter) -> None:
    state = terrain_vehicle.wait_for(lambda s: s.ready, timeout_s=10)
    assert state.alt_amsl_m == pytest.approx(HOME_ALT_M, abs=1e-6)
    assert state.ground_alt_m == pytest.approx(HOME_ALT_M, abs=1e-6)
    home = terrain_vehicle.stored_items()[0]  # home set when the EKF got its origin
    assert home.z == pytest.approx(HOME_ALT_M, abs=0.01)


def test_terrain_following_plan_keeps_its_height_and_lands_on_the_slope(
        terrain_vehicle: BuiltinCopter, terrain_gcs: Gcs) -> None:
    line = [waypoint(e, HEIGHT_M) for e in np.arange(SPACING_M, LAND_EAST_M + 1, SPACING_M)]
    events = fly(terrain_gcs, plan(line))

    state = terrain_vehicle.state()
    assert state.landed and not state.armed
    landed_on = ground_m(state.lat_deg, state.lon_deg)
    assert abs(FRAME.to_ne(state.lat_deg, state.lon_deg)[1] - LAND_EAST_M) < 1.0
    assert state.alt_amsl_m == pytest.approx(landed_on, abs=0.01)
    assert state.ground_alt_m == pytest.approx(landed_on, abs=0.01)
    assert state.alt_rel_m == pytest.approx(landed_on - HOME_ALT_M, abs=0.01)
    assert state.alt_rel_m > 15  # landed on the slope, well above home: not on flat ground

    track = terrain_vehicle.track()
    cruise = [p for p in track if SPACING_M <= east_of(p) <= LAND_EAST_M - 1.0]
    assert len(cruise) > 500
    heights = [height_above_dem(p) for p in cruise]
    assert min(heights) > HEIGHT_M - 2 and max(heights) < HEIGHT_M + 2
    rel = [p.alt_rel_m for p in cruise]
    assert max(rel) - min(rel) > 40  # it went down into the valley and up again
    assert not any(m.get_type() == "STATUSTEXT" and m.text.startswith(CRASH) for m in events)

    positions = [m for m in events if m.get_type() == "GLOBAL_POSITION_INT"]
    assert all(abs(m.alt - m.relative_alt - HOME_ALT_M * 1000) <= 2 for m in positions)
    reports = [m for m in events if m.get_type() == "TERRAIN_REPORT"]
    assert len(reports) > 20
    for r in reports:
        under = ground_m(r.lat * 1e-7, r.lon * 1e-7)
        assert r.spacing > 0 and r.terrain_height == pytest.approx(under, abs=0.01)
    flying = [r for r in reports if SPACING_M + 5 < FRAME.to_ne_e7(r.lat, r.lon)[1]
              < LAND_EAST_M - 5]
    assert flying and all(abs(r.current_height - HEIGHT_M) < 2 for r in flying)
    assert reports[-1].current_height == pytest.approx(0.0, abs=0.01)


def test_a_waypoint_below_the_ground_is_stopped_at_it_and_reported(
        terrain_vehicle: BuiltinCopter, terrain_gcs: Gcs) -> None:
    # into the valley, then a waypoint 15 m under the floor, then up the far slope
    mission = plan([waypoint(100, 20), waypoint(250, -15), waypoint(400, 20)])
    events = fly(terrain_gcs, mission)

    crashes = [m.text for m in events if m.get_type() == "STATUSTEXT"
               and m.text.startswith(CRASH)]
    assert len(crashes) == 1
    crash = next(t for t in terrain_vehicle.status_texts() if t.text.startswith(CRASH))
    assert crash.severity == M.MAV_SEVERITY_CRITICAL
    track = terrain_vehicle.track()
    heights = [height_above_dem(p) for p in track]
    assert min(heights) > -0.01  # never under the ground
    touched = [p for p, h in zip(track, heights, strict=True) if h < 0.05 and 50 < east_of(p)
               < 350]
    assert touched and all(p.armed and p.mode == "AUTO" for p in touched)
    state = terrain_vehicle.state()
    assert state.landed and not state.armed  # the mission went on past it, to the landing
    assert abs(FRAME.to_ne(state.lat_deg, state.lon_deg)[1] - 400) < 1.0
    assert state.alt_amsl_m == pytest.approx(ground_m(state.lat_deg, state.lon_deg), abs=0.01)


def test_rtl_lands_at_home_on_the_slope(terrain_vehicle: BuiltinCopter,
                                       terrain_gcs: Gcs) -> None:
    mission = plan([waypoint(200, 30)])
    mission[-1] = item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, frame=M.MAV_FRAME_MISSION)
    fly(terrain_gcs, mission)
    state = terrain_vehicle.state()
    assert state.landed and math.dist(FRAME.to_ne(state.lat_deg, state.lon_deg), (0, 0)) < 1.0
    assert state.alt_amsl_m == pytest.approx(HOME_ALT_M, abs=0.01)


def test_terrain_relative_waypoint_follows_the_ground(terrain_vehicle: BuiltinCopter,
                                                     terrain_gcs: Gcs) -> None:
    terrain = M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT
    mission = plan([item(M.MAV_CMD_NAV_WAYPOINT, 450, 40, frame=terrain)], takeoff_m=40)
    fly(terrain_gcs, mission)
    track = terrain_vehicle.track()
    leg = [p for p in track if 100 <= east_of(p) <= 440]
    assert len(leg) > 200 and all(abs(height_above_dem(p) - 40) < 2 for p in leg)
    # a fixed altitude would have been 40 m above the ground at the waypoint: 15 m higher
    # than this over the valley floor
    assert min(p.alt_rel_m for p in leg) < 40 - 20


def test_flat_ground_without_terrain_is_unchanged(vehicle: BuiltinCopter, gcs: Gcs) -> None:
    """The default vehicle (conftest: home 100 m AMSL, no terrain): ground at home everywhere,
    no TERRAIN_REPORT."""
    assert gcs.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, M.MAVLINK_MSG_ID_TERRAIN_REPORT, 1e6) \
        == M.MAV_RESULT_FAILED
    mission = [item(M.MAV_CMD_NAV_WAYPOINT),
               item(M.MAV_CMD_NAV_TAKEOFF, 0, 10, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT),
               item(M.MAV_CMD_NAV_WAYPOINT, 60, 10, frame=M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT),
               item(M.MAV_CMD_NAV_LAND, frame=M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT)]
    gcs.m.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_ALL, 4, 1)
    events = fly(gcs, mission, terrain=False)
    assert not any(m.get_type() == "TERRAIN_REPORT" for m in events)
    state = vehicle.state()
    assert state.landed and state.alt_amsl_m == pytest.approx(100.0, abs=1e-6)
    assert state.ground_alt_m == 100.0
    track = vehicle.track()
    assert max(p.alt_rel_m for p in track) == pytest.approx(10, abs=0.3)  # terrain frame: home
