"""MAVLink messages describing the copter, built from its state (what ArduCopter fills in)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from .auto import MissionState
from .camera import CameraShot
from .copter import Copter
from .failsafes import Fault
from .protocol import FIRMWARE_VERSION, POSITION_MODES, CopterMode, mavlink

M = mavlink
_SENSORS = (M.MAV_SYS_STATUS_SENSOR_3D_GYRO | M.MAV_SYS_STATUS_SENSOR_3D_ACCEL
            | M.MAV_SYS_STATUS_SENSOR_3D_MAG | M.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
            | M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
            | M.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION | M.MAV_SYS_STATUS_SENSOR_YAW_POSITION
            | M.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
            | M.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL | M.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
            | M.MAV_SYS_STATUS_AHRS | M.MAV_SYS_STATUS_SENSOR_BATTERY)
_EKF_GOOD = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_VELOCITY_VERT | M.EKF_POS_HORIZ_REL
             | M.EKF_POS_HORIZ_ABS | M.EKF_POS_VERT_ABS | M.EKF_PRED_POS_HORIZ_REL
             | M.EKF_PRED_POS_HORIZ_ABS)
_EKF_INIT = M.EKF_ATTITUDE | M.EKF_CONST_POS_MODE
_CAPABILITIES = (M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                 | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                 | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                 | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                 | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY)


TERRAIN_SPACING_M = 100
"""TERRAIN_REPORT.spacing: ArduPilot's TERRAIN_SPACING default."""


def _boot_ms(c: Copter) -> int:
    return int(c.time_s * 1000) & 0xFFFFFFFF


def heartbeat(c: Copter) -> Any:
    base = (M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | M.MAV_MODE_FLAG_STABILIZE_ENABLED
            | M.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED)
    if c.mode in POSITION_MODES:
        base |= M.MAV_MODE_FLAG_GUIDED_ENABLED
    if c.armed:
        base |= M.MAV_MODE_FLAG_SAFETY_ARMED
    if c.failsafe_battery or c.failsafe_gcs or c.failsafe_ekf:
        status = M.MAV_STATE_CRITICAL
    elif c.armed:
        status = M.MAV_STATE_ACTIVE
    else:
        status = M.MAV_STATE_STANDBY
    return M.MAVLink_heartbeat_message(M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA, base,
                                       int(c.mode), status, 3)


def sys_status(c: Copter) -> Any:
    health = _SENSORS
    if Fault.GPS_LOSS in c.faults or not c.ekf_ready:
        health &= ~(M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_AHRS)
    if c.failsafe_battery:
        health &= ~M.MAV_SYS_STATUS_SENSOR_BATTERY
    present = _SENSORS | M.MAV_SYS_STATUS_PREARM_CHECK
    enabled = present
    if c.prearm_ok:
        health |= M.MAV_SYS_STATUS_PREARM_CHECK
    if c.params["FENCE_ENABLE"]:
        present |= M.MAV_SYS_STATUS_GEOFENCE
        enabled |= M.MAV_SYS_STATUS_GEOFENCE
        if not c.fence_breach_mask:
            health |= M.MAV_SYS_STATUS_GEOFENCE
    b = c.battery
    # no battery monitor (BATT_MONITOR 0): ArduPilot reports the level as -1, "unknown"
    remaining = round(b.remaining_fraction * 100) if c.params["BATT_MONITOR"] else -1
    return M.MAVLink_sys_status_message(present, enabled, health, 200, int(b.voltage_v * 1000),
                                        int(b.current_a * 100), remaining, 0, 0, 0, 0, 0, 0)


def battery_status(c: Copter) -> Any:
    b = c.battery
    volts = [int(b.voltage_v * 1000)] + [0xFFFF] * 9
    return M.MAVLink_battery_status_message(
        0, M.MAV_BATTERY_FUNCTION_UNKNOWN, M.MAV_BATTERY_TYPE_LIPO, 0x7FFF, volts,
        int(b.current_a * 100), int(b.consumed_mah), int(b.consumed_wh * 36),
        round(b.remaining_fraction * 100), 0,
        M.MAV_BATTERY_CHARGE_STATE_LOW if c.failsafe_battery == 1
        else M.MAV_BATTERY_CHARGE_STATE_CRITICAL if c.failsafe_battery == 2
        else M.MAV_BATTERY_CHARGE_STATE_OK)


def gps_raw_int(c: Copter) -> Any:
    lat, lon = c.latlon_e7
    fixed = c.ekf_ready and Fault.GPS_LOSS not in c.faults
    b = c.body
    cog = round(math.degrees(math.atan2(b.ve_m_s, b.vn_m_s)) % 360 * 100)
    return M.MAVLink_gps_raw_int_message(
        int(c.time_s * 1e6), M.GPS_FIX_TYPE_3D_FIX if fixed else M.GPS_FIX_TYPE_NO_FIX,
        lat if fixed else 0, lon if fixed else 0, int(b.alt_m * 1000) if fixed else 0,
        121 if fixed else 9999, 200 if fixed else 9999, int(b.ground_speed_m_s * 100), cog,
        10 if fixed else 0)


