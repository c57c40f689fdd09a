"""`survey plan` through typer's CliRunner: the Jōsō example end to end, --help, and every kind
of bad input (one line naming the file or option, exit code 2, no output files)."""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from survey.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "joso"
AREA, ZONES, POIS = EXAMPLE / "area.geojson", EXAMPLE / "zones.geojson", EXAMPLE / "pois.geojson"
HELI_CENTROID = "36.074780,139.990803"  # "Helicopter landing zone (school ground)"
ROAD_HOME = "36.070296,139.989110"  # on the road inside the area (examples/joso/README.md)

# A plain 120-column terminal without colour, whatever the environment running the tests says.
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# mavic3e: 17.3 × 13.0 mm sensor, 12.29 mm lens, 5280 px wide
MAVIC_ALT_2CM = 0.02 * 12.29 * 5280 / 17.3  # 75.02 m for 2.0 cm/px


def run(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    return result, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def flat(text: str) -> str:
    """Help text without panel borders and line breaks, words separated by single spaces."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def waypoints_rows(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "QGC WPL 110"
    return [ln.split("\t") for ln in lines[1:]]


# --- the Jōsō example -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def joso_run(tmp_path_factory):
    """The README demo, once for the module."""
    out = tmp_path_factory.mktemp("joso") / "out" / "joso"
    result, stdout, stderr = run("plan", AREA, "--obstacles", ZONES, "--gsd", "2.0",
                                 "--overlap", "80/70", "-o", out)
    return out, result, stdout, stderr


def table_rows(stdout: str) -> list[list[str]]:
    """The summary table's body rows as cells (rich draws │ between cells)."""
    rows = []
    for line in stdout.splitlines():
        if line.startswith("│") and line.rstrip().endswith("│"):
            rows.append([c.strip() for c in line.strip().strip("│").split("│")])
    return rows


def test_joso_example_writes_every_file(joso_run):
    out, result, _, _ = joso_run
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    n = summary["totals"]["sorties"]
    assert n >= 2
    sorties = {f"sortie_{k:02d}.{ext}" for k in range(1, n + 1) for ext in ("plan", "waypoints")}
    expected = sorties | {"fence.waypoints", "rally.waypoints", "plan.kml", "plan.geojson",
                          "summary.json"}
    assert {p.name for p in out.iterdir()} == expected
    # all or nothing: no staging folder is left beside the output
    assert [p.name for p in out.parent.iterdir()] == ["joso"]


def test_joso_example_summary_has_the_requested_survey(joso_run):
    out, _, _, _ = joso_run
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["mode"] == "survey" and s["camera"] == "mavic3e"
    assert s["altitude_m"] == pytest.approx(MAVIC_ALT_2CM, rel=1e-9)
    assert s["gsd_cm"] == pytest.approx(2.0, rel=1e-9)
    assert s["overlaps"] == {"front": pytest.approx(0.8), "side": pytest.approx(0.7)}
    assert s["spacing_m"] == pytest.approx(MAVIC_ALT_2CM * 17.3 / 12.29 * 0.3, rel=1e-9)
    assert s["trigger_m"] == pytest.approx(MAVIC_ALT_2CM * 13.0 / 12.29 * 0.2, rel=1e-9)
    for key in ("distance_m", "time_s", "photos", "lines"):
        assert s["totals"][key] == pytest.approx(sum(x[key] for x in s["sorties"]))
    assert all(x["time_s"] <= 25 * 60 * 0.8 for x in s["sorties"])
    assert s["area_m2"] == pytest.approx(717_600, rel=0.005)  # examples/joso/README.md
    assert 0.9 * s["area_m2"] < s["covered_m2"] < s["area_m2"]
    assert s["unreachable_m2"] == 0.0
    assert s["fence_zones"] == 3  # inclusion, landing zone, transmission tower
    assert s["rally_points"] >= 1


def test_joso_example_mission_files(joso_run):
    out, _, _, _ = joso_run
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    home = (s["home"]["lat_deg"], s["home"]["lon_deg"])
    for sortie in s["sorties"]:
        stem = f"sortie_{sortie['number']:02d}"
        plan = json.loads((out / f"{stem}.plan").read_text(encoding="utf-8"))
        assert plan["fileType"] == "Plan"
        items = plan["mission"]["items"]
        assert len(items) == sortie["items"]
        assert items[0]["command"] == 22 and items[-1]["command"] == 20  # TAKEOFF … RTL
        assert plan["mission"]["plannedHomePosition"][:2] == pytest.approx(home, abs=1e-7)
        fences = plan["geoFence"]["polygons"]
        assert [f["inclusion"] for f in fences] == [True, False]  # inclusion, landing zone
        circles = plan["geoFence"]["circles"]  # the round tower (radius_m 15) as a circle
        assert [(c["inclusion"], c["circle"]["radius"]) for c in circles] == [
            (False, pytest.approx(15 + 10 / 2, abs=1.0))]  # + the 0.5 m plan tolerance
        assert len(plan["rallyPoints"]["points"]) == s["rally_points"]

        rows = waypoints_rows(out / f"{stem}.waypoints")
        assert len(rows) == sortie["items"] + 1  # home at seq 0
        assert [int(r[0]) for r in rows] == list(range(len(rows)))
        commands = [int(r[3]) for r in rows[1:]]
        assert commands[0] == 22 and commands[-1] == 20
        triggers = [float(r[4]) for r in rows[1:] if int(r[3]) == 206]
        assert len(triggers) == 2 * sortie["lines"]
        assert all(t == pytest.approx(s["trigger_m"]) for t in triggers[::2])
        assert all(t == 0.0 for t in triggers[1::2])

    fence = waypoints_rows(out / "fence.waypoints")  # no home row: MAVProxy sends every row
    assert [int(r[0]) for r in fence] == list(range(len(fence)))
    assert {int(r[3]) for r in fence} == {5001, 5002, 5004}
    rally = waypoints_rows(out / "rally.waypoints")
    assert len(rally) == s["rally_points"] and {int(r[3]) for r in rally} == {5100}

    kml = ET.parse(out / "plan.kml").getroot()
    assert kml.tag == "{http://www.opengis.net/kml/2.2}kml"
    geo = json.loads((out / "plan.geojson").read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection"
    routes = [f for f in geo["features"] if f["properties"].get("kind") == "route"]
    assert len(routes) == len(s["sorties"])
    photos = [f for f in geo["features"] if f["properties"].get("kind") == "photo"]
    assert len(photos) == s["totals"]["photos"]


def test_joso_example_prints_the_summary_table(joso_run):
    out, result, stdout, stderr = joso_run
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    n = s["totals"]["sorties"]
    assert f"Survey plan: {n} sortie(s)" in stdout
    rows = table_rows(stdout)
    assert [r[0] for r in rows] == [str(k) for k in range(1, n + 1)] + ["total"]
    for row, sortie in zip(rows, s["sorties"], strict=False):
        lines, km, minutes, photos, items = row[1:]
        assert int(lines) == sortie["lines"] and int(photos) == sortie["photos"]
        assert int(items) == sortie["items"]
        assert float(km) == pytest.approx(sortie["distance_m"] / 1000, abs=0.005)
        assert float(minutes) == pytest.approx(sortie["time_s"] / 60, abs=0.05)
    total = rows[-1]
    assert int(total[1]) == s["totals"]["lines"] and int(total[4]) == s["totals"]["photos"]
    assert float(total[2]) == pytest.approx(s["totals"]["distance_m"] / 1000, abs=0.005)
    assert "75.0 m above take-off" in stdout and "2.00 cm/px" in stdout
    assert "80 % front / 70 % side" in stdout
    assert f"Wrote {2 * n + 5} files to {out}" in stdout.replace("\n", "")
    assert "error" not in result.output.lower() and "Traceback" not in result.output
    assert stderr.strip() == ""


def test_kml_area_plans_like_the_geojson_one(joso_run, tmp_path):
    out_geojson = joso_run[0]
    out = tmp_path / "kml"
    result, stdout, _ = run("plan", EXAMPLE / "area.kml", "--obstacles", ZONES, "--gsd", "2.0",
                            "--overlap", "80/70", "-o", out)
    assert result.exit_code == 0, result.output
    a = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((out_geojson / "summary.json").read_text(encoding="utf-8"))
    assert a["area_m2"] == pytest.approx(b["area_m2"], rel=1e-9)
    assert a["covered_m2"] == pytest.approx(b["covered_m2"], rel=1e-6)
    assert a["totals"]["sorties"] == b["totals"]["sorties"]
    assert (out / "sortie_01.plan").is_file() and "Survey plan" in stdout


def test_patrol_mode_visits_the_points_of_interest(tmp_path):
    out = tmp_path / "patrol"
    result, stdout, _ = run("plan", AREA, "--obstacles", ZONES, "--patrol", POIS, "-o", out)
    assert result.exit_code == 0, result.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["mode"] == "patrol"
    assert s["totals"]["lines"] == 6  # 4 points and 2 lines of interest
    assert "Patrol plan" in stdout and "targets" in stdout

    pois = json.loads(POIS.read_text(encoding="utf-8"))["features"]
    points = [f["geometry"]["coordinates"] for f in pois if f["geometry"]["type"] == "Point"]
    lines = [f["geometry"]["coordinates"] for f in pois if f["geometry"]["type"] == "LineString"]
    rows = [r for k in range(1, s["totals"]["sorties"] + 1)
            for r in waypoints_rows(out / f"sortie_{k:02d}.waypoints")[1:]]
    photographed = [(float(a[9]), float(a[8])) for a, b in itertools.pairwise(rows)
                    if int(b[3]) == 2000 and int(a[3]) == 16]  # WAYPOINT, IMAGE_START_CAPTURE
    assert len(photographed) == len(points)
    for lon, lat in points:
        assert min(math.dist((lon, lat), p) for p in photographed) < 1e-7
    visited = [(float(r[9]), float(r[8])) for r in rows if int(r[3]) == 16]
    for line in lines:
        for lon, lat in (line[0], line[-1]):
            assert min(math.dist((lon, lat), p) for p in visited) < 1e-7


@pytest.mark.parametrize("flags", [("--altitude", "200"), ("--gsd", "5")])
def test_altitude_over_150_m_is_refused_then_accepted_with_allow_altitude(tmp_path, flags):
    out = tmp_path / "out"
    result, stdout, stderr = run("plan", AREA, *flags, "-o", out)
    assert result.exit_code == 2
    assert stderr.startswith(f"error: {flags[0]}: ") and "150" in stderr
    assert not out.exists()
    result, stdout, _ = run("plan", AREA, *flags, "--allow-altitude", "-o", out)
    assert result.exit_code == 0, result.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["altitude_m"] > 150
    if flags[0] == "--altitude":
        assert s["altitude_m"] == 200.0 and "200.0 m above take-off" in stdout


def test_wind_plans_slower_sorties_and_says_so(joso_run, tmp_path):
    """A 7 m/s wind: the same area takes longer to fly, and the plan notes the ground speeds."""
    calm_out = joso_run[0]
    out = tmp_path / "windy"
    result, _, _ = run("plan", AREA, "--obstacles", ZONES, "--gsd", "2.0", "--overlap",
                            "80/70", "--wind", "7@225", "-o", out)
    assert result.exit_code == 0, result.output
    calm = json.loads((calm_out / "summary.json").read_text(encoding="utf-8"))
    windy = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    calm_s = sum(s["time_s"] for s in calm["sorties"])
    windy_s = sum(s["time_s"] for s in windy["sorties"])
    assert windy_s > 1.1 * calm_s
    assert any("7 m/s wind from 225°" in n for n in windy["notes"])


# --- help -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"]], ids=["survey", "survey plan"])
def test_help_shows_an_example(args):
    result, stdout, _ = run(*args)
    assert result.exit_code == 0
    assert "survey plan examples/joso/area.geojson" in flat(stdout), "no example"


def test_plan_help_lists_the_camera_catalog():
    from survey.core.camera import CATALOG

    result, stdout, _ = run("plan", "--help")
    assert result.exit_code == 0
    text = flat(stdout)
    for cam in CATALOG.values():
        assert cam.name in text
        assert f"{cam.sensor_w_mm:g}×{cam.sensor_h_mm:g} mm, {cam.focal_mm:g} mm" in text


def test_plan_help_lists_the_options():
    _, stdout, _ = run("plan", "--help")
    text = flat(stdout)
    for option in ("--obstacles", "--home", "--camera", "--gsd", "--altitude", "--overlap",
                   "--patrol", "--endurance", "--reserve", "--max-range", "--allow-altitude",
                   "--no-refly", "custom:WxH:FOCAL:PXxPY"):
        assert option in text, option


# --- bad input --------------------------------------------------------------------------------

SQUARE = [[139.99, 36.07], [140.0, 36.07], [140.0, 36.08], [139.99, 36.08], [139.99, 36.07]]
BOWTIE = [[139.99, 36.07], [140.0, 36.08], [140.0, 36.07], [139.99, 36.08], [139.99, 36.07]]
UTM = [[402000.0, 3992000.0], [403000.0, 3992000.0], [403000.0, 3993000.0],
       [402000.0, 3992000.0]]


def geojson(tmp: Path, name: str, obj: object) -> Path:
    p = tmp / name
    p.write_text(json.dumps(obj), encoding="utf-8")
    return p


def polygon(ring: list[list[float]], **props: object) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props,
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}


def kml_polygon(ring: list[list[float]]) -> str:
    coords = " ".join(f"{x},{y}" for x, y in ring)
    return ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
            "<Document><Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>"
            f"{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
            "</Document></kml>")


