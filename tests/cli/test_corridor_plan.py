"""Corridor scans end to end: `survey plan --corridor LINES --width M` covers the buffered line
with lines along it, keeps out of the no-fly zones, and refuses what does not make a corridor."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point
from typer.testing import CliRunner

from missions.plan.inputs import Zone
from missions.plan.planner import PlanRequest, make_plan
from survey.cli.main import app
from survey.core.camera import CATALOG
from survey.core.frame import LocalFrame

JOSO = Path(__file__).resolve().parents[2] / "examples" / "joso"
LEVEE = JOSO / "levee.geojson"
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = LocalFrame(36.07, 139.99)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def test_levee_example_writes_a_corridor_plan(tmp_path: Path) -> None:
    out = tmp_path / "levee"
    code, stdout, stderr = run("plan", "--corridor", LEVEE, "--width", 80, "--obstacles",
                               JOSO / "zones.geojson", "--gsd", 2.0, "-o", out)
    assert code == 0, stderr + stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert any("corridor 80 m wide: 3 line(s)" in n for n in summary["notes"])
    assert (out / "sortie_01.plan").is_file() and (out / "sortie_01.waypoints").is_file()


def zigzag_plan(zones=()):
    """A 1.6 km levee with a 120° and a 60° bend, 100 m wide, a no-fly zone across it."""
    line = LineString([(-800, 0), (-200, 0), (100, 300), (700, 0)])
    plan = make_plan(PlanRequest(area=shapely.Polygon(), corridor=[FRAME.geom_to_geo(line)],
                                 corridor_width_m=100.0, zones=list(zones),
                                 camera=CATALOG["mavic3e"], gsd_cm=2.0))
    return plan, plan.frame.geom_to_local(FRAME.geom_to_geo(line))


def test_corridor_is_covered_along_its_bends() -> None:
    zone = Zone(FRAME.geom_to_geo(Point(-500, 0).buffer(25)), None, "pumping station")
    plan, line = zigzag_plan([zone])
    corridor = line.buffer(50.0, cap_style="flat")
    keep = plan.frame.geom_to_local(zone.geometry).buffer(10.0)
    target = corridor.difference(keep).difference(plan.unreachable)
    feet = shapely.union_all([p.footprint(plan.camera, plan.altitude_m)
                              for s in plan.sorties for p in s.photos])
    assert target.intersection(feet).area / target.area >= 0.99
    for s in plan.sorties:
        assert s.route.distance(plan.frame.geom_to_local(zone.geometry)) >= 10.0 - 0.05
    # Photo lines run along the corridor: each photo's heading is that of the centre line
    # nearest to it, within a few degrees, away from the bends.
    off = []
    for s in plan.sorties:
        for p in s.photos:
            d = line.project(Point(p.x_m, p.y_m))
            if min(d, line.length - d) < 60 or any(abs(d - line.project(Point(v))) < 120
                                                   for v in line.coords[1:-1]):
                continue
            a, b = line.interpolate(d - 1.0), line.interpolate(d + 1.0)
            heading = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 180.0
            off.append(abs((p.heading_deg % 180.0 - heading + 90.0) % 180.0 - 90.0))
    assert len(off) > 50 and np.percentile(off, 95) < 3.0


@pytest.mark.parametrize(("args", "source", "problem"), [
    (["--corridor", LEVEE], "--width", "needs the corridor's width"),
    ([JOSO / "area.geojson", "--width", 50], "--width", "width of a --corridor"),
    ([JOSO / "area.geojson", "--corridor", LEVEE, "--width", 50], "--corridor", "not both"),
    (["--corridor", LEVEE, "--width", 0], "--width", "more than 0 m"),
    (["--corridor", LEVEE, "--width", 5000], "--width", "2000"),
    (["--corridor", JOSO / "area.geojson", "--width", 50], str(JOSO / "area.geojson"),
     "no line"),
    ([], "area", "--corridor"),
])
def test_bad_corridor_input_is_one_line(tmp_path: Path, args: list[object], source: str,
                                        problem: str) -> None:
    out = tmp_path / "o"
    code, stdout, stderr = run("plan", *args, "-o", out)
    assert code == 2 and stdout == "", stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"error: {source}: ") and problem in stderr, stderr
    assert not out.exists()