def ekf_status_report(c: Copter) -> Any:
    good = c.position_ok
    flags = _EKF_GOOD if good else _EKF_INIT
    var = 0.02 if good else 1.0
    return M.MAVLink_ekf_status_report_message(flags, var, var, var, var, 0.0)


def home_position(c: Copter) -> Any:
    hn, he = c.home_ne
    return M.MAVLink_home_position_message(
        c.home_lat_e7, c.home_lon_e7, int(c.home_alt_m * 1000), hn, he,
        -(c.home_alt_m - c.origin_alt_m), [1.0, 0.0, 0.0, 0.0], 0.0, 0.0, 0.0,
        int(c.time_s * 1e6))


def mission_current(c: Copter) -> Any:
    a = c.auto
    total = max(len(a.items) - 1, 0)
    mode = 1 if c.mode is CopterMode.AUTO else 2
    state = a.state
    if state is MissionState.NO_MISSION and total:
        state = MissionState.NOT_STARTED
    return M.MAVLink_mission_current_message(a.nav_index, total, int(state), mode)


def vfr_hud(c: Copter) -> Any:
    b = c.body
    throttle = 0 if not c.armed else (10 if c.landed else 50)
    heading = round(math.degrees(b.yaw_rad)) % 360
    return M.MAVLink_vfr_hud_message(b.ground_speed_m_s, b.ground_speed_m_s, heading, throttle,
                                     b.alt_m, b.vu_m_s)


def global_position_int(c: Copter) -> Any:
    lat, lon = c.latlon_e7
    b = c.body
    hdg = round(math.degrees(b.yaw_rad) % 360 * 100) % 36000
    return M.MAVLink_global_position_int_message(
        _boot_ms(c), lat, lon, int(b.alt_m * 1000), int(c.alt_rel_m * 1000),
        int(b.vn_m_s * 100), int(b.ve_m_s * 100), int(-b.vu_m_s * 100), hdg)


def terrain_report(c: Copter) -> Any:
    """TERRAIN_REPORT for the point under the copter (sent only over terrain); spacing 0 says
    the terrain has no height there (the ground is then the home altitude)."""
    lat, lon = c.latlon_e7
    ground, known = c.ground.sample(c.body.north_m, c.body.east_m)
    return M.MAVLink_terrain_report_message(lat, lon, TERRAIN_SPACING_M if known else 0, ground,
                                            c.body.alt_m - ground, 0, 1 if known else 0)


def attitude(c: Copter) -> Any:
    b = c.body
    return M.MAVLink_attitude_message(_boot_ms(c), b.roll_rad, b.pitch_rad, b.yaw_rad,
                                      b.roll_rate, b.pitch_rate, b.yaw_rate)


def system_time(c: Copter) -> Any:
    return M.MAVLink_system_time_message(int(time.time() * 1e6), _boot_ms(c))


def fence_status(c: Copter) -> Any:
    return M.MAVLink_fence_status_message(1 if c.fence_breach_mask else 0, c.fence_breach_count,
                                          M.FENCE_BREACH_BOUNDARY if c.fence_breach_mask else 0,
                                          0)


def autopilot_version(c: Copter) -> Any:
    major, minor, patch = FIRMWARE_VERSION
    version = (major << 24) | (minor << 16) | (patch << 8) | M.FIRMWARE_VERSION_TYPE_OFFICIAL
    return M.MAVLink_autopilot_version_message(_CAPABILITIES, version, 0, 0, 0, [0] * 8, [0] * 8,
                                               [0] * 8, 0, 0, 0)


def camera_feedback(shot: CameraShot, sysid: int) -> Any:
    p = shot.pose
    return M.MAVLink_camera_feedback_message(
        int(p.time_s * 1e6), sysid, 0, shot.image_index, p.lat_e7, p.lon_e7, p.alt_amsl_m,
        p.alt_rel_m, p.roll_deg, p.pitch_deg, p.yaw_deg, 0.0, M.CAMERA_FEEDBACK_PHOTO,
        shot.image_index)


def statustext(severity: int, text: str) -> Any:
    return M.MAVLink_statustext_message(severity, text.encode()[:50])


BUILDERS: dict[int, Callable[[Copter], Any]] = {
    M.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    M.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    M.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    M.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: ekf_status_report,
    M.MAVLINK_MSG_ID_HOME_POSITION: home_position,
    M.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    M.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    M.MAVLINK_MSG_ID_ATTITUDE: attitude,
    M.MAVLINK_MSG_ID_SYSTEM_TIME: system_time,
    M.MAVLINK_MSG_ID_FENCE_STATUS: fence_status,
    M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: autopilot_version,
    M.MAVLINK_MSG_ID_TERRAIN_REPORT: terrain_report,
}
"""Messages a ground station can stream (SET_MESSAGE_INTERVAL) or request (REQUEST_MESSAGE)
(TERRAIN_REPORT only over terrain: :func:`sendable`)."""


def sendable(c: Copter, msg_id: int) -> bool:
    """Whether the copter sends ``msg_id``: one of :data:`BUILDERS`, TERRAIN_REPORT only when
    it has terrain (as ArduPilot with TERRAIN_ENABLE)."""
    if msg_id == M.MAVLINK_MSG_ID_TERRAIN_REPORT:
        return c.terrain is not None
    return msg_id in BUILDERS
