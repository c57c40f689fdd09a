"""`survey plan` starts without loading what it never runs (#17): the flight code's pymavlink,
OpenCV, torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pymavlink.mavutil", "cv2", "torch", "ultralytics", "missions.fly.flight")


def test_planning_loads_no_flight_or_vision_code(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from survey.cli.main import app\n"
        f"sys.argv = ['survey', 'plan', 'examples/joso/area.geojson', '--obstacles',\n"
        f"            'examples/joso/zones.geojson', '-o', {str(tmp_path / 'plan')!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "plan").is_dir()
