"""Terrain following on synthetic valleys (and a real DEM tile when matplotlib's is installed)."""

from __future__ import annotations

import importlib.util
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rasterio.transform import Affine
from shapely.geometry import box

from mapping.dem import Dem, open_dem
from missions.plan.drone import DroneProfile
from missions.plan.inputs import Zone
from missions.plan.terrain import (
    check_ceiling,
    check_clearance,
    climb_time_s,
    default_step_m,
    follow_terrain,
    line_agl_floor,
)
from missions.plan.terrain_synth import synthetic_valley, write_geotiff
from survey.core.errors import InputError, PlanningError
from survey.core.frame import LocalFrame

FRAME = LocalFrame(36.0712, 139.9812)  # Jōsō, Ibaraki
VALLEY = synthetic_valley(FRAME, size_m=2000.0, depth_m=60.0, along_slope=0.02, axis_deg=20.0)
U_VALLEY = synthetic_valley(FRAME, size_m=2000.0, depth_m=80.0, shape="U", axis_deg=-35.0,
                            floor_width_m=100.0, pixel_m=10.0)
FLAT = synthetic_valley(FRAME, size_m=2000.0, depth_m=0.0, along_slope=0.0, river_depth_m=0.0)
ZIGZAG = [(-700.0, -600.0), (700.0, -500.0), (650.0, 300.0), (-700.0, 200.0)]


def dense(points: np.ndarray, step_m: float = 1.0) -> np.ndarray:
    """Points every ``step_m`` or less along a polyline (any number of columns), linear."""
    out = [points[:1]]
    for a, b in itertools.pairwise(points):
        n = max(int(np.ceil(np.hypot(*(b[:2] - a[:2])) / step_m)), 1)
        out.append(a + np.linspace(0.0, 1.0, n + 1)[1:, None] * (b - a))
    return np.vstack(out)


def ground(dem: Dem, xy: np.ndarray, frame: LocalFrame = FRAME) -> np.ndarray:
    lon, lat = frame.to_geo(xy[:, 0], xy[:, 1])
    return dem.height_at(lon, lat)


def deviation(p: np.ndarray, dem: Dem, agl_m: float, frame: LocalFrame = FRAME) -> np.ndarray:
    """Flown altitude minus ground + agl, every metre along the 3-D path."""
    d = dense(p)
    return d[:, 2] - ground(dem, d, frame) - agl_m


def assert_keeps_vertices(p: np.ndarray, path: list[tuple[float, float]]) -> None:
    """Each input vertex is an output row, in order, the first and last rows the path's ends."""
    rows = [-1]
    for x, y in path:
        later = np.flatnonzero((p[:, 0] == x) & (p[:, 1] == y) & (np.arange(len(p)) > rows[-1]))
        assert len(later), f"vertex {(x, y)} lost"
        rows.append(int(later[0]))
    assert rows[1] == 0 and rows[-1] == len(p) - 1


def test_profile_stays_within_tolerance_with_few_vertices():
    p = follow_terrain(ZIGZAG, FRAME, VALLEY, agl_m=100.0, tol_m=2.0)
    assert np.abs(deviation(p, VALLEY, 100.0)).max() <= 2.0
    assert_keeps_vertices(p, ZIGZAG)
    samples = len(dense(np.asarray(ZIGZAG), default_step_m(VALLEY, FRAME)))
    assert len(ZIGZAG) < len(p) < samples / 20
    # The added vertices lie on the input legs: the horizontal path is unchanged.
    assert shapely_length(p) == pytest.approx(shapely_length(np.asarray(ZIGZAG)), abs=1e-6)


def shapely_length(p: np.ndarray) -> float:
    return float(np.hypot(*np.diff(p[:, :2], axis=0).T).sum())


def test_flat_dem_gives_just_the_original_vertices():
    p = follow_terrain(ZIGZAG, FRAME, FLAT, agl_m=80.0, tol_m=0.5)
    np.testing.assert_array_equal(p[:, :2], np.asarray(ZIGZAG))
    np.testing.assert_allclose(p[:, 2], 180.0)
    assert climb_time_s(p, DroneProfile()) == pytest.approx(shapely_length(p) / 10.0)


