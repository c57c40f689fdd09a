"""Flying the built-in vehicle: AUTO missions with camera triggering, RTL and failsafes."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest

from sitl.builtin import BuiltinCopter, CopterMode
from sitl.builtin.geo import LocalFrame
from sitl.builtin.protocol import mavlink as M

HOME_FRAME = LocalFrame(35.3606, 138.7274)
REL = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
TRIGGER_M = 10.0
LANE_M = 100.0


def item(command: int, north: float = 0, east: float = 0, alt: float = 0, *params: float,
         frame: int = REL) -> tuple[float, ...]:
    """A mission item tuple (frame, command, p1-p4, x, y, z) at north/east metres from home."""
    p = [*params, 0, 0, 0, 0][:4]
    x = y = 0
    if (north, east) != (0, 0):
        lat, lon = HOME_FRAME.to_latlon(north, east)
        x, y = round(lat * 1e7), round(lon * 1e7)
    return (frame, command, *p, x, y, alt)


def armed(h: Any) -> bool:
    return bool(h.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)


def ne(lat_e7: int, lon_e7: int) -> tuple[float, float]:
    return HOME_FRAME.to_ne_e7(lat_e7, lon_e7)


def take_off(gcs: Any, alt_m: float) -> None:
    """GUIDED take-off to ``alt_m``, sending GCS heartbeats all the while."""
    gcs.heartbeat()
    gcs.wait_ready()
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt_m) == M.MAV_RESULT_ACCEPTED
    gcs.stream(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 4)
    while gcs.expect("GLOBAL_POSITION_INT", timeout_s=15).relative_alt < (alt_m - 0.2) * 1000:
        gcs.heartbeat()


def fly_to(gcs: Any, north_m: float, east_m: float, alt_m: float) -> None:
    lat, lon = HOME_FRAME.to_latlon(north_m, east_m)
    gcs.m.mav.set_position_target_global_int_send(
        0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 0b110111111000, round(lat * 1e7),
        round(lon * 1e7), alt_m, 0, 0, 0, 0, 0, 0, 0, 0)


def test_auto_survey_mission_flies_to_the_end(vehicle: BuiltinCopter, gcs: Any) -> None:
    plan = [
        item(M.MAV_CMD_NAV_WAYPOINT),
        item(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 20),
        item(M.MAV_CMD_NAV_WAYPOINT, 30, 0, 20),
        item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0, TRIGGER_M, frame=M.MAV_FRAME_MISSION),
        item(M.MAV_CMD_NAV_WAYPOINT, 30, LANE_M, 20),
        item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0, 0, frame=M.MAV_FRAME_MISSION),
        item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, frame=M.MAV_FRAME_MISSION),
    ]
    gcs.wait_ready()
    assert gcs.upload(plan) == M.MAV_MISSION_ACCEPTED
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.set_mode(CopterMode.AUTO) == M.MAV_RESULT_ACCEPTED
    assert gcs.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
    gcs.expect("HEARTBEAT", armed)
    events = gcs.collect(["MISSION_ITEM_REACHED", "CAMERA_FEEDBACK", "HEARTBEAT"],
                         lambda m: m.get_type() == "HEARTBEAT" and not armed(m), timeout_s=30)

    reached = [m.seq for m in events if m.get_type() == "MISSION_ITEM_REACHED"]
    assert reached == [1, 2, 4, 6]
    shots = [m for m in events if m.get_type() == "CAMERA_FEEDBACK"]
    assert abs(len(shots) - LANE_M / TRIGGER_M) <= 1
    assert [s.img_idx for s in shots] == list(range(1, len(shots) + 1))
    points = [ne(s.lat, s.lng) for s in shots]
    assert all(abs(n - 30) < 1.0 and -1 < e < LANE_M + 1 for n, e in points)  # on the lane only
    gaps = [math.dist(a, b) for a, b in itertools.pairwise(points)]
    assert all(TRIGGER_M - 0.1 <= g <= TRIGGER_M + 0.6 for g in gaps)
    assert all(abs(s.alt_rel - 20) < 0.5 and abs(s.alt_msl - 120) < 0.5 for s in shots)
    assert all(abs(s.yaw - 90) < 5 for s in shots[1:])  # flying east
    assert min(s.pitch for s in shots) < -3  # nose down while accelerating and cruising

    state = vehicle.state()
    assert not state.armed and state.landed and state.mode is CopterMode.AUTO
    assert math.dist(HOME_FRAME.to_ne(state.lat_deg, state.lon_deg), (0, 0)) < 1.0
    track = vehicle.track()
    assert max(p.alt_rel_m for p in track) == pytest.approx(20, abs=0.3)
    assert all(b.time_s > a.time_s for a, b in itertools.pairwise(track))


def test_rtl_climbs_returns_lands_at_home_and_disarms(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 8)
    fly_to(gcs, 80, 60, 8)
    gcs.expect("GLOBAL_POSITION_INT",
               lambda p: math.dist(ne(p.lat, p.lon), (80, 60)) < 2, timeout_s=15)
    assert gcs.set_mode(CopterMode.RTL) == M.MAV_RESULT_ACCEPTED
    gcs.expect("HEARTBEAT", lambda h: not armed(h), timeout_s=30, fresh=True)
    state = vehicle.state()
    assert state.landed and state.mode is CopterMode.RTL
    assert math.dist(HOME_FRAME.to_ne(state.lat_deg, state.lon_deg), (0, 0)) < 1.0
    rtl = [p for p in vehicle.track() if p.mode == "RTL"]
    assert max(p.alt_rel_m for p in rtl) == pytest.approx(15, abs=0.2)  # RTL_ALT 1500 cm


@pytest.mark.vehicle(params={"BATT_FS_LOW_ACT": 2})
def test_low_battery_triggers_rtl(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 15)
    fly_to(gcs, 60, 0, 15)
    vehicle.set_battery_remaining_pct(12)
    text = gcs.expect("STATUSTEXT", lambda t: t.text.startswith("Battery 1 is low"),
                      timeout_s=15)
    assert text.severity == M.MAV_SEVERITY_WARNING
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == CopterMode.RTL, fresh=True)
    gcs.expect("HEARTBEAT", lambda h: not armed(h), timeout_s=30, fresh=True)
    state = vehicle.state()
    assert math.dist(HOME_FRAME.to_ne(state.lat_deg, state.lon_deg), (0, 0)) < 1.0


def test_low_battery_with_default_action_only_warns(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 10)
    vehicle.set_battery_remaining_pct(12)
    gcs.expect("STATUSTEXT", lambda t: t.text.startswith("Battery 1 is low"), timeout_s=15)
    assert vehicle.state().mode is CopterMode.GUIDED  # BATT_FS_LOW_ACT 0: report only


@pytest.mark.vehicle(params={"FENCE_ENABLE": 1, "FENCE_TYPE": 4})
def test_exclusion_fence_breach_triggers_rtl(vehicle: BuiltinCopter, gcs: Any) -> None:
    zone = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, n, e, 0, 4)
            for n, e in ((50, -20), (50, 20), (70, 20), (70, -20))]
    assert gcs.upload(zone, M.MAV_MISSION_TYPE_FENCE) == M.MAV_MISSION_ACCEPTED
    take_off(gcs, 10)
    fly_to(gcs, 100, 0, 10)
    gcs.expect("STATUSTEXT", lambda t: t.text == "Polygon fence breached", timeout_s=15)
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == CopterMode.RTL, fresh=True)
    gcs.expect("HEARTBEAT", lambda h: not armed(h), timeout_s=30, fresh=True)
    breach = next(p for p in vehicle.track() if p.mode == "RTL")
    assert 50 <= HOME_FRAME.to_ne(breach.lat_deg, breach.lon_deg)[0] <= 52.5


@pytest.mark.vehicle(params={"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2})
def test_gcs_heartbeat_loss_triggers_rtl(vehicle: BuiltinCopter, gcs: Any) -> None:
    """FS_GCS_TIMEOUT counts real seconds, whatever the speed-up: a ground station sends its
    heartbeat once a real second."""
    gcs.heartbeat()
    gcs.wait_ready()
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.heartbeat()
    gcs.arm()
    assert gcs.command(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 10) == M.MAV_RESULT_ACCEPTED
    gcs.stream(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 4)
    while gcs.expect("GLOBAL_POSITION_INT").relative_alt < 9000:
        gcs.heartbeat()
    silent_from = time.monotonic()  # no more heartbeats from here
    gcs.expect("STATUSTEXT", lambda t: t.text == "GCS Failsafe", timeout_s=10)
    assert time.monotonic() - silent_from >= 1.9
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == CopterMode.RTL, fresh=True)


def test_gps_loss_in_flight_lands(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 10)
    vehicle.inject_fault("gps_loss")
    gcs.expect("STATUSTEXT", lambda t: t.text.startswith("EKF Failsafe"), timeout_s=5)
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == CopterMode.LAND, fresh=True)
    gcs.expect("HEARTBEAT", lambda h: not armed(h), timeout_s=30, fresh=True)


def test_mission_end_holds_position_in_auto(vehicle: BuiltinCopter, gcs: Any) -> None:
    plan = [item(M.MAV_CMD_NAV_WAYPOINT), item(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 10),
            item(M.MAV_CMD_NAV_WAYPOINT, 20, 0, 10)]
    gcs.wait_ready()
    assert gcs.upload(plan) == M.MAV_MISSION_ACCEPTED
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
    gcs.expect("MISSION_ITEM_REACHED", lambda r: r.seq == 2, timeout_s=20)
    gcs.stream(M.MAVLINK_MSG_ID_MISSION_CURRENT, 4)
    current = gcs.expect("MISSION_CURRENT", lambda c: c.mission_state == M.MISSION_STATE_COMPLETE)
    assert (current.seq, current.total) == (2, 2)
    state = vehicle.wait_for(lambda s: s.ground_speed_m_s < 0.05, timeout_s=5)
    assert state.armed and state.mode is CopterMode.AUTO and state.alt_rel_m > 9.5
    assert math.dist(HOME_FRAME.to_ne(state.lat_deg, state.lon_deg), (20, 0)) < 2.0


def test_auto_refused_on_the_ground_without_takeoff_item(gcs: Any) -> None:
    gcs.wait_ready()
    assert gcs.upload([item(M.MAV_CMD_NAV_WAYPOINT), item(M.MAV_CMD_NAV_WAYPOINT, 5, 5, 5,
                                                         frame=REL)]) == M.MAV_MISSION_ACCEPTED
    assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
    gcs.arm()
    assert gcs.set_mode(CopterMode.AUTO) == M.MAV_RESULT_FAILED
    gcs.expect("STATUSTEXT", lambda t: t.text == "Auto: Missing Takeoff Cmd")


@pytest.mark.vehicle(params={"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2})
def test_telemetry_loss_fault_cuts_the_link_both_ways(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 10)
    vehicle.inject_fault("telemetry_loss")
    deadline = time.monotonic() + 15
    while vehicle.state().mode is not CopterMode.RTL:  # our heartbeats no longer arrive
        gcs.heartbeat()
        assert time.monotonic() < deadline, "no GCS failsafe"
        gcs._pump(0.01)
    gcs.drain()
    gcs.m.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
    with pytest.raises(AssertionError):
        gcs.expect("PARAM_VALUE", timeout_s=0.3)
    vehicle.clear_fault("telemetry_loss")
    gcs.expect("HEARTBEAT", lambda h: h.custom_mode == CopterMode.RTL, fresh=True)
    assert any(t.text == "GCS Failsafe" for t in vehicle.status_texts())


def test_received_messages_show_addressing(vehicle: BuiltinCopter, gcs: Any) -> None:
    gcs.m.mav.command_long_send(0, 0, M.MAV_CMD_REQUEST_MESSAGE, 0, 242, 0, 0, 0, 0, 0, 0)
    gcs.expect("COMMAND_ACK")
    log = [m for m in vehicle.received_messages() if m.msg_type == "COMMAND_LONG"]
    assert [(m.src_system, m.src_component, m.target_system, m.target_component)
            for m in log] == [(255, 190, 0, 0)]


@pytest.mark.vehicle(params={"BATT_FS_LOW_ACT": 2})
def test_second_sortie_after_landing_and_battery_swap(vehicle: BuiltinCopter, gcs: Any) -> None:
    sortie = [item(M.MAV_CMD_NAV_WAYPOINT), item(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 10),
              item(M.MAV_CMD_NAV_WAYPOINT, 15, 0, 10),
              item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, frame=M.MAV_FRAME_MISSION)]
    gcs.wait_ready()
    for n in range(2):
        assert gcs.upload(sortie) == M.MAV_MISSION_ACCEPTED
        assert gcs.set_mode(CopterMode.GUIDED) == M.MAV_RESULT_ACCEPTED
        if n == 1:  # the first sortie ended on a low battery: refused until it is swapped
            assert gcs.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
            vehicle.set_battery_remaining_pct(100)
        gcs.arm()
        assert gcs.command(M.MAV_CMD_MISSION_START) == M.MAV_RESULT_ACCEPTED
        gcs.expect("MISSION_ITEM_REACHED", lambda r: r.seq == 2, timeout_s=20)
        if n == 0:
            vehicle.set_battery_remaining_pct(5)
            gcs.expect("STATUSTEXT", lambda t: t.text.startswith("Battery 1 is low"),
                       timeout_s=15)
        gcs.expect("HEARTBEAT", lambda h: not armed(h), timeout_s=30, fresh=True)
    assert [p.mode for p in vehicle.track() if not p.armed] == ["RTL", "AUTO"]


def test_command_int_reposition_in_guided(vehicle: BuiltinCopter, gcs: Any) -> None:
    take_off(gcs, 10)
    lat, lon = HOME_FRAME.to_latlon(-30, 40)
    gcs.m.mav.command_int_send(1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                               M.MAV_CMD_DO_REPOSITION, 0, 0, -1, 0, 0, 0,
                               round(lat * 1e7), round(lon * 1e7), 12)
    assert gcs.expect("COMMAND_ACK", lambda a: a.command == M.MAV_CMD_DO_REPOSITION).result == \
        M.MAV_RESULT_ACCEPTED
    state = vehicle.wait_for(
        lambda s: math.dist(HOME_FRAME.to_ne(s.lat_deg, s.lon_deg), (-30, 40)) < 0.5
        and abs(s.alt_rel_m - 12) < 0.2, timeout_s=10)
    assert state.mode is CopterMode.GUIDED
    gcs.m.mav.command_int_send(1, 1, 0, M.MAV_CMD_DO_FLIGHTTERMINATION, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    assert gcs.expect("COMMAND_ACK", lambda a: a.command == M.MAV_CMD_DO_FLIGHTTERMINATION
                      ).result == M.MAV_RESULT_UNSUPPORTED
