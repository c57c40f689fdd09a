"""`survey sitl start` through CliRunner (built-in vehicle), and the ArduPilot SITL launcher
without a binary: how it finds, starts and reports one."""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import typer
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from rich.console import Console
from typer.testing import CliRunner

from missions.fly.link import connect
from sitl import ardupilot
from sitl.ardupilot import ArduPilotSitl, SitlError, find_binary, home_arg
from sitl.builtin import BuiltinCopter
from sitl.launch import SimulatedCopter
from survey.cli import sitl as sitl_cmd
from survey.cli.main import AppContext

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

app = typer.Typer()


@app.callback()
def _main(ctx: typer.Context) -> None:
    ctx.obj = AppContext(out=Console(width=120), err=Console(stderr=True, width=120))


app.add_typer(sitl_cmd.sitl_app, name="sitl")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sitl", *[str(a) for a in args]], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def test_start_builtin_serves_until_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_wait(stop: Any, vehicle: Any, swap_battery: bool) -> None:
        with connect(vehicle.url, timeout_s=5, rates_hz=None) as link:
            seen["sysid"] = link.target_system
        seen["url"] = vehicle.url
        raise KeyboardInterrupt

    monkeypatch.setattr(sitl_cmd, "_wait", fake_wait)
    code, out, err = run("start", "--home", "36.0712345678,139.9812345678", "--speedup", 10,
                         "--port", 0)
    assert code == 0, err
    assert seen["sysid"] == 1 and seen["url"] in out
    assert "36.0712346,139.9812346" in out and "stopping" in out


def test_start_takes_home_from_a_plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_wait(stop: Any, vehicle: Any, swap_battery: bool) -> None:
        seen["home"] = (vehicle.state().lat_deg, vehicle.state().lon_deg)
        raise KeyboardInterrupt

    monkeypatch.setattr(sitl_cmd, "_wait", fake_wait)
    (tmp_path / "summary.json").write_text(
        '{"home": {"lat_deg": 36.0711, "lon_deg": 139.9933}}')
    code, _, err = run("start", "--plan", tmp_path, "--port", 0)
    assert code == 0, err
    assert seen["home"] == pytest.approx((36.0711, 139.9933), abs=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (["--home", "91,0"], "--home"),
    ([], "--home: give --home LAT,LON or --plan DIR"),
    (["--plan", "/nonexistent"], "summary.json: no such file"),
    (["--home", "36,139", "--speedup", 0], "--speedup: must be positive"),
    (["--home", "36,139", "--port", 70000], "--port"),
])
def test_start_bad_options(args: list[object], message: str) -> None:
    code, _, err = run("start", *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_start_ardupilot_without_a_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARDUPILOT_SITL", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run("start", "--vehicle", "ardupilot", "--home", "36,139")
    assert code == 2 and "ArduPilot SITL not found" in err and err.count("\n") == 1


def test_help_has_an_example() -> None:
    code, out, _ = run("start", "--help")
    assert code == 0 and "Example: survey sitl start" in out
    assert "--dem dem.tif" in out


def _slope_dem(path: Path, lat: float, lon: float) -> Path:
    """A 400 m square GeoTIFF (UTM 54N) around (lat, lon) whose height grows 0.1 m per metre
    east from 250 m at its west edge."""
    import numpy as np
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import Affine

    x, y = Transformer.from_crs(4326, 32654, always_xy=True).transform(lon, lat)
    heights = np.tile(250.0 + 0.1 * (np.arange(40) * 10.0 + 5.0), (40, 1))
    with rasterio.open(path, "w", driver="GTiff", width=40, height=40, count=1,
                       dtype="float64", crs="EPSG:32654",
                       transform=Affine(10.0, 0.0, x - 200.0, 0.0, -10.0, y + 200.0)) as dst:
        dst.write(heights, 1)
    return path


def test_start_over_a_dem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_wait(stop: Any, vehicle: Any, swap_battery: bool) -> None:
        seen["state"] = vehicle.wait_for(lambda s: s.ready, timeout_s=10)
        raise KeyboardInterrupt

    monkeypatch.setattr(sitl_cmd, "_wait", fake_wait)
    dem = _slope_dem(tmp_path / "dem.tif", 35.3606, 138.7274)
    code, out, err = run("start", "--home", "35.3606,138.7274", "--dem", dem, "--port", 0,
                         "--speedup", 10)
    assert code == 0, err
    state = seen["state"]
    assert state.alt_amsl_m == pytest.approx(270.0, abs=0.01)  # on the DEM at home, mid-slope
    assert state.ground_alt_m == pytest.approx(270.0, abs=0.01) and "dem.tif" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--dem", "/nonexistent/dem.tif"], "no such DEM file"),
    (["--dem", "{not_a_raster}"], "not a readable raster"),
    (["--dem", "{dem}", "--vehicle", "ardupilot"], "--dem: only the built-in vehicle"),
    (["--home", "35.5,138.7274", "--dem", "{dem}"], "--dem: no height at home"),
])
def test_start_bad_dem(tmp_path: Path, args: list[str], message: str) -> None:
    dem = _slope_dem(tmp_path / "dem.tif", 35.3606, 138.7274)
    (tmp_path / "junk.tif").write_text("not a raster")
    args = [a.format(dem=dem, not_a_raster=tmp_path / "junk.tif") for a in args]
    home = [] if "--home" in args else ["--home", "35.3606,138.7274"]
    code, _, err = run("start", *home, *args, "--port", 0)
    assert code == 2 and message in err and err.count("\n") == 1, err