def _write(tmp: Path, name: str, data: str | bytes) -> Path:
    p = tmp / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def _mkdir(p: Path) -> Path:
    p.mkdir()
    return p


def _area(make: Callable[[Path], Path], problem: str):
    """A bad area file: the error names that file."""
    def case(tmp: Path) -> tuple[list[object], str, str]:
        p = make(tmp)
        return [p], str(p), problem
    return case


def _option(args: list[object], source: str, problem: str):
    def case(tmp: Path) -> tuple[list[object], str, str]:
        return [AREA, *args], source, problem
    return case


def _zones(make: Callable[[Path], Path], problem: str, flag: str = "--obstacles"):
    """A bad --obstacles (or --patrol) file: the error names that file."""
    def case(tmp: Path) -> tuple[list[object], str, str]:
        p = make(tmp)
        return [AREA, flag, p], str(p), problem
    return case


def _fully_blocked(with_home: bool):
    def case(tmp: Path) -> tuple[list[object], str, str]:
        area = geojson(tmp, "field.geojson", polygon(SQUARE))
        cover = [[139.985, 36.065], [140.005, 36.065], [140.005, 36.085], [139.985, 36.085],
                 [139.985, 36.065]]
        zones = geojson(tmp, "cordon.geojson", polygon(cover, name="cordon"))
        home = ["--home", "36.06,139.98"] if with_home else []
        return [area, "--obstacles", zones, *home], str(area), "fully blocked"
    return case


