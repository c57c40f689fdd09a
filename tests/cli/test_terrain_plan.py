"""Terrain following end to end: `survey plan --dem` on the valley example writes altitudes above
sea level that hold the height above ground within the tolerance between every two waypoints,
and the built-in vehicle, flying over the same DEM, keeps that height along its track."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, box
from typer.testing import CliRunner

from mapping.dem import open_dem
from missions.plan.drone import DroneProfile
from missions.plan.export.bundle import write_plan_files
from missions.plan.export.qgc import read_qgc_plan
from missions.plan.inputs import Zone
from missions.plan.items import Cmd, Frame
from missions.plan.planner import PlanRequest, make_plan
from sitl.builtin import BuiltinCopter
from survey.cli.main import app
from survey.core.camera import CATALOG
from survey.core.frame import LocalFrame

VALLEY = Path(__file__).resolve().parents[2] / "examples" / "valley"
DEM = open_dem(VALLEY / "dem.tif")
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
AGL_M, TOL_M = 75.0, 5.0
FRAME = LocalFrame(37.39, 136.90)  # the valley's centre (examples/valley/make.py)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def ground(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.asarray(DEM.height_at(lon, lat), dtype=float)


def nav_points(items) -> np.ndarray:
    """(n, 3) lon, lat, alt of the positional items after take-off."""
    return np.array([(it.lon_deg, it.lat_deg, it.alt_m) for it in items
                     if it.command == Cmd.NAV_WAYPOINT])


@pytest.fixture(scope="module")
def valley_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("valley") / "out"
    code, stdout, stderr = run("plan", VALLEY / "area.geojson", "--obstacles",
                               VALLEY / "zones.geojson", "--dem", VALLEY / "dem.tif",
                               "--altitude", AGL_M, "--wind", "6@270", "-o", out)
    assert code == 0, stderr + stdout
    assert "above ground (terrain" in stdout
    return out


def test_plan_files_say_altitudes_are_above_sea_level(valley_plan: Path) -> None:
    doc = json.loads((valley_plan / "sortie_01.plan").read_text(encoding="utf-8"))
    assert doc["mission"]["globalPlanAltitudeMode"] == 2
    lat, lon, alt = doc["mission"]["plannedHomePosition"]
    assert alt == pytest.approx(float(ground(np.array(lon), np.array(lat))), abs=0.01)
    nav = [it for it in doc["mission"]["items"] if "Altitude" in it]
    assert nav and all(it["frame"] == Frame.GLOBAL and it["AltitudeMode"] == 2 for it in nav)
    summary = json.loads((valley_plan / "summary.json").read_text(encoding="utf-8"))
    assert summary["altitudes"] == "above sea level"
    assert any("needs no terrain data" in n for n in summary["notes"])
    wp = (valley_plan / "sortie_01.waypoints").read_text(encoding="utf-8").splitlines()
    assert float(wp[1].split("\t")[10]) == pytest.approx(alt, abs=1e-3)  # home line, AMSL


def test_height_above_ground_holds_between_waypoints(valley_plan: Path) -> None:
    """Sampled every metre along each leg, the straight line between two waypoints is within
    the tolerance of the target height above the DEM's ground, and under the 150 m ceiling."""
    plans = sorted(valley_plan.glob("sortie_*.plan"))
    assert len(plans) >= 2
    worst = 0.0
    for path in plans:
        pts = nav_points(read_qgc_plan(path).items)
        xy = np.column_stack(FRAME.to_local(pts[:, 0], pts[:, 1]))
        for k in range(len(pts) - 1):
            n = max(2, int(np.hypot(*(xy[k + 1] - xy[k])) // 1.0) + 2)
            f = np.linspace(0.0, 1.0, n)
            sx = xy[k, 0] + f * (xy[k + 1, 0] - xy[k, 0])
            sy = xy[k, 1] + f * (xy[k + 1, 1] - xy[k, 1])
            alt = pts[k, 2] + f * (pts[k + 1, 2] - pts[k, 2])
            lon, lat = FRAME.to_geo(sx, sy)
            agl = alt - ground(lon, lat)
            worst = max(worst, float(np.abs(agl - AGL_M).max()))
            assert agl.max() <= 150.0
    assert worst <= TOL_M + 0.05, worst
    assert worst > 0.5  # the valley is not flat: the check has something to check


def test_a_fleet_over_the_dem_holds_the_height_above_ground(tmp_path: Path) -> None:
    """Two drones over the valley: each drone's missions are in altitudes above sea level and
    hold the height above ground between waypoints, like a single drone's."""
    out = tmp_path / "fleet"
    code, stdout, stderr = run("plan", VALLEY / "area.geojson", "--obstacles",
                               VALLEY / "zones.geojson", "--dem", VALLEY / "dem.tif",
                               "--altitude", AGL_M, "--drones", 2, "-o", out)
    assert code == 0, stderr + stdout
    fleet = json.loads((out / "summary.json").read_text(encoding="utf-8"))["fleet"]
    assert len(fleet["drones"]) == 2
    for d in fleet["drones"]:
        folder = out / d["folder"]
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert summary["altitudes"] == "above sea level"
        for path in sorted(folder.glob("sortie_*.plan")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            assert doc["mission"]["globalPlanAltitudeMode"] == 2
            pts = nav_points(read_qgc_plan(path).items)
            agl = pts[:, 2] - ground(pts[:, 0], pts[:, 1])
            assert np.abs(agl - AGL_M).max() <= TOL_M + 0.05


def test_the_dem_must_cover_the_area(tmp_path: Path) -> None:
    far = LocalFrame(37.39, 136.95)  # 4 km east of the DEM
    area = tmp_path / "far.geojson"
    area.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[list(far.to_geo(x, y)) for x, y in
                                            ((0, 0), (300, 0), (300, 200), (0, 200), (0, 0))]]}}))
    code, stdout, stderr = run("plan", area, "--dem", VALLEY / "dem.tif", "-o", tmp_path / "o")
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"error: {VALLEY / 'dem.tif'}: ") and "does not cover" in stderr
    assert len(stderr.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_tolerance_and_ceiling_are_checked(tmp_path: Path) -> None:
    base = ["plan", VALLEY / "area.geojson", "--dem", VALLEY / "dem.tif"]
    code, _, stderr = run(*base, "--altitude", 148, "-o", tmp_path / "a")
    assert code == 2 and "--altitude/--terrain-tolerance" in stderr and "150 m" in stderr
    code, _, stderr = run(*base, "--terrain-tolerance", 0.1, "-o", tmp_path / "b")
    assert code == 2 and stderr.startswith("error: --terrain-tolerance: ")


def test_obstacle_tops_are_cleared(tmp_path: Path) -> None:
    """Flying 75 ± 5 m above ground with 20 m clearance: a 60 m mast is flown round (it blocks);
    a 50 m one is overflown, and the check of every leg over the DEM lets the plan through."""
    mast = FRAME.geom_to_geo(Point(-200, 0).buffer(6, quad_segs=4))
    area = FRAME.geom_to_geo(box(-350, -150, 50, 150))
    for height, blocked in ((60.0, True), (50.0, False)):
        plan = make_plan(PlanRequest(area=area, zones=[Zone(mast, height, "mast")],
                                     camera=CATALOG["mavic3e"], altitude_m=AGL_M, dem=DEM))
        local = plan.frame.geom_to_local(mast)
        assert plan.keepout.contains(local.centroid) is blocked
        near = min(s.route.distance(local) for s in plan.sorties)
        if blocked:
            assert near >= 10.0 - 0.05
        else:
            assert any("overflown" in n for n in plan.notes)


@pytest.fixture
def slope_plan(tmp_path: Path) -> Path:
    """A small survey up the west slope of the valley (one short sortie)."""
    area = FRAME.geom_to_geo(box(-420, -60, -120, 60))
    plan = make_plan(PlanRequest(area=area, camera=CATALOG["mavic3e"], altitude_m=AGL_M,
                                 dem=DEM, drone=DroneProfile()))
    assert len(plan.sorties) == 1
    out = tmp_path / "slope"
    write_plan_files(plan, out)
    return out


@pytest.fixture
def terrain_vehicle(slope_plan: Path) -> Iterator[BuiltinCopter]:
    summary = json.loads((slope_plan / "summary.json").read_text(encoding="utf-8"))
    home = summary["home"]
    with BuiltinCopter(home["lat_deg"], home["lon_deg"], speedup=60, terrain=DEM) as v:
        yield v


@pytest.mark.slow
def test_built_in_vehicle_holds_the_height_above_ground(slope_plan: Path,
                                                        terrain_vehicle: BuiltinCopter) -> None:
    code, out, err = run("fly", slope_plan, "--connect", terrain_vehicle.url, "--sortie", 1)
    assert code == 0, err + out
    assert "completed" in out
    home_alt = float(json.loads((slope_plan / "summary.json").read_text())["home"]["alt_amsl_m"])
    track = [p for p in terrain_vehicle.track() if p.mode == "AUTO"]
    lat = np.array([p.lat_deg for p in track])
    lon = np.array([p.lon_deg for p in track])
    agl = home_alt + np.array([p.alt_rel_m for p in track]) - ground(lon, lat)
    # The survey part: from the first time the copter is up at its height until it comes down
    # at home (take-off and landing are vertical).
    up = np.flatnonzero(agl > AGL_M - TOL_M)
    assert len(up) > 100
    cruise = agl[up[0]:up[-1] + 1]
    assert np.abs(cruise - AGL_M).max() <= TOL_M + 2.0, (cruise.min(), cruise.max())
    rise = ground(lon, lat)[up[0]:up[-1] + 1]
    assert rise.max() - rise.min() > 20.0  # it did fly up the slope
    assert not terrain_vehicle.state().armed