def test_smaller_tolerance_more_vertices():
    counts = [len(follow_terrain(ZIGZAG, FRAME, U_VALLEY, 60.0, tol)) for tol in (0.5, 2.0, 8.0)]
    assert counts[0] > counts[1] > counts[2] > len(ZIGZAG)
    for tol in (0.5, 8.0):
        p = follow_terrain(ZIGZAG, FRAME, U_VALLEY, 60.0, tol)
        assert np.abs(deviation(p, U_VALLEY, 60.0)).max() <= tol


@settings(max_examples=30, deadline=None)
# Straying 2 % past the tolerance between samples without the margin for them.
@example(path=[(-540.0, -120.0), (20.0, -550.0)], valley=U_VALLEY, agl=50.0, tol=2.4)
@given(path=st.lists(st.tuples(st.floats(-900, 900), st.floats(-900, 900)), min_size=1,
                     max_size=5),
       valley=st.sampled_from([VALLEY, U_VALLEY]), agl=st.floats(20.0, 140.0),
       tol=st.floats(0.3, 15.0))
def test_property_within_tolerance_and_vertices_kept(path, valley, agl, tol):
    p = follow_terrain(path, FRAME, valley, agl, tol)
    assert_keeps_vertices(p, path)
    assert np.abs(deviation(p, valley, agl)).max() <= tol + 1e-9
    assert line_agl_floor(p, FRAME, valley) >= agl - tol - 1e-9


def test_clearance_over_ground():
    across = [(-450.0, 0.0), (450.0, 0.0)]  # rim to rim across the valley (axis 20°)
    floor = float(ground(VALLEY, np.array([[0.0, 0.0]]))[0])
    low = np.array([[x, y, floor + 30.0] for x, y in across])  # under the rims
    found = check_clearance(low, FRAME, VALLEY, [], clearance_m=20.0)
    assert len(found) == 1 and found[0].segment == 0 and found[0].obstacle is None
    line = dense(np.asarray(across))
    highest = int(np.argmax(ground(VALLEY, line)))
    assert found[0].shortfall_m == pytest.approx(
        float(ground(VALLEY, line)[highest]) + 20.0 - (floor + 30.0), abs=0.5)
    assert found[0].x_m == pytest.approx(line[highest, 0], abs=5.0)  # at the higher rim
    assert "too low over the ground" in str(found[0])
    follow = follow_terrain(across, FRAME, VALLEY, agl_m=60.0, tol_m=5.0)
    assert check_clearance(follow, FRAME, VALLEY, [], clearance_m=20.0) == []


def test_clearance_over_obstacles():
    line = [(-100.0, -400.0), (-100.0, 400.0), (100.0, 400.0), (100.0, -400.0)]
    p = follow_terrain(line, FRAME, VALLEY, agl_m=60.0, tol_m=3.0)

    def zone(x: float, y: float, height: float | None, name: str, half: float = 15.0) -> Zone:
        return Zone(FRAME.geom_to_geo(box(x - half, y - half, x + half, y + half)), height, name)

    mast = zone(-100.0, 100.0, 70.0, "mast")  # under the first line
    beside = zone(100.0 + 15.0 + 6.0, -200.0, 70.0, "beside")  # 6 m off the third line
    shed = zone(-100.0, -250.0, 20.0, "shed")  # low enough to overfly
    far = zone(0.0, 0.0, 300.0, "far")  # 85 m from either line
    nofly = zone(-100.0, 0.0, None, "no-fly")  # never entered: not this check's business
    found = check_clearance(p, FRAME, VALLEY, [mast, beside, shed, far, nofly], clearance_m=20.0,
                            margin_m=10.0)
    assert [v.obstacle for v in found] == ["mast", "beside"]
    leg_of_mast = int(np.flatnonzero((p[:-1, 0] == -100.0) & (p[:-1, 1] < 100.0)
                                     & (p[1:, 1] > 100.0))[0])
    assert found[0].segment == leg_of_mast
    outline = np.array([[-115.0, 85.0], [-85.0, 85.0], [-85.0, 115.0], [-115.0, 115.0],
                        [-115.0, 85.0]])
    top = float(np.max(ground(VALLEY, dense(outline))))
    assert found[0].required_m == pytest.approx(top + 70.0 + 20.0, abs=0.5)
    assert abs(found[0].x_m + 100.0) < 1e-9 and abs(found[0].y_m - 100.0) <= 15.0 + 10.0
    flown_agl = found[0].altitude_m - float(ground(VALLEY, np.array([[-100.0, found[0].y_m]]))[0])
    assert flown_agl == pytest.approx(60.0, abs=3.0)
    assert check_clearance(p, FRAME, VALLEY, [shed, far, nofly], clearance_m=20.0) == []
    assert check_clearance(p, FRAME, VALLEY, [beside], 20.0, margin_m=5.0) == []


