"""`survey plan --drones N` and `--fleet FILE`: one folder of mission files per drone, a fleet
summary whose makespan is balanced, and one-line refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape
from typer.testing import CliRunner

from survey.cli.main import app

JOSO = Path(__file__).resolve().parents[2] / "examples" / "joso"
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BASE = ["plan", JOSO / "area.geojson", "--obstacles", JOSO / "zones.geojson", "--gsd", 2.0]


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def test_three_drones_get_balanced_disjoint_parts(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    code, stdout, stderr = run(*BASE, "--drones", 3, "-o", out)
    assert code == 0, stderr + stdout
    assert "Fleet plan: 3 drones" in stdout
    fleet = json.loads((out / "summary.json").read_text(encoding="utf-8"))["fleet"]
    drones = fleet["drones"]
    assert [d["name"] for d in drones] == ["drone1", "drone2", "drone3"]
    for d in drones:
        assert (out / d["folder"] / "sortie_01.plan").is_file()
        assert (out / d["folder"] / "summary.json").is_file()
    times = [d["time_s"] for d in drones]
    assert max(times) == pytest.approx(fleet["makespan_s"])
    assert fleet["makespan_s"] <= 1.15 * sum(times) / len(times)
    parts = [shape(d["part"]) for d in drones]
    for i in range(3):
        for j in range(i + 1, 3):
            assert parts[i].intersection(parts[j]).area < 1e-12  # lon/lat degrees²
    whole = shapely.union_all(parts)
    area = shapely.union_all([shape(f["geometry"]) for f in json.loads(
        (JOSO / "area.geojson").read_text(encoding="utf-8"))["features"]])
    assert whole.symmetric_difference(area).area < 1e-4 * area.area


def test_fleet_file_names_the_drones_and_their_homes(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.json"
    fleet_file.write_text(json.dumps({"drones": [
        {"name": "north", "home": "36.0762,139.9925", "speed_m_s": 12},
        {"name": "south", "home": [36.0660, 139.9915], "endurance_min": 20}]}))
    out = tmp_path / "out"
    code, stdout, stderr = run(*BASE, "--fleet", fleet_file, "-o", out)
    assert code == 0, stderr + stdout
    fleet = json.loads((out / "summary.json").read_text(encoding="utf-8"))["fleet"]
    by_name = {d["name"]: d for d in fleet["drones"]}
    assert set(by_name) == {"north", "south"}
    assert by_name["north"]["cruise_speed_m_s"] == 12
    assert by_name["north"]["home"]["lat_deg"] == pytest.approx(36.0762)
    assert (out / "north" / "sortie_01.waypoints").is_file()


@pytest.mark.parametrize(("extra", "source", "problem"), [
    (["--drones", 2, "--fleet", "{fleet}"], "--fleet", "not both"),
    (["--fleet", "{bad}"], "{bad}", "not a readable JSON file"),
    (["--fleet", "{nohome}"], "{nohome}", "home"),
    (["--drones", 0], "survey plan", "'--drones'"),
])
def test_fleet_refusals_are_one_line(tmp_path: Path, extra: list[object], source: str,
                                     problem: str) -> None:
    files = {"fleet": tmp_path / "f.json", "bad": tmp_path / "bad.json",
             "nohome": tmp_path / "nohome.json"}
    files["fleet"].write_text(json.dumps([{"name": "a", "home": "36.07,139.99"}]))
    files["bad"].write_text("[{")
    files["nohome"].write_text(json.dumps([{"name": "a"}]))
    args = [str(a).format(**files) for a in extra]
    out = tmp_path / "o"
    code, _, stderr = run(*BASE, *args, "-o", out)
    assert code == 2 and "Traceback" not in stderr, stderr
    assert problem in stderr and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"error: {source.format(**files)}: "), stderr
    assert not out.exists()