BAD = {
    "area-self-intersecting": _area(
        lambda t: geojson(t, "bowtie.geojson", polygon(BOWTIE)), "self-intersection"),
    "area-self-intersecting-kml": _area(
        lambda t: _write(t, "bowtie.kml", kml_polygon(BOWTIE)), "self-intersection"),
    "area-empty-polygon": _area(lambda t: geojson(
        t, "empty.geojson", {"type": "Polygon", "coordinates": []}), "empty polygon"),
    "area-no-polygon": _area(lambda t: geojson(
        t, "point.geojson", {"type": "Point", "coordinates": [139.99, 36.07]}), "no polygon"),
    "area-projected-coordinates": _area(
        lambda t: geojson(t, "utm.geojson", polygon(UTM)), "out of range"),
    "area-latitude-out-of-range": _area(lambda t: geojson(
        t, "lat95.geojson", polygon([[139.99, 95.0], [140.0, 95.0], [140.0, 95.1],
                                     [139.99, 95.0]])), "out of range"),
    "area-declares-projected-crs": _area(lambda t: geojson(t, "crs.geojson", {
        **polygon(SQUARE),
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32654"}}}),
        "CRS"),
    "area-missing": _area(lambda t: t / "missing.geojson", "file not found"),
    "area-is-a-folder": _area(lambda t: _mkdir(t / "folder.geojson"), "folder"),
    "area-empty-file": _area(lambda t: _write(t, "empty-file.geojson", ""), "empty file"),
    "area-not-json": _area(lambda t: _write(t, "broken.geojson", '{"type": "Feat'), "not JSON"),
    "area-not-utf8": _area(lambda t: _write(t, "binary.geojson", b"\xff\xfe\x00\x81{"),
                           "UTF-8"),
    "area-broken-kml": _area(lambda t: _write(t, "broken.kml", "<kml><Document>"), "KML"),
    "obstacles-missing": _zones(lambda t: t / "no-zones.geojson", "file not found"),
    "obstacles-self-intersecting": _zones(
        lambda t: geojson(t, "zones.geojson", polygon(BOWTIE, name="bad")), "self-intersection"),
    "obstacles-point-without-radius": _zones(lambda t: geojson(t, "mast.geojson", {
        "type": "Feature", "properties": {"name": "mast"},
        "geometry": {"type": "Point", "coordinates": [139.995, 36.075]}}), "radius_m"),
    "patrol-missing": _zones(lambda t: t / "no-pois.geojson", "file not found", "--patrol"),
    "patrol-not-json": _zones(lambda t: _write(t, "pois.geojson", "[1, 2"), "not JSON",
                              "--patrol"),
    "home-inside-landing-zone": _option(
        ["--obstacles", ZONES, "--home", HELI_CENTROID], "--home",
        "Helicopter landing zone (school ground)"),
    "home-latitude-out-of-range": _option(["--home", "95,139.99"], "--home", "out of range"),
    "home-not-lat-lon": _option(["--home", "here"], "--home", "LAT,LON"),
    # no --home: the default home is looked for on the area's edge first (currently fails
    # there with a message that names no file)
    "area-fully-blocked-default-home": _fully_blocked(with_home=False),
    "area-fully-blocked-home-given": _fully_blocked(with_home=True),
    "camera-unknown": _option(["--camera", "nope"], "--camera", "unknown camera 'nope'"),
    "camera-custom-malformed": _option(["--camera", "custom:13.2x8.8:8.8"], "--camera",
                                       "custom:WxH:FOCAL:PXxPY"),
    "overlap-front-96": _option(["--overlap", "96/70"], "--overlap", "0–95 %"),
    "overlap-side-96": _option(["--overlap", "70/96"], "--overlap", "0–95 %"),
    "overlap-negative": _option(["--overlap", "-5/70"], "--overlap", "0–95 %"),
    "overlap-abc": _option(["--overlap", "abc"], "--overlap", "FRONT/SIDE"),
    "overlap-one-number": _option(["--overlap", "80"], "--overlap", "FRONT/SIDE"),
    "altitude-200": _option(["--altitude", "200"], "--altitude", "150 m ceiling"),
    "gsd-above-ceiling": _option(["--gsd", "5"], "--gsd", "150 m ceiling"),
    "wind-no-headway": _option(["--wind", "12@270"], "--wind", "no headway"),
    "wind-not-speed-at-dir": _option(["--wind", "6"], "--wind", "SPEED@FROM_DEG"),
    "wind-direction-400": _option(["--wind", "6@400"], "--wind", "0–360°"),
    "wind-negative": _option(["--wind", "-3@90"], "--wind", "0–40 m/s"),
}


def assert_one_line_error(result, stdout: str, stderr: str, source: str, problem: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: {source}: "), lines[0]
    assert problem in lines[0]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    args, source, problem = BAD[case](inputs)
    before = sorted(p.name for p in inputs.iterdir())
    out = tmp_path / "out"
    result, stdout, stderr = run("plan", *args, "-o", out)
    assert_one_line_error(result, stdout, stderr, source, problem)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no staging folder either
    assert sorted(p.name for p in inputs.iterdir()) == before


@pytest.mark.parametrize("case", ["area-self-intersecting", "home-inside-landing-zone",
                                  "area-fully-blocked-home-given", "camera-unknown",
                                  "overlap-front-96", "altitude-200"])
def test_bad_input_leaves_an_existing_out_folder_as_it_was(tmp_path, case):
    inputs = tmp_path / "in"
    inputs.mkdir()
    args, source, problem = BAD[case](inputs)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sortie_01.plan").write_text("an earlier plan\n", encoding="utf-8")
    (out / "notes.txt").write_text("keep me\n", encoding="utf-8")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    result, stdout, stderr = run("plan", *args, "-o", out)
    assert_one_line_error(result, stdout, stderr, source, problem)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