def test_obstacle_far_along_a_long_leg():
    level = np.array([[-800.0, 10.0, 160.0], [800.0, 10.0, 160.0]])  # 60 m over the flat
    tower = Zone(FRAME.geom_to_geo(box(490.0, -10.0, 510.0, 10.0)), 50.0, "tower")
    found = check_clearance(level, FRAME, FLAT, [tower], clearance_m=20.0, step_m=5.0)
    assert len(found) == 1 and found[0].segment == 0
    assert 490.0 - 10.0 <= found[0].x_m <= 510.0 + 10.0
    assert found[0].required_m == pytest.approx(100.0 + 50.0 + 20.0)
    assert found[0].shortfall_m == pytest.approx(10.0)
    assert check_clearance(level, FRAME, FLAT, [tower], clearance_m=10.0) == []


def test_ceiling_above_the_valley_floor_not_just_home():
    valley = synthetic_valley(FRAME, size_m=1600.0, depth_m=60.0, half_width_m=250.0,
                              along_slope=0.0)
    rim = float(ground(valley, np.array([[-450.0, 0.0]]))[0])
    level = np.array([[-450.0, 0.0, rim + 120.0], [450.0, 0.0, rim + 120.0]])
    excess = check_ceiling(level, FRAME, valley, ceiling_m=150.0)
    assert excess is not None
    assert excess.excess_m == pytest.approx(30.0 + 1.5, abs=0.1)  # valley plus the river
    assert abs(excess.x_m) < 5.0 and excess.segment == 0
    assert check_ceiling(level, FRAME, valley, ceiling_m=185.0) is None
    follow = follow_terrain(level[:, :2], FRAME, valley, agl_m=120.0, tol_m=5.0)
    assert check_ceiling(follow, FRAME, valley, ceiling_m=150.0) is None
    highest = 120.0 + np.abs(deviation(follow, valley, 120.0)).max()
    assert check_ceiling(follow, FRAME, valley, ceiling_m=highest - 0.5) is not None


def test_climb_time_on_slopes_and_on_flat():
    drone = DroneProfile(cruise_speed_m_s=10.0, climb_rate_m_s=3.0, descent_rate_m_s=2.0)
    steep = synthetic_valley(FRAME, size_m=2000.0, depth_m=200.0, half_width_m=300.0,
                             axis_deg=0.0)
    across = [(-400.0, 0.0), (400.0, 0.0)]
    p = follow_terrain(across, FRAME, steep, agl_m=80.0, tol_m=2.0)
    level = shapely_length(p) / drone.cruise_speed_m_s
    # Down 200 m at 2 m/s and up 200 m at 3 m/s outlast the 54 s on the sides at 10 m/s.
    assert climb_time_s(p, drone) == pytest.approx(level - 54.0 + 100.0 + 66.7, abs=3.0)
    flat = follow_terrain(across, FRAME, FLAT, agl_m=80.0)
    assert climb_time_s(flat, drone) == pytest.approx(80.0)


def test_route_off_the_dem_raises_naming_it():
    out = [(-500.0, 0.0), (1300.0, 0.0)]  # 300 m past the east edge
    with pytest.raises(InputError, match="does not cover") as err:
        follow_terrain(out, FRAME, VALLEY, agl_m=50.0)
    assert err.value.source == str(VALLEY.source)
    assert re.search(r"is (29[5-9]|30[0-5]) m outside its extent", err.value.problem)
    assert re.search(r"lon 139\.99\d+, lat 36\.07\d+", err.value.problem)  # 1300 m east
    with pytest.raises(InputError, match="does not cover"):
        check_ceiling(np.array([[0.0, 0.0, 200.0], [1300.0, 0.0, 200.0]]), FRAME, VALLEY)


