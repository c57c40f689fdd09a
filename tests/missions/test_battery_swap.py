"""The battery swap between sorties, one interface on both simulators
(:class:`sitl.launch.SimulatedCopter`): the built-in copter always, ArduPilot SITL when
``ARDUPILOT_SITL`` names an ``arducopter`` binary.

What a ground station sees is checked over MAVLink (SYS_STATUS); every wait has a deadline and
no test sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly import commands as cmd
from missions.fly.flight import EventKind, FlightEvent
from missions.fly.link import Link, connect
from missions.plan.export.bundle import write_plan_files
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from sitl.launch import SimulatedCopter, VehicleKind, start_vehicle
from survey.pipelines import demo

HOME = (36.0712345678, 139.9812345678)
ARDUPILOT = pytest.mark.skipif(
    not os.environ.get("ARDUPILOT_SITL"),
    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter binary")
KINDS = [VehicleKind.BUILTIN, pytest.param(VehicleKind.ARDUPILOT, marks=ARDUPILOT)]
SYS_STATUS_RATES = {mavlink.MAVLINK_MSG_ID_SYS_STATUS: 2.0}
SITL_INSTANCE = 3  # TCP 5790: clear of the instance 0 other test files start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _set_charge(sim: Any, pct: float) -> None:
    """Simulator-specific test hooks: pretend a sortie used the battery."""
    if isinstance(sim, BuiltinCopter):
        sim.set_battery_remaining_pct(pct)
    else:
        sim.set_battery_full(pct)


def _battery(link: Link, predicate: Any, timeout_s: float = 10.0) -> int:
    with link.subscribe("SYS_STATUS") as sub:
        msg = sub.get(timeout_s, lambda m: predicate(m.battery_remaining),
                      what="SYS_STATUS with the expected battery")
    return int(msg.battery_remaining)


@pytest.fixture(params=KINDS)
def started(request: pytest.FixtureRequest) -> Iterator[tuple[SimulatedCopter, str]]:
    """A simulator as `survey sitl start` and the demo start it."""
    kind = request.param
    port = _free_port() if kind is VehicleKind.BUILTIN else 5760 + 10 * SITL_INSTANCE
    sim, url = start_vehicle(kind, *HOME, 20.0, 10.0, port)
    try:
        yield sim, url
    finally:
        sim.stop()


@pytest.fixture(params=KINDS)
def no_auto_disarm(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A simulator that stays armed on the ground (DISARM_DELAY 0), ready to arm."""
    params = {"DISARM_DELAY": 0.0}
    if request.param is VehicleKind.BUILTIN:
        sim: Any = BuiltinCopter(*HOME, 20.0, speedup=20, params=params).start()
        try:
            sim.wait_for(lambda s: s.ready, 30)
        except BaseException:
            sim.stop()
            raise
    else:
        from sitl.ardupilot import ArduPilotSitl
        sim = ArduPilotSitl((*HOME, 20.0, 0.0), speedup=10, params=params,
                            instance=SITL_INSTANCE).start()
        try:
            sim.wait_ready(timeout_s=60)
        except BaseException:
            sim.stop()
            raise
    try:
        yield sim
    finally:
        sim.stop()


def test_both_simulators_have_the_one_interface() -> None:
    from sitl.ardupilot import ArduPilotSitl
    for cls in (BuiltinCopter, ArduPilotSitl):
        assert all(callable(getattr(cls, name, None)) for name in ("swap_battery", "stop"))
        assert isinstance(getattr(cls, "url", None), property)


def test_a_landed_copter_gets_a_full_battery(started: tuple[SimulatedCopter, str]) -> None:
    sim, url = started
    assert isinstance(sim, SimulatedCopter) and sim.url == url
    with connect(url, timeout_s=15, rates_hz=SYS_STATUS_RATES) as link:
        assert _battery(link, lambda pct: pct >= 99) >= 99
        assert sim.swap_battery(timeout_s=10) is False  # full already: nothing to swap
        _set_charge(sim, 40.0)
        assert _battery(link, lambda pct: pct <= 45) <= 45
        assert sim.swap_battery(timeout_s=10) is True
        assert _battery(link, lambda pct: pct >= 99) >= 99
        assert sim.swap_battery(timeout_s=10) is False


def test_an_armed_copter_keeps_its_battery(no_auto_disarm: Any) -> None:
    sim = no_auto_disarm
    with connect(sim.url, timeout_s=15, rates_hz=SYS_STATUS_RATES) as link:
        _set_charge(sim, 40.0)
        cmd.set_mode(link, cmd.CopterMode.GUIDED)
        cmd.arm(link)
        link.expect("HEARTBEAT", 5, lambda h: h.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        assert sim.swap_battery() is False
        assert sim.swap_battery(timeout_s=0.5) is False  # still armed at the deadline
        assert _battery(link, lambda pct: True) <= 45
        cmd.disarm(link)
        assert sim.swap_battery(timeout_s=10) is True
        assert _battery(link, lambda pct: pct >= 99) >= 99


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_demo_swaps_the_battery_between_sorties(kind: VehicleKind, plan: Plan,
                                                    tmp_path: Path) -> None:
    plan_dir = tmp_path / "plan"
    write_plan_files(plan, plan_dir)
    events: list[FlightEvent] = []
    demo.fly(plan_dir, (plan.home_lat_deg, plan.home_lon_deg), vehicle=kind,
             speedup=60.0 if kind is VehicleKind.BUILTIN else 10.0, on_event=events.append)

    def charge(sortie: int) -> list[int]:
        lines = (plan_dir / "flight" / f"sortie_{sortie:02d}.jsonl").read_text().splitlines()
        return [m["battery_remaining"] for m in map(json.loads, lines)
                if m["type"] == "SYS_STATUS"]

    assert charge(1)[-1] < 99  # the first sortie used some of the pack
    assert charge(2)[0] >= 99  # and the second started on a fresh one
    assert [e.sortie for e in events if e.kind is EventKind.WAITING_BATTERY] == [2]
