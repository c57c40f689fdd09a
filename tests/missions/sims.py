"""The vehicles the mission tests fly: the built-in copter, or ArduPilot SITL when
``ARDUPILOT_SITL`` names an ``arducopter`` binary."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.flight import FlightConfig
from sitl.builtin import BuiltinCopter
from survey.core.mavlink import CopterMode

SPEEDUP = 60.0
FAST = FlightConfig(ready_timeout_s=20.0, sortie_timeout_s=60.0, battery_timeout_s=10.0)
VEHICLES = ["builtin", pytest.param("ardupilot", marks=pytest.mark.skipif(
    not os.environ.get("ARDUPILOT_SITL"),
    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter binary"))]


class Sim:
    """A vehicle to fly: the built-in copter or ArduPilot SITL, with the hooks the tests use."""

    def __init__(self, kind: str, home: tuple[float, float], params: dict[str, float], *,
                 speedup: float | None = None) -> None:
        self.kind = kind
        if kind == "builtin":
            self.v: Any = BuiltinCopter(*home, 20.0, speedup=speedup or SPEEDUP,
                                        params=params).start()
            self.url = self.v.url
        else:
            from sitl.ardupilot import ArduPilotSitl
            self.v = ArduPilotSitl(home=(*home, 20.0, 0.0), speedup=speedup or 10,
                                   params=params).start()
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

    @property
    def second_url(self) -> str:
        """Where a second ground station connects (ArduPilot's TCP ports take one client
        each: SERIAL2 is the next one)."""
        return self.url if self.kind == "builtin" else f"tcp:127.0.0.1:{self.v.port + 1}"


class Observer:
    """Watches the vehicle without being its ground station (no heartbeats of its own):
    the built-in vehicle's state, or ArduPilot's SERIAL2 (TCP 5763)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.conn: Any = None
        if sim.kind == "ardupilot":
            self.conn = mavutil.mavlink_connection(sim.second_url, source_system=254,
                                                   dialect="ardupilotmega")

    def wait_mode(self, name: str, timeout_s: float) -> None:
        if self.conn is None:
            self.sim.v.wait_for(lambda s: s.mode.name == name, timeout_s=timeout_s)
            return
        want = int(CopterMode[name])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hb = self.conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
            if hb is not None and hb.type != mavlink.MAV_TYPE_GCS and hb.custom_mode == want:
                return
        raise AssertionError(f"the vehicle did not enter {name} within {timeout_s:g} s")

    def armed(self, timeout_s: float = 5.0) -> bool:
        if self.conn is None:
            return bool(self.sim.v.state().armed)
        hb = None
        while (msg := self.conn.recv_match(type="HEARTBEAT", blocking=False)) is not None:
            hb = msg if msg.type != mavlink.MAV_TYPE_GCS else hb  # up to the newest
        deadline = time.monotonic() + timeout_s
        while hb is None and time.monotonic() < deadline:
            msg = self.conn.recv_match(type="HEARTBEAT", blocking=True, timeout=0.5)
            hb = msg if msg is not None and msg.type != mavlink.MAV_TYPE_GCS else None
        assert hb is not None, "no heartbeat from the vehicle"
        return bool(hb.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
