"""`survey fly` through typer's CliRunner against the built-in vehicle: a sortie flown to the
end, and what goes wrong before take-off (unreachable URL, no heartbeat, wrong vehicle, refused
arming, damaged plan): one line, its own exit code (2 input, 3 link, 4 refused), the vehicle left
disarmed."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from pymavlink.dialects.v20 import ardupilotmega as mavlink
from rich.console import Console
from shapely.geometry import Polygon
from typer.testing import CliRunner

from missions.plan.drone import DroneProfile
from missions.plan.export.bundle import write_plan_files
from missions.plan.planner import PlanRequest, make_plan
from sitl.builtin import BuiltinCopter
from sitl.builtin.serial_bridge import PtyBridge
from survey.cli import fly as fly_cmd
from survey.cli.main import AppContext
from survey.core.camera import CATALOG

ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HOME = (36.0712, 139.9812)

app = typer.Typer()


@app.callback()
def _main(ctx: typer.Context) -> None:
    ctx.obj = AppContext(out=Console(width=120), err=Console(stderr=True, width=120))


app.command("fly", no_args_is_help=True)(fly_cmd.fly)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["fly", *[str(a) for a in args]], env=ENV)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_survey(tmp_path_factory.mktemp("plan"))


def small_survey(out: Path) -> Path:
    """A small survey (about 120 × 80 m north-east of home) planned by make_plan, in ``out``."""
    lat, lon = HOME
    d_lat, d_lon = 1 / 111_320, 1 / (111_320 * 0.8087)
    area = Polygon([(lon + 20 * d_lon, lat + 20 * d_lat), (lon + 140 * d_lon, lat + 20 * d_lat),
                    (lon + 140 * d_lon, lat + 100 * d_lat), (lon + 20 * d_lon, lat + 100 * d_lat)])
    plan = make_plan(PlanRequest(area=area, camera=CATALOG["mavic3e"], home_latlon=HOME,
                                 altitude_m=40.0, drone=DroneProfile()))
    write_plan_files(plan, out)
    return out


@pytest.fixture
def vehicle() -> Iterator[BuiltinCopter]:
    with BuiltinCopter(*HOME, 10.0, speedup=60) as v:
        yield v


def copy_plan(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.glob("*.plan"):
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_help_has_an_example() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Example: survey fly" in out and "--resume" in out
    assert "--baud" in out and "default 57600" in out and "serial:/dev/ttyUSB0" in out
    flat = " ".join(out.split())
    for code_text in ("2 bad input", "3 link", "4 refused by the vehicle", "5 a sortie cut short",
                      "130 Ctrl-C"):
        assert code_text in flat, code_text


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_flies_a_sortie_over_a_serial_radio(vehicle: BuiltinCopter, plan_dir: Path,
                                            tmp_path: Path) -> None:
    """A USB telemetry radio, played by a pseudo-terminal bridged to the vehicle's TCP port."""
    folder = copy_plan(plan_dir, tmp_path / "p")
    with PtyBridge("127.0.0.1", vehicle.port) as radio:
        code, out, err = run(folder, "--connect", radio.device, "--baud", 57600,
                             "--sortie", 1)
    assert code == 0, err + out
    assert radio.failure is None
    assert "completed" in out and "landed and disarmed" in out
    photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())["photos"]
    assert photos and len(photos) == len(vehicle.camera_shots())
    assert not vehicle.state().armed


@pytest.mark.parametrize(("device", "message"), [
    ("/dev/ttyNOSUCH7", "error: --connect: /dev/ttyNOSUCH7: no such serial device"),
    ("serial:/dev/ttyNOSUCH7:57600", "error: --connect: /dev/ttyNOSUCH7: no such serial device"),
    ("serial:/dev/ttyNOSUCH7:1234", "error: --connect: 1234 is not a standard serial rate"),
    ("/dev/null", "error: --connect: /dev/null: cannot open it as a serial port"),
])
def test_unusable_serial_device(plan_dir: Path, device: str, message: str) -> None:
    code, _, err = run(plan_dir, "--connect", device, "--timeout", 1)
    assert code == 2 and err.count("\n") == 1 and err.startswith(message), err


