"""Kill and re-attach (#16): `survey fly` SIGKILLed in flight, the vehicle's GCS failsafe turns
it home, a new `survey fly --resume` attaches to the vehicle still in the air and follows it to
landing (exit 5), and a third one flies the rest of the sortie (exit 0). Real processes, against
the built-in vehicle and ArduPilot SITL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_fly_cli import HOME, copy_plan, small_survey
from tests.missions.sims import VEHICLES, Observer, Sim

DRIVER = "from survey.cli.main import app; app(prog_name='survey')"
ENV = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "150"}
# GCS failsafe: RTL after 2 real seconds without a ground-station heartbeat (ArduPilot counts
# simulated seconds: 30 at speed-up 10). A long loiter above home leaves the re-attaching
# process time to start on a busy machine.
PARAMS = {"builtin": {"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2, "RTL_LOIT_TIME": 60000},
          "ardupilot": {"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 30, "RTL_LOIT_TIME": 60000}}
SPEEDUP = {"builtin": 5.0, "ardupilot": 10.0}


def _fly(folder: Path, url: str, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", DRIVER, "fly", str(folder), "--connect", url,
                             "--sortie", "1", *more], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def _state(folder: Path) -> dict[str, object]:
    try:
        return json.loads((folder / "flight" / "state.json").read_text())["sorties"]["1"]
    except (OSError, ValueError, KeyError):
        return {}


def _without_rally(folder: Path) -> None:
    """RTL to home, not to a rally point, so the last run takes off where the plan starts."""
    path = folder / "sortie_01.plan"
    doc = json.loads(path.read_text())
    doc["rallyPoints"]["points"] = []
    path.write_text(json.dumps(doc))


@pytest.mark.slow
@pytest.mark.parametrize("kind", VEHICLES)
def test_killed_fly_is_reattached_and_the_sortie_finished(kind: str, tmp_path: Path) -> None:
    planned = small_survey(tmp_path / "plan")
    folder = copy_plan(planned, tmp_path / "p")
    (folder / "summary.json").write_bytes((planned / "summary.json").read_bytes())
    _without_rally(folder)
    n_planned = json.loads((planned / "summary.json").read_text())["sorties"][0]["photos"]
    sim = Sim(kind, HOME, PARAMS[kind], speedup=SPEEDUP[kind])
    observer = Observer(sim)
    try:
        first = _fly(folder, sim.url)
        try:
            deadline = time.monotonic() + 180
            # in the air, past the second item: the state file says which mission it flies
            while not (int(_state(folder).get("last_reached", 0)) >= 3
                       and _state(folder).get("mission")):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the sortie never got going"
                time.sleep(0.05)  # polling a file for a condition, with a deadline
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate()
        photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())
        taken_before = len(photos["photos"])
        observer.wait_mode("RTL", 60)  # its GCS failsafe

        second = _fly(folder, sim.url, "--resume")
        out, err = second.communicate(timeout=300)
        assert second.returncode == 5, err + out
        assert "attached to the sortie in the air, in RTL" in out, out
        assert "landed and disarmed" in out
        assert "found in RTL when attached" in err and "--resume" in err, err
        assert err.strip().count("\n") == 0
        assert not observer.armed()
        photos = json.loads((folder / "flight" / "sortie_01_photos.json").read_text())
        assert len(photos["photos"]) >= taken_before  # kept through the kill

        sim.refill(1)
        third = _fly(folder, sim.url, "--resume")
        out, err = third.communicate(timeout=300)
        assert third.returncode == 0, err + out
        assert "completed" in out and f" of {n_planned} planned" in out
        state = _state(folder)
        assert state["completed"] is True and "mission" not in state
    finally:
        observer.close()
        sim.stop()
