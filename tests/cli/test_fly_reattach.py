"""Kill and re-attach (#16): `survey fly` SIGKILLed in flight, a new `survey fly --resume`
attaches to the vehicle still in the air, follows its failsafe to landing (exit 5), and a third
one flies the rest of the sortie (exit 0). Real processes against the built-in vehicle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sitl.builtin import BuiltinCopter
from tests.cli.test_fly_cli import HOME, copy_plan, small_survey

DRIVER = "from survey.cli.main import app; app(prog_name='survey')"
ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "150"}
# GCS failsafe: RTL 2 s (real) after the last ground-station heartbeat; a long loiter above
# home leaves the re-attaching process time to start on a busy machine; rally points farther
# than 1 m are passed over, so it lands at home, where the last run takes off again.
PARAMS = {"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2, "RTL_LOIT_TIME": 60000,
          "RALLY_LIMIT_KM": 0.001}


def _fly(folder: Path, url: str, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", DRIVER, "fly", str(folder), "--connect", url,
                             "--sortie", "1", *more], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _state(folder: Path) -> dict[str, object]:
    try:
        return json.loads((folder / "flight" / "state.json").read_text())["sorties"]["1"]
    except (OSError, ValueError, KeyError):
        return {}


@pytest.mark.slow
def test_killed_fly_is_reattached_and_the_sortie_finished(tmp_path: Path) -> None:
    planned = small_survey(tmp_path / "plan")
    folder = copy_plan(planned, tmp_path / "p")
    (folder / "summary.json").write_bytes((planned / "summary.json").read_bytes())
    n_planned = json.loads((planned / "summary.json").read_text())["sorties"][0]["photos"]
    with BuiltinCopter(*HOME, 10.0, speedup=5, params=PARAMS) as vehicle:
        first = _fly(folder, vehicle.url)
        try:
            deadline = time.monotonic() + 120
            # in the air, past the second item: the state file says which mission it flies
            while not (int(_state(folder).get("last_reached", 0)) >= 3
                       and _state(folder).get("mission")):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the sortie never got going"
                time.sleep(0.05)  # polling a file for a condition, with a deadline
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate()
        assert vehicle.state().armed
        photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())
        taken_before = len(photos["photos"])
        vehicle.wait_for(lambda s: s.mode.name == "RTL", timeout_s=30)  # its GCS failsafe

        second = _fly(folder, vehicle.url, "--resume")
        out, err = second.communicate(timeout=180)
        assert second.returncode == 5, err + out
        assert "attached to the sortie in the air" in out and "landed and disarmed" in out
        assert "found in RTL when attached" in err, err
        assert err.strip().count("\n") == 0 and "--resume" in err
        st = vehicle.state()
        assert not st.armed and st.landed
        photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())
        assert len(photos["photos"]) >= taken_before  # kept through the kill

        vehicle.set_battery_remaining_pct(100.0)
        third = _fly(folder, vehicle.url, "--resume")
        out, err = third.communicate(timeout=180)
        assert third.returncode == 0, err + out
        assert "completed" in out
        assert f" of {n_planned} planned" in out
        state = _state(folder)
        assert state["completed"] is True and "mission" not in state
