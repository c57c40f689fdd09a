"""Every number `survey plan` takes has bounds, and the work a plan may make is limited, each
refused in one line that says what is allowed, with nothing written (#11: a very short
--endurance crashed, --gsd 0.01 and a 200,000-vertex area hung)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Polygon

from missions.plan import limits
from missions.plan.drone import DroneProfile
from missions.plan.inputs import read_area
from missions.plan.planner import PlanRequest, make_plan
from survey.core.camera import CATALOG
from survey.core.errors import InputError
from survey.core.frame import LocalFrame
from survey.core.geometry import polygons_of
from tests.cli.test_plan_cli import AREA, run

FRAME = LocalFrame(36.07, 139.99)


@pytest.mark.parametrize(("args", "message"), [
    (["--endurance", "0.1"], "--endurance: must be 1–600 min, got 0.1"),
    (["--endurance", "1"], "too short to fly a line"),
    (["--speed", "0.001"], "--speed: must be 0.5–40 m/s"),
    (["--speed", "inf"], "--speed: must be 0.5–40 m/s, got inf"),
    (["--reserve", "100"], "--reserve: must be 0–90 %"),
    (["--max-range", "1"], "--max-range: must be 20–100000 m"),
    (["--margin", "-1"], "--margin: must be 0–2000 m"),
    (["--altitude", "1"], "--altitude: must be 5–1000 m"),
    (["--gsd", "0.01"], "--gsd: must be 0.05–100 cm/px"),
    (["--gsd", "0.1"], "the lowest survey altitude is 5 m (with this camera: --gsd ≥ 0.13)"),
    (["--gsd", "0.2"], "photos; at most 50,000 a plan"),
])
def test_out_of_bounds_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str],
                                                      message: str) -> None:
    result, _, err = run("plan", AREA, *args, "-o", tmp_path / "o")
    assert result.exit_code == 2, err
    assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder


def circle(n: int, r: float = 450.0) -> Polygon:
    t = [2 * math.pi * i / n for i in range(n)]
    return Polygon([(r * math.cos(a), r * math.sin(a)) for a in t])


def test_a_200k_vertex_area_plans_at_half_a_metre() -> None:
    """Detail finer than the 0.5 m tolerance is simplified away before planning (the sweep
    used to try every hull edge: O(n²)); the photos still cover the true area."""
    area = FRAME.geom_to_geo(circle(200_000))
    plan = make_plan(PlanRequest(area=area, camera=CATALOG["mavic3e"], altitude_m=80.0,
                                 drone=DroneProfile(max_range_m=5000.0)))
    true_area = circle(200_000)
    assert plan.area.symmetric_difference(true_area).area < 0.5 * true_area.length
    feet = shapely.union_all([p.footprint(plan.camera, plan.altitude_m)
                              for s in plan.sorties for p in s.photos])
    assert true_area.difference(feet).area / true_area.area < 0.01


def test_simplified_zones_still_keep_their_margin() -> None:
    """A zone is grown by the tolerance before it is simplified: no route comes nearer than
    the margin to the zone as drawn."""
    from missions.plan.inputs import Zone

    t = [2 * math.pi * i / 2000 for i in range(2000)]  # a star-ish outline, 0.5 m wiggles
    zone = Polygon([((60 + 0.6 * math.sin(97 * a)) * math.cos(a),
                     (60 + 0.6 * math.sin(97 * a)) * math.sin(a)) for a in t])
    assert zone.is_valid
    area = FRAME.geom_to_geo(circle(64, 300.0))
    plan = make_plan(PlanRequest(area=area, camera=CATALOG["mavic3e"], altitude_m=60.0,
                                 zones=[Zone(FRAME.geom_to_geo(zone), None, "wiggly")],
                                 drone=DroneProfile(max_range_m=5000.0), margin_m=10.0))
    drawn = plan.frame.geom_to_local(FRAME.geom_to_geo(zone))
    for s in plan.sorties:
        assert s.route.distance(drawn) >= 10.0 - 1e-6


def test_input_vertex_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_INPUT_VERTICES", 1_000)
    ring = [list(FRAME.to_geo(x, y)) for x, y in circle(2_000).exterior.coords]
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    with pytest.raises(InputError, match=r"2,001 vertices; at most 1,000") as err:
        read_area(path)
    assert err.value.source == str(path)


# The scene the planner's property test found (seed-drawn star area, five zones), local m.
SCENE_AREA = (
    "POLYGON ((83.58 -14.49, 119.03 -32.24, 37.91 -66.74, 29.84 -96.37, -63.6 -27.23, -70.07 "
    "-22.12, 20.62 147.46, 21.37 106.56, 66.11 84.9, 79.48 88.88, 52.21 56.74, 147.72 6.57, 8"
    "3.58 -14.49))"
)
SCENE_ZONES = [
    (110.07, (
        "POLYGON ((-61.58 -69.44, -69.71 -29.99, -18.98 -19.52, -10.84 -58.98, -61.58 -69.44)"
        ")"
    )),
    (None, (
        "POLYGON ((4.5 -66.83, 3.44 -70.35, 1.7 -73.59, -0.63 -76.44, -3.47 -78.77, -6.72 -80"
        ".51, -10.24 -81.57, -13.9 -81.93, -17.56 -81.57, -21.08 -80.51, -24.32 -78.77, -27.1"
        "7 -76.44, -29.5 -73.59, -31.23 -70.35, -32.3 -66.83, -32.66 -63.17, -32.3 -59.51, -3"
        "1.23 -55.99, -29.5 -52.75, -27.17 -49.9, -24.32 -47.57, -21.08 -45.84, -17.56 -44.77"
        ", -13.9 -44.41, -10.24 -44.77, -6.72 -45.84, -3.47 -47.57, -0.63 -49.9, 1.7 -52.75, "
        "3.44 -55.99, 4.5 -59.51, 4.87 -63.17, 4.5 -66.83))"
    )),
    (20.79, (
        "POLYGON ((5.46 -81.77, -26.5 -65.36, -19.22 -51.2, 12.73 -67.61, 5.46 -81.77))"
    )),
    (None, (
        "POLYGON ((38.27 1.92, 30.52 43.53, 63.6 49.69, 71.35 8.09, 38.27 1.92))"
    )),
    (146.45, (
        "POLYGON ((59.91 -35.43, 59.05 -38.26, 57.65 -40.87, 55.78 -43.15, 53.49 -45.03, 50.8"
        "8 -46.43, 48.05 -47.29, 45.1 -47.58, 42.16 -47.29, 39.33 -46.43, 36.72 -45.03, 34.43"
        " -43.15, 32.55 -40.87, 31.16 -38.26, 30.3 -35.43, 30.01 -32.48, 30.3 -29.54, 31.16 -"
        "26.7, 32.55 -24.09, 34.43 -21.81, 36.72 -19.93, 39.33 -18.54, 42.16 -17.68, 45.1 -17"
        ".39, 48.05 -17.68, 50.88 -18.54, 53.49 -19.93, 55.78 -21.81, 57.65 -24.09, 59.05 -26"
        ".7, 59.91 -29.54, 60.2 -32.48, 59.91 -35.43))"
    )),
]


def _corner_gaps(monkeypatch: pytest.MonkeyPatch | None) -> list[float]:
    from missions.plan import planner
    from missions.plan.inputs import Zone

    if monkeypatch is not None:  # the planner without its gap photos
        monkeypatch.setattr(planner, "_fill_gaps", lambda tasks, *a: (tasks, 0))
    zones = [Zone(FRAME.geom_to_geo(shapely.from_wkt(w)), h, f"zone {i}")
             for i, (h, w) in enumerate(SCENE_ZONES)]
    plan = make_plan(PlanRequest(
        area=FRAME.geom_to_geo(shapely.from_wkt(SCENE_AREA)), camera=CATALOG["mavic3e"],
        altitude_m=40.0, front_overlap=0.6, side_overlap=0.5, zones=zones, margin_m=10.0,
        drone=DroneProfile(endurance_s=360.0, max_range_m=5000.0)))
    feet = shapely.union_all([p.footprint(plan.camera, plan.altitude_m)
                              for s in plan.sorties for p in s.photos])
    min_area = 0.005 * plan.sorties[0].photos[0].footprint(plan.camera, plan.altitude_m).area
    free = plan.area.difference(plan.keepout)
    return [g.area for g in polygons_of(free.difference(feet)) if g.area > min_area]


def test_gap_photos_fill_the_corner_a_line_cannot_reach(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A wedge between the area's edge and a zone's margin: the sweep lines stop at the
    margin, so a hover photo is added inside the wedge (the planner's property test found
    one leaving 1 % of an area unphotographed)."""
    assert _corner_gaps(None) == []
    assert _corner_gaps(monkeypatch)  # without them, the wedge is left out


def test_an_area_across_the_antimeridian_is_refused(tmp_path: Path) -> None:
    """It was planned as if it went round the world the other way (area ~5× too large, home at
    longitude 180, routes jumping ±180°)."""
    ring = [[179.998, -16.8], [-179.998, -16.8], [-179.998, -16.79], [179.998, -16.79],
            [179.998, -16.8]]
    path = tmp_path / "fiji.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    with pytest.raises(InputError, match="crosses the antimeridian") as err:
        read_area(path)
    assert err.value.source == str(path)
    east = [[lon if lon > 0 else 179.9999, lat] for lon, lat in ring]
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [east]}))
    assert read_area(path).bounds[2] == pytest.approx(179.9999)  # near it, not across: fine
