"""Heartbeat, modes, parameters, arming and commands of the built-in vehicle over MAVLink."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sitl.builtin import BuiltinCopter, CopterMode
from sitl.builtin.protocol import mavlink as M


def test_heartbeat_identifies_an_arducopter_quad(gcs: Any) -> None:
    hb = gcs.expect("HEARTBEAT")
    assert hb.get_srcSystem() == 1 and hb.get_srcComponent() == 1
    assert hb.type == M.MAV_TYPE_QUADROTOR
    assert hb.autopilot == M.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert hb.base_mode & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED
    assert hb.custom_mode == CopterMode.STABILIZE
    assert gcs.m.WIRE_PROTOCOL_VERSION == "2.0"


def test_only_heartbeat_streams_until_asked(gcs: Any) -> None:
    gcs.expect("HEARTBEAT", lambda m: m.get_srcSystem() == 1)
    gcs.expect("HEARTBEAT", lambda m: m.get_srcSystem() == 1)
    assert {m.get_type() for m in gcs.drain()} <= {"HEARTBEAT", "STATUSTEXT"}
    gcs.stream(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 10)
    pos = gcs.expect("GLOBAL_POSITION_INT")
    assert pos.lat == pytest.approx(353606000, abs=1) and pos.alt == 100_000


def test_request_data_stream_groups(gcs: Any) -> None:
    gcs.m.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_ALL, 4, 1)
    for kind in ("SYS_STATUS", "GPS_RAW_INT", "ATTITUDE", "VFR_HUD", "GLOBAL_POSITION_INT",
                 "BATTERY_STATUS", "EKF_STATUS_REPORT", "MISSION_CURRENT"):
        gcs.expect(kind)


@pytest.mark.parametrize("mode", [CopterMode.GUIDED, CopterMode.LOITER, CopterMode.BRAKE,
                                  CopterMode.LAND, CopterMode.RTL, CopterMode.STABILIZE])
def test_mode_numbers_round_trip_through_heartbeat(gcs: Any, mode: CopterMode) -> None:
    gcs.wait_ready()
    assert gcs.set_mode(mode) == M.MAV_RESULT_ACCEPTED
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == int(mode), fresh=True)


def test_mode_change_refusals(gcs: Any) -> None:
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_FAILED  # no position yet
    gcs.wait_ready()
    assert gcs.set_mode(99) == M.MAV_RESULT_FAILED
    assert gcs.set_mode(CopterMode.AUTO) == M.MAV_RESULT_FAILED  # no mission
    assert gcs.command(M.MAV_CMD_DO_SET_MODE, 0, CopterMode.GUIDED) == M.MAV_RESULT_DENIED
    gcs.m.mav.set_mode_send(1, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, CopterMode.LOITER)
    ack = gcs.expect("COMMAND_ACK", lambda a: a.command == M.MAVLINK_MSG_ID_SET_MODE)
    assert ack.result == M.MAV_RESULT_ACCEPTED


def test_param_list_read_and_set(gcs: Any) -> None:
    gcs.m.mav.param_request_list_send(1, 1)
    first = gcs.expect("PARAM_VALUE")
    values = {first.param_id: first}
    while len(values) < first.param_count:
        pv = gcs.expect("PARAM_VALUE")
        values[pv.param_id] = pv
    assert sorted(v.param_index for v in values.values()) == list(range(first.param_count))
    assert values["WPNAV_SPEED"].param_value == 1000
    assert values["RTL_ALT"].param_value == 1500
    assert values["SIM_SPEEDUP"].param_value == pytest.approx(40)

    gcs.m.mav.param_request_read_send(1, 1, b"", values["BATT_CAPACITY"].param_index)
    assert gcs.expect("PARAM_VALUE").param_id == "BATT_CAPACITY"

    # an unknown name gets no answer: the next answer is the known one
    gcs.m.mav.param_set_send(1, 1, b"NO_SUCH_PARAM", 3.0, M.MAV_PARAM_TYPE_REAL32)
    gcs.m.mav.param_set_send(1, 1, b"RTL_ALT", 2500.4, M.MAV_PARAM_TYPE_INT32)
    pv = gcs.expect("PARAM_VALUE")
    assert (pv.param_id, pv.param_value, pv.param_type) == ("RTL_ALT", 2500, M.MAV_PARAM_TYPE_INT32)


def test_param_set_drives_behaviour(vehicle: BuiltinCopter, gcs: Any) -> None:
    gcs.m.mav.param_set_send(1, 1, b"WPNAV_SPEED", 500, M.MAV_PARAM_TYPE_REAL32)
    gcs.expect("PARAM_VALUE", lambda p: p.param_id == "WPNAV_SPEED")
    assert vehicle.copter.limits().speed_xy_m_s == 5.0


def test_arming_refused_before_ready_then_accepted(gcs: Any) -> None:
    assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
    text = gcs.expect("STATUSTEXT", lambda t: t.text.startswith("PreArm:"))
    assert text.severity == M.MAV_SEVERITY_CRITICAL
    gcs.stream(M.MAVLINK_MSG_ID_EKF_STATUS_REPORT, 10)
    gcs.expect("EKF_STATUS_REPORT", lambda e: e.flags & M.EKF_PRED_POS_HORIZ_ABS, timeout_s=10)
    gcs.stream(M.MAVLINK_MSG_ID_GPS_RAW_INT, 10)
    gcs.expect("GPS_RAW_INT", lambda g: g.fix_type >= M.GPS_FIX_TYPE_3D_FIX)
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    gcs.expect("HEARTBEAT", lambda h: h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 0) == M.MAV_RESULT_ACCEPTED
    gcs.expect("HEARTBEAT", lambda h: not h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED,
               fresh=True)


def test_arming_refused_in_rtl_and_by_injected_fault(vehicle: BuiltinCopter, gcs: Any) -> None:
    gcs.wait_ready()
    assert gcs.set_mode(CopterMode.RTL) == M.MAV_RESULT_ACCEPTED
    assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
    gcs.expect("STATUSTEXT", lambda t: t.text == "Arm: Mode not armable")
    assert gcs.set_mode(CopterMode.LOITER) == M.MAV_RESULT_ACCEPTED
    vehicle.inject_fault("gps_loss")
    assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
    gcs.expect("STATUSTEXT", lambda t: t.text == "PreArm: GPS 1: Bad fix")
    vehicle.clear_fault("gps_loss")
    gcs.arm()


@pytest.mark.vehicle(params={"DISARM_DELAY": 2})
def test_armed_on_the_ground_disarms_after_disarm_delay(vehicle: BuiltinCopter,
                                                        gcs: Any) -> None:
    """DISARM_DELAY gives the ground station time to take off: real seconds (the link
    clock), whatever the speed-up — in simulated time at speed-up 100 it was 20 ms, which a
    busy client missed between ARM and AUTO."""
    gcs.wait_ready()
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    before = time.monotonic()
    gcs.arm()
    gcs.expect("HEARTBEAT", lambda h: h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
    gcs.expect("HEARTBEAT", lambda h: not h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED,
               timeout_s=20)
    assert time.monotonic() - before >= 2.0
    assert vehicle.state().landed


def test_takeoff_needs_guided_and_arming(gcs: Any) -> None:
    gcs.wait_ready()
    assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_FAILED
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_ACCEPTED
    gcs.stream(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 5)
    gcs.expect("GLOBAL_POSITION_INT", lambda p: p.relative_alt > 9800, timeout_s=10)


def test_request_message_and_unknown_command(gcs: Any) -> None:
    gcs.wait_ready()
    assert gcs.command(M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_HOME_POSITION) == \
        M.MAV_RESULT_ACCEPTED
    home = gcs.expect("HOME_POSITION")
    assert (home.latitude, home.longitude, home.altitude) == (353606000, 1387274000, 100_000)
    assert gcs.command(M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES, 1) == M.MAV_RESULT_ACCEPTED
    version = gcs.expect("AUTOPILOT_VERSION")
    assert version.capabilities & M.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert gcs.command(M.MAV_CMD_REQUEST_MESSAGE, 60000) == M.MAV_RESULT_FAILED
    assert gcs.command(M.MAV_CMD_DO_FLIGHTTERMINATION, 1) == M.MAV_RESULT_UNSUPPORTED


def test_two_ground_stations_share_the_vehicle(vehicle: BuiltinCopter, gcs: Any,
                                               make_gcs: Callable[..., Any]) -> None:
    other = make_gcs(vehicle.url, sysid=254)
    gcs.m.mav.param_set_send(1, 1, b"RTL_ALT", 3000, M.MAV_PARAM_TYPE_INT32)
    assert other.expect("PARAM_VALUE").param_value == 3000
    other.stream(M.MAVLINK_MSG_ID_ATTITUDE, 5)
    other.expect("ATTITUDE")
    assert not [m for m in gcs.drain() if m.get_type() == "ATTITUDE"]


@pytest.mark.vehicle(speedup=1.0)
def test_speedup_runs_simulated_time_faster(vehicle: BuiltinCopter, gcs: Any) -> None:
    fast = BuiltinCopter(0.0, 0.0, speedup=25).start()
    try:
        gcs.stream(M.MAVLINK_MSG_ID_SYSTEM_TIME, 50)
        start = gcs.expect("SYSTEM_TIME")
        t_fast = fast.sim_time_s
        end = gcs.expect("SYSTEM_TIME", lambda s: s.time_boot_ms - start.time_boot_ms >= 200)
        real = (end.time_boot_ms - start.time_boot_ms) / 1000
        assert fast.sim_time_s - t_fast > 5 * real
    finally:
        fast.stop()


def test_nan_command_parameters_are_denied_not_fatal(vehicle: BuiltinCopter, gcs: Any) -> None:
    assert gcs.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, float("nan"), 1e5) == M.MAV_RESULT_DENIED
    gcs.m.mav.param_set_send(1, 1, b"RTL_ALT", float("nan"), M.MAV_PARAM_TYPE_INT32)
    gcs.m.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
    assert gcs.expect("PARAM_VALUE").param_value == 1500
    assert vehicle.state().mode is CopterMode.STABILIZE  # still running
