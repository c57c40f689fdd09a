"""Knowing the vehicle (#16): AUTOPILOT_VERSION at connect, written into the flight folder, and
a plan refused in one line when the vehicle lacks what it needs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from missions.fly.flight import fly_plan
from missions.fly.link import connect
from missions.fly.vehicle_info import VehicleInfo, parse_version, read_vehicle_info
from missions.plan.export.bundle import write_plan_files
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from sitl.builtin import telemetry as builtin_telemetry
from sitl.builtin.protocol import mavlink
from survey.core.errors import VehicleRefused
from tests.missions.sims import FAST


def test_version_words_are_decoded() -> None:
    msg = mavlink.MAVLink_autopilot_version_message(
        mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT, (4 << 24) | (7 << 16) | (0 << 8)
        | mavlink.FIRMWARE_VERSION_TYPE_DEV, 0, 0, 0, list(b"90700977"), [0] * 8, [0] * 8,
        0, 0, 0)
    info = parse_version(msg)
    assert info == VehicleInfo("4.7.0-dev", "90700977", mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT)
    assert info.lacks(["mission_int", "fence", "rally"]) == ["fence", "rally"]


def test_the_flight_folder_says_what_flew(plan: Plan, tmp_path: Path) -> None:
    write_plan_files(plan, tmp_path / "plan")
    with BuiltinCopter(plan.home_lat_deg, plan.home_lon_deg, 20.0, speedup=60.0) as v, \
            connect(v.url, timeout_s=10) as link:
        assert read_vehicle_info(link).version == "4.7.0"
        result = fly_plan(link, tmp_path / "plan", sorties=[1], config=FAST)
    assert result.vehicle is not None and result.vehicle.version == "4.7.0"
    saved = json.loads((tmp_path / "plan" / "flight" / "vehicle.json").read_text())
    assert saved["version"] == "4.7.0" and saved["capabilities"] == result.vehicle.capabilities


def test_a_vehicle_without_fence_support_is_refused_before_anything_is_sent(
        plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert plan.fence  # the plan needs one
    monkeypatch.setattr(builtin_telemetry, "_CAPABILITIES", builtin_telemetry._CAPABILITIES
                        & ~mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE)
    write_plan_files(plan, tmp_path / "plan")
    with BuiltinCopter(plan.home_lat_deg, plan.home_lon_deg, 20.0, speedup=60.0) as v, \
            connect(v.url, timeout_s=10) as link:
        with pytest.raises(VehicleRefused, match="lacks: fence support") as err:
            fly_plan(link, tmp_path / "plan", config=replace(FAST))
        assert "\n" not in str(err.value)
        assert not [m for m in v.received_messages() if m.msg_type == "MISSION_COUNT"]