def test_flies_a_sortie_to_the_end(vehicle: BuiltinCopter, plan_dir: Path,
                                   tmp_path: Path) -> None:
    folder = copy_plan(plan_dir, tmp_path / "p")
    code, out, err = run(folder, "--connect", vehicle.url, "--sortie", 1)
    assert code == 0, err + out
    assert "completed" in out and "landed and disarmed" in out
    photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())["photos"]
    assert photos and len(photos) == len(vehicle.camera_shots())
    assert (folder / "flight" / "sortie_01.jsonl").stat().st_size > 0
    assert not vehicle.state().armed


def test_unreachable_url(plan_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = run(plan_dir, "--connect", f"tcp:127.0.0.1:{port}")
    assert code == 3 and err.count("\n") == 1  # the link
    assert err.startswith("error: tcp:127.0.0.1:") and "cannot connect" in err


def test_no_heartbeat(plan_dir: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code, _, err = run(plan_dir, "--connect", f"tcp:127.0.0.1:{port}", "--timeout", 0.5)
    assert code == 3 and err.count("\n") == 1
    assert "no vehicle HEARTBEAT from the vehicle within 0.5 s" in err


def test_wrong_vehicle_type(plan_dir: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def plane() -> None:
        conn, _ = server.accept()
        mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
        with conn:
            while not stop.wait(0.05):
                try:
                    conn.sendall(mav.heartbeat_encode(mavlink.MAV_TYPE_FIXED_WING,
                                                      mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0,
                                                      3).pack(mav))
                except OSError:
                    return

    t = threading.Thread(target=plane, daemon=True)
    t.start()
    try:
        code, _, err = run(plan_dir, "--connect", f"tcp:127.0.0.1:{port}", "--timeout", 5)
    finally:
        stop.set()
        t.join(2)
        server.close()
    assert code == 4 and err.count("\n") == 1 and "FIXED_WING" in err


def test_arming_refused_shows_the_statustext(vehicle: BuiltinCopter, plan_dir: Path,
                                             tmp_path: Path) -> None:
    vehicle.inject_fault("arming_refused")
    code, _, err = run(copy_plan(plan_dir, tmp_path / "p"), "--connect", vehicle.url,
                       "--sortie", 1)
    assert code == 4, err  # refused by the vehicle
    assert err.strip().splitlines()[-1].startswith("error: vehicle refused to arm")
    assert "PreArm: Injected fault" in err
    assert not vehicle.state().armed


def test_damaged_plan_is_refused_before_connecting(vehicle: BuiltinCopter, plan_dir: Path,
                                                   tmp_path: Path) -> None:
    folder = copy_plan(plan_dir, tmp_path / "p")
    (folder / "sortie_01.plan").write_text('{"fileType": "Plan", "version": 1, "miss')
    code, _, err = run(folder, "--connect", vehicle.url)
    assert code == 2 and err.count("\n") == 1
    assert "sortie_01.plan" in err and "not a readable JSON file" in err
    assert vehicle.received_messages() == []


@pytest.mark.parametrize(("args", "message"), [
    (["--sortie", 9], "--sortie: no sortie 9"),
    (["--signing-key", "/nonexistent/key"], "cannot read the signing key"),
    (["--timeout", 0], "--timeout: must be positive"),
    (["--baud", 0], "--baud: 0 is not a standard serial rate"),
    (["--baud", 56000], "--baud: 56000 is not a standard serial rate"),
    (["--baud", 57600], "--baud: only applies to a serial device"),
])
def test_bad_options(vehicle: BuiltinCopter, plan_dir: Path, args: list[object],
                     message: str) -> None:
    code, _, err = run(plan_dir, "--connect", vehicle.url, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_missing_plan_folder(tmp_path: Path) -> None:
    code, _, err = run(tmp_path / "nope", "--connect", "tcp:127.0.0.1:1")
    assert code == 2 and "not a folder" in err