def test_nodata_hole_raises():
    heights = VALLEY.heights.copy()
    heights[190:210, 190:210] = np.nan  # the centre
    holed = Dem(heights, VALLEY.transform, VALLEY.crs, "holed.tif")
    with pytest.raises(InputError, match="nodata inside") as err:
        follow_terrain([(-300.0, 0.0), (300.0, 0.0)], FRAME, holed, agl_m=50.0)
    assert err.value.source == "holed.tif"


def test_bad_arguments():
    with pytest.raises(PlanningError):
        follow_terrain(ZIGZAG, FRAME, VALLEY, agl_m=50.0, tol_m=0.0)
    with pytest.raises(PlanningError):
        follow_terrain(ZIGZAG, FRAME, VALLEY, agl_m=50.0, step_m=-1.0)
    with pytest.raises(PlanningError):
        check_ceiling(np.zeros((3, 2)), FRAME, VALLEY)
    one = follow_terrain([(10.0, 20.0)], FRAME, VALLEY, agl_m=50.0)
    assert one.shape == (1, 3) and climb_time_s(one, DroneProfile()) == 0.0


def test_default_step_is_half_a_pixel_within_limits():
    assert default_step_m(VALLEY, FRAME) == pytest.approx(2.5, rel=1e-3)
    assert default_step_m(U_VALLEY, FRAME) == pytest.approx(5.0, rel=1e-3)
    coarse = synthetic_valley(FRAME, size_m=3000.0, pixel_m=30.0)
    fine = synthetic_valley(FRAME, size_m=200.0, pixel_m=0.5)
    assert default_step_m(coarse, FRAME) == 10.0 and default_step_m(fine, FRAME) == 1.0


def test_synthetic_valley_round_trips_through_a_geotiff_in_a_plane_crs(tmp_path: Path):
    dem = synthetic_valley((36.0712, 139.9812), size_m=800.0, crs=6677)  # JGD2011 plane IX
    back = open_dem(write_geotiff(dem, tmp_path / "valley.tif"))
    assert back.crs.to_epsg() == 6677
    xy = np.random.default_rng(1).uniform(-390.0, 390.0, (200, 2))
    np.testing.assert_allclose(ground(back, xy), ground(dem, xy), atol=1e-3)
    rim, floor = ground(dem, np.array([[300.0, 0.0], [0.0, 0.0]]))  # north-south axis
    assert rim - floor == pytest.approx(60.0 + 1.5, abs=0.1)


def _matplotlib_dem() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    npz = (Path(next(iter(spec.submodule_search_locations)))
           / "mpl-data" / "sample_data" / "jacksboro_fault_dem.npz")
    return npz if npz.is_file() else None


@pytest.mark.skipif(_matplotlib_dem() is None, reason="matplotlib's sample DEM not installed")
def test_real_dem_tile():
    """3-arc-second SRTM-like tile of the Jacksboro fault, Tennessee (236–1076 m), shipped with
    matplotlib; row 0 is taken as the north edge."""
    npz = np.load(_matplotlib_dem())
    dx, dy = float(npz["dx"]), float(npz["dy"])
    north = max(float(npz["ymin"]), float(npz["ymax"]))
    dem = Dem(npz["elevation"], Affine(dx, 0.0, float(npz["xmin"]), 0.0, -dy, north), 4326,
              "jacksboro_fault_dem.npz")
    frame = LocalFrame(36.59, -84.25)
    assert default_step_m(dem, frame) == 10.0  # pixels about 75 × 93 m
    path = [(-2000.0, -1500.0), (2000.0, -1500.0), (2000.0, -1300.0), (-2000.0, -1300.0)]
    p = follow_terrain(path, frame, dem, agl_m=90.0, tol_m=3.0)
    assert np.abs(deviation(p, dem, 90.0, frame)).max() <= 3.0
    assert len(path) < len(p) < 8200 / 10.0 / 5
    assert line_agl_floor(p, frame, dem) >= 87.0
    assert check_ceiling(p, frame, dem, ceiling_m=120.0) is None
    assert check_clearance(p, frame, dem, [], clearance_m=60.0) == []
    drone = DroneProfile()
    assert climb_time_s(p, drone) > shapely_length(p) / drone.cruise_speed_m_s
