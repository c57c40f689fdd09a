"""The vehicles the mission tests fly: the built-in copter, or ArduPilot SITL when
``ARDUPILOT_SITL`` names an ``arducopter`` binary."""

from __future__ import annotations

import os
from typing import Any

import pytest

from missions.flight import FlightConfig
from sitl.builtin import BuiltinCopter

SPEEDUP = 60.0
FAST = FlightConfig(ready_timeout_s=20.0, sortie_timeout_s=60.0, battery_timeout_s=10.0)
VEHICLES = ["builtin", pytest.param("ardupilot", marks=pytest.mark.skipif(
    not os.environ.get("ARDUPILOT_SITL"),
    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter binary"))]


class Sim:
    """A vehicle to fly: the built-in copter or ArduPilot SITL, with the hooks the tests use."""

    def __init__(self, kind: str, home: tuple[float, float], params: dict[str, float]) -> None:
        self.kind = kind
        if kind == "builtin":
            self.v: Any = BuiltinCopter(*home, 20.0, speedup=SPEEDUP, params=params).start()
            self.url = self.v.url
        else:
            from sitl.ardupilot import ArduPilotSitl
            self.v = ArduPilotSitl(home=(*home, 20.0, 0.0), speedup=10, params=params).start()
            try:
                self.v.wait_ready(timeout_s=60)
            except BaseException:
                self.v.stop()  # else it keeps port 5760 for every later test
                raise
            self.url = self.v.url

    def refill(self, sortie: int) -> None:
        if self.kind == "builtin":
            self.v.set_battery_remaining_pct(100.0)
        else:
            self.v.set_battery_full()

    def stop(self) -> None:
        self.v.stop()