# ---------------------------------------------------------------------------- battery swap

class _Rounds(threading.Event):
    """A stop event that lets ``_wait`` go round ``n`` times, without waiting."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def wait(self, timeout: float | None = None) -> bool:
        self.n -= 1
        return self.n < 0


class _Counting:
    url = "tcp:127.0.0.1:1"

    def __init__(self) -> None:
        self.swaps = 0

    def swap_battery(self, *, timeout_s: float = 0.0) -> bool:
        self.swaps += 1
        return False

    def stop(self) -> None:
        pass


@pytest.mark.parametrize(("swap", "expected"), [(True, 3), (False, 0)])
def test_wait_swaps_only_when_asked(swap: bool, expected: int) -> None:
    vehicle = _Counting()
    assert isinstance(vehicle, SimulatedCopter)
    sitl_cmd._wait(_Rounds(3), vehicle, swap)
    assert vehicle.swaps == expected


def test_wait_gives_a_landed_builtin_copter_a_full_battery() -> None:
    with BuiltinCopter(36.0712345678, 139.9812345678, speedup=10) as vehicle:
        vehicle.set_battery_remaining_pct(40.0)
        sitl_cmd._wait(_Rounds(1), vehicle, True)
        assert vehicle.state().battery_remaining_pct == pytest.approx(100.0)


@pytest.mark.parametrize("kind", ["builtin", pytest.param("ardupilot", marks=pytest.mark.skipif(
    not os.environ.get("ARDUPILOT_SITL"),
    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter binary"))])
def test_start_swaps_the_battery_after_landing(monkeypatch: pytest.MonkeyPatch,
                                               kind: str) -> None:
    """`survey sitl start --vehicle KIND`: a used battery on a landed, disarmed copter is full
    again, as a ground station sees it."""
    real_wait = sitl_cmd._wait
    seen: dict[str, Any] = {}

    def battery(link: Any, predicate: Any) -> int:
        with link.subscribe("SYS_STATUS") as sub:
            return int(sub.get(20, lambda m: predicate(m.battery_remaining)).battery_remaining)

    def fake_wait(stop: threading.Event, vehicle: Any, swap_battery: bool) -> None:
        with connect(vehicle.url, timeout_s=15,
                     rates_hz={mavlink.MAVLINK_MSG_ID_SYS_STATUS: 2.0}) as link:
            if kind == "builtin":
                vehicle.set_battery_remaining_pct(40.0)
            else:
                vehicle.set_battery_full(40.0)
            seen["before"] = battery(link, lambda pct: pct <= 45)
            waiting = threading.Thread(target=real_wait, args=(stop, vehicle, swap_battery))
            waiting.start()
            try:
                seen["after"] = battery(link, lambda pct: pct >= 99)
            finally:
                stop.set()
                waiting.join()
        raise KeyboardInterrupt

    monkeypatch.setattr(sitl_cmd, "_wait", fake_wait)
    port = 0 if kind == "builtin" else 5790  # instance 3: clear of other tests' instance 0
    code, out, err = run("start", "--vehicle", kind, "--home", "36.0712345678,139.9812345678",
                         "--speedup", 10, "--port", port)
    assert code == 0, err
    assert seen["before"] <= 45 and seen["after"] >= 99 and "stopping" in out


# ---------------------------------------------------------------------------- launcher

def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_home_keeps_full_precision() -> None:
    assert home_arg(-35.363261123456, 149.165230987654, 584.25, 353.0) == \
        "-35.363261123456,149.165230987654,584.25,353.0"


def test_find_binary_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = _script(tmp_path / "arducopter", "")
    monkeypatch.setenv("ARDUPILOT_SITL", str(exe))
    assert find_binary() == exe
    monkeypatch.delenv("ARDUPILOT_SITL")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binary() == exe
    (tmp_path / "plain").write_text("")
    with pytest.raises(SitlError, match="not an executable"):
        find_binary(tmp_path / "plain")


def test_command_line_and_defaults_file(tmp_path: Path) -> None:
    exe = _script(tmp_path / "arducopter", "")
    sitl = ArduPilotSitl((36.0712345678, 139.9812345678, 20.0, 90.0), speedup=10, instance=2,
                         params={"BATT_FS_LOW_ACT": 2}, binary=exe, workdir=tmp_path / "w")
    (tmp_path / "w").mkdir()
    ardupilot.write_defaults(tmp_path / "w" / "defaults.parm", sitl.params)
    cmd = sitl.command_line()
    assert cmd[:5] == [str(exe), "--model", "quad", "--home",
                       "36.0712345678,139.9812345678,20.0,90.0"]
    assert cmd[cmd.index("--speedup") + 1] == "10.0" and cmd[cmd.index("-I") + 1] == "2"
    assert "--wipe" in cmd and cmd[cmd.index("--defaults") + 1].endswith("defaults.parm")
    text = (tmp_path / "w" / "defaults.parm").read_text()
    assert "BATT_FS_LOW_ACT 2.0\n" in text and "CAM1_TYPE 1.0\n" in text
    assert sitl.console_port == 5780 and sitl.url == "tcp:127.0.0.1:5782"


def test_a_binary_that_exits_is_reported_with_its_output(tmp_path: Path) -> None:
    exe = _script(tmp_path / "arducopter",
                  "import sys\nprint('bad model quad: no frame')\nsys.exit(3)\n")
    sitl = ArduPilotSitl((36.0, 139.0, 0.0, 0.0), binary=exe, instance=37)
    with pytest.raises(SitlError, match=r"exited with code 3; its output ends: bad model"):
        sitl.start(connect_timeout_s=10)
    assert sitl.process is None and not sitl.workdir.exists()


@pytest.mark.skipif(not os.environ.get("ARDUPILOT_SITL"),
                    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter "
                    "binary")
def test_real_sitl_becomes_ready() -> None:
    with ArduPilotSitl((36.0712345678, 139.9812345678, 20.0, 0.0), speedup=10) as sitl:
        sitl.wait_ready(timeout_s=60)
        with connect(sitl.url, timeout_s=10) as link:
            assert link.target_system == 1
