"""Mission, fence and rally items as ArduPilot validates, stores and returns them.

Each ``store_*`` function takes an item as uploaded and returns the MAV_MISSION_RESULT plus the
item as the vehicle will hand it back on download: ArduPilot keeps only some parameters of each
command (in integer fields for many), returns location commands in MAV_FRAME_GLOBAL or
MAV_FRAME_GLOBAL_RELATIVE_ALT (not the *_INT frames) and other commands in frame 0.
(``AP_Mission::mavlink_int_to_mission_cmd`` / ``mission_cmd_to_mavlink_int``,
``MissionItemProtocol_Fence``, ``MissionItemProtocol_Rally``.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from survey.core.mavlink import WireItem

from .protocol import mavlink

R = mavlink  # short alias for result and command constants
ACCEPTED = mavlink.MAV_MISSION_ACCEPTED

LOCATION_ALT_MAX_M = 83000
MISSION_MAX_ITEMS = 724
FENCE_STORAGE_BYTES = 560
"""ArduCopter's fence storage on a board with ≥ 16 KiB (StorageManager's three StorageFence
areas, 48 + 256 + 256 bytes), as in ArduPilot SITL."""
FENCE_MAX_ITEMS = FENCE_STORAGE_BYTES // 8  # AC_PolyFence_loader::max_items(): 70
RALLY_MAX_ITEMS = 20


def _check_lat(lat_e7: float) -> bool:
    return abs(lat_e7) <= 90 * 10**7


def _check_lng(lng_e7: float) -> bool:
    return abs(lng_e7) <= 180 * 10**7


# Commands whose x/y are not latitude/longitude (AP_Mission conversion exceptions).
_RAW_XY = frozenset({
    R.MAV_CMD_DO_DIGICAM_CONTROL, R.MAV_CMD_DO_DIGICAM_CONFIGURE, R.MAV_CMD_NAV_ATTITUDE_TIME,
    R.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
})


def item_from_int(msg: Any) -> WireItem:
    """A :class:`WireItem` from a decoded MISSION_ITEM_INT (or anything with its fields)."""
    return WireItem(msg.command, msg.frame, msg.param1, msg.param2, msg.param3, msg.param4,
                    msg.x, msg.y, msg.z)


def item_from_float(msg: Any) -> tuple[int, WireItem | None]:
    """Convert a legacy float MISSION_ITEM as ``convert_MISSION_ITEM_to_MISSION_ITEM_INT`` does.

    Latitude and longitude are multiplied by 1e7 in single precision and truncated, so an
    item sent this way may land up to a metre away from where it was meant to.
    """
    m = msg
    if m.command in _RAW_XY:
        x, y = int(m.x), int(m.y)
    else:
        if not _check_lat(m.x * 1e7):
            return R.MAV_MISSION_INVALID_PARAM5_X, None
        if not _check_lng(m.y * 1e7):
            return R.MAV_MISSION_INVALID_PARAM6_Y, None
        x = int(np.float32(m.x) * np.float32(1e7))
        y = int(np.float32(m.y) * np.float32(1e7))
    return ACCEPTED, WireItem(m.command, m.frame, m.param1, m.param2, m.param3, m.param4,
                              x, y, m.z)


def item_to_float_xy(item: WireItem) -> tuple[int, float, float]:
    """Result and float x/y for sending ``item`` as a legacy MISSION_ITEM."""
    if item.command in _RAW_XY:
        return ACCEPTED, float(item.x), float(item.y)
    x = float(np.float32(item.x) * np.float32(1e-7))
    y = float(np.float32(item.y) * np.float32(1e-7))
    if not _check_lat(x * 1e7):
        return R.MAV_MISSION_INVALID_PARAM5_X, 0.0, 0.0
    if not _check_lng(y * 1e7):
        return R.MAV_MISSION_INVALID_PARAM6_Y, 0.0, 0.0
    return ACCEPTED, x, y


# ---------------------------------------------------------------- mission (AP_Mission)

def _int(v: float, lo: int, hi: int) -> float:
    """C-style float to integer field: truncate toward zero, then clip to the field's range."""
    return float(min(max(math.trunc(v), lo), hi))


def _u8(v: float) -> float:
    return _int(v, 0, 255)


def _u16(v: float) -> float:
    return _int(v, 0, 65535)


def _sign(v: float) -> float:
    return -1.0 if v < 0 else 1.0


def _loiter_turns(p: tuple[float, float, float, float]) -> tuple[float, ...]:
    radius = abs(p[2])
    stored = _u8(radius) if radius <= 255 else _u8(radius * 0.1) * 10
    return (_u8(min(255, p[0])), 0.0, -stored if p[2] < 0 else stored, 1.0 if p[3] > 0 else 0.0)


_P = tuple[float, float, float, float]
# command -> the four params as stored and returned; commands absent here are UNSUPPORTED.
_MISSION_PARAMS: dict[int, Callable[[_P], tuple[float, ...]]] = {
    R.MAV_CMD_NAV_WAYPOINT: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_NAV_LOITER_UNLIM: lambda p: (0, 0, _u16(abs(p[2])) * _sign(p[2]), 0),
    R.MAV_CMD_NAV_LOITER_TURNS: _loiter_turns,
    R.MAV_CMD_NAV_LOITER_TIME: lambda p: (_u16(p[0]), 0, _sign(p[2]), 1.0 if p[3] > 0 else 0.0),
    R.MAV_CMD_NAV_RETURN_TO_LAUNCH: lambda p: (0, 0, 0, 0),
    R.MAV_CMD_NAV_LAND: lambda p: (_u16(p[0]), 0, 0, -1.0 if p[3] < 0 else 1.0),
    R.MAV_CMD_NAV_TAKEOFF: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_NAV_LOITER_TO_ALT: lambda p: (0, _u16(abs(p[1])) * _sign(p[1]), 0,
                                            1.0 if p[3] > 0 else 0.0),
    R.MAV_CMD_NAV_SPLINE_WAYPOINT: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_NAV_GUIDED_ENABLE: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_NAV_DELAY: lambda p: (p[0], _u8(p[1]), _u8(p[2]), _u8(p[3])),
    R.MAV_CMD_CONDITION_DELAY: lambda p: (p[0], 0, 0, 0),
    R.MAV_CMD_CONDITION_DISTANCE: lambda p: (p[0], 0, 0, 0),
    R.MAV_CMD_CONDITION_YAW: lambda p: (p[0], p[1], _int(p[2], -128, 127), _u8(p[3])),
    R.MAV_CMD_DO_JUMP: lambda p: (_u16(p[0]), _int(p[1], -32768, 32767), 0, 0),
    R.MAV_CMD_DO_CHANGE_SPEED: lambda p: (_u8(p[0]), p[1], p[2], 0),
    R.MAV_CMD_DO_SET_HOME: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_DO_SET_RELAY: lambda p: (_u8(p[0]), _u8(p[1]), 0, 0),
    R.MAV_CMD_DO_REPEAT_RELAY: lambda p: (_u8(p[0]), _int(p[1], -32768, 32767), p[2], 0),
    R.MAV_CMD_DO_SET_SERVO: lambda p: (_u8(p[0]), _u16(p[1]), 0, 0),
    R.MAV_CMD_DO_REPEAT_SERVO: lambda p: (_u8(p[0]), _u16(p[1]), _int(p[2], -32768, 32767), p[3]),
    R.MAV_CMD_DO_LAND_START: lambda p: (0, 0, 0, 0),
    R.MAV_CMD_DO_SET_ROI: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_DO_DIGICAM_CONFIGURE: lambda p: (_u8(p[0]), _u16(p[1]), p[2], _u16(p[3])),
    R.MAV_CMD_DO_DIGICAM_CONTROL: lambda p: (_u8(p[0]), _u8(p[1]), _int(p[2], -128, 127),
                                             _u8(p[3])),
    R.MAV_CMD_DO_MOUNT_CONTROL: lambda p: (p[0], p[1], p[2], 0),
    R.MAV_CMD_DO_SET_CAM_TRIGG_DIST: lambda p: (p[0], 0, _u8(p[2]), 0),
    R.MAV_CMD_DO_FENCE_ENABLE: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_DO_PARACHUTE: lambda p: (_u16(p[0]), 0, 0, 0),
    R.MAV_CMD_DO_GRIPPER: lambda p: (_u8(p[0]), _u8(p[1]), 0, 0),
    R.MAV_CMD_DO_GUIDED_LIMITS: lambda p: (_u16(p[0]), p[1], p[2], p[3]),
    R.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW: lambda p: (p[0], p[1], p[2], p[3]),
    R.MAV_CMD_IMAGE_START_CAPTURE: lambda p: (_u8(p[0]), p[1], _u16(p[2]), _u16(p[3])),
    R.MAV_CMD_IMAGE_STOP_CAPTURE: lambda p: (_u8(p[0]), 0, 0, 0),
}

_LOCATION_COMMANDS = frozenset({
    R.MAV_CMD_NAV_WAYPOINT, R.MAV_CMD_NAV_LOITER_UNLIM, R.MAV_CMD_NAV_LOITER_TURNS,
    R.MAV_CMD_NAV_LOITER_TIME, R.MAV_CMD_NAV_LAND, R.MAV_CMD_NAV_TAKEOFF,
    R.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT, R.MAV_CMD_NAV_LOITER_TO_ALT,
    R.MAV_CMD_NAV_SPLINE_WAYPOINT, R.MAV_CMD_NAV_GUIDED_ENABLE, R.MAV_CMD_DO_SET_HOME,
    R.MAV_CMD_DO_LAND_START, R.MAV_CMD_DO_SET_ROI,
})

NAV_COMMANDS = frozenset({
    R.MAV_CMD_NAV_WAYPOINT, R.MAV_CMD_NAV_LOITER_UNLIM, R.MAV_CMD_NAV_LOITER_TURNS,
    R.MAV_CMD_NAV_LOITER_TIME, R.MAV_CMD_NAV_RETURN_TO_LAUNCH, R.MAV_CMD_NAV_LAND,
    R.MAV_CMD_NAV_TAKEOFF, R.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT, R.MAV_CMD_NAV_LOITER_TO_ALT,
    R.MAV_CMD_NAV_SPLINE_WAYPOINT, R.MAV_CMD_NAV_GUIDED_ENABLE, R.MAV_CMD_NAV_DELAY,
})
"""Navigation ("must") commands: everything below MAV_CMD_NAV_LAST (95)."""

_ABS_FRAMES = {R.MAV_FRAME_MISSION, R.MAV_FRAME_GLOBAL, R.MAV_FRAME_GLOBAL_INT}
_REL_FRAMES = {R.MAV_FRAME_GLOBAL_RELATIVE_ALT, R.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT}
_TERRAIN_FRAMES = {R.MAV_FRAME_GLOBAL_TERRAIN_ALT, R.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT}

# (command) -> bit mask of params (bit 0 = param1) that may be NaN (AP_Mission sanity_check_params)
_NAN_ALLOWED = {R.MAV_CMD_NAV_WAYPOINT: 0b1000, R.MAV_CMD_NAV_LAND: 0b1000,
                R.MAV_CMD_NAV_TAKEOFF: 0b1000}
_INVALID_PARAM = (R.MAV_MISSION_INVALID_PARAM1, R.MAV_MISSION_INVALID_PARAM2,
                  R.MAV_MISSION_INVALID_PARAM3, R.MAV_MISSION_INVALID_PARAM4)


def store_mission_item(item: WireItem) -> tuple[int, WireItem | None]:
    """Validate a MISSION-type item and return it as AP_Mission stores and returns it."""
    if item.command == 0:
        return R.MAV_MISSION_INVALID, None
    nan_ok = _NAN_ALLOWED.get(item.command, 0)
    for i, value in enumerate(item.params):
        if math.isinf(value) or (math.isnan(value) and not nan_ok & (1 << i)):
            return _INVALID_PARAM[i], None
    convert = _MISSION_PARAMS.get(item.command)
    if convert is None:
        return R.MAV_MISSION_UNSUPPORTED, None
    clean = tuple(0.0 if math.isnan(v) else v for v in item.params)
    p1, p2, p3, p4 = (float(v) for v in convert(clean))  # type: ignore[arg-type]
    if item.command not in _LOCATION_COMMANDS:
        x, y = (item.x, item.y) if item.command in _RAW_XY else (0, 0)
        z = item.z if item.command == R.MAV_CMD_DO_DIGICAM_CONFIGURE else 0.0
        return ACCEPTED, WireItem(item.command, R.MAV_FRAME_GLOBAL, p1, p2, p3, p4, x, y, z)
    if not _check_lat(item.x):
        return R.MAV_MISSION_INVALID_PARAM5_X, None
    if not _check_lng(item.y):
        return R.MAV_MISSION_INVALID_PARAM6_Y, None
    if math.isnan(item.z) or abs(item.z) >= LOCATION_ALT_MAX_M:
        return R.MAV_MISSION_INVALID_PARAM7, None
    if item.frame in _ABS_FRAMES:
        frame = R.MAV_FRAME_GLOBAL
    elif item.frame in _REL_FRAMES:
        frame = R.MAV_FRAME_GLOBAL_RELATIVE_ALT
    elif item.frame in _TERRAIN_FRAMES:
        frame = R.MAV_FRAME_GLOBAL_TERRAIN_ALT
    else:
        return R.MAV_MISSION_UNSUPPORTED_FRAME, None
    alt_cm = math.trunc(float(np.float32(item.z) * np.float32(100.0)))
    z = float(np.float32(alt_cm) * np.float32(0.01))
    return ACCEPTED, WireItem(item.command, frame, p1, p2, p3, p4, item.x, item.y, z)


def home_item(lat_e7: int, lon_e7: int, alt_amsl_m: float) -> WireItem:
    """Mission seq 0 as ArduPilot returns it: a waypoint at home, absolute altitude."""
    return WireItem(R.MAV_CMD_NAV_WAYPOINT, R.MAV_FRAME_GLOBAL, 0, 0, 0, 0, lat_e7, lon_e7,
                    float(np.float32(alt_amsl_m)))


# ---------------------------------------------------------------- fence (AC_PolyFence_loader)

FENCE_COMMANDS = frozenset({
    R.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, R.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    R.MAV_CMD_NAV_FENCE_RETURN_POINT, R.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
    R.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
})
_POLYGONS = (R.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
             R.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
_CIRCLES = (R.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, R.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION)
_FENCE_FRAMES = _ABS_FRAMES - {R.MAV_FRAME_MISSION} | _REL_FRAMES | _TERRAIN_FRAMES


def store_fence_item(item: WireItem) -> tuple[int, WireItem | None]:
    """Convert one FENCE-type item (``convert_MISSION_ITEM_INT_to_AC_PolyFenceItem``)."""
    if item.frame not in _FENCE_FRAMES:
        return R.MAV_MISSION_UNSUPPORTED_FRAME, None
    if item.command not in FENCE_COMMANDS:
        return R.MAV_MISSION_UNSUPPORTED, None
    if item.command in _POLYGONS:
        p1 = _u8(item.param1) if math.isfinite(item.param1) else 0.0
    elif item.command in _CIRCLES:
        p1 = float(np.float32(item.param1))
    else:
        p1 = 0.0
    return ACCEPTED, WireItem(item.command, R.MAV_FRAME_GLOBAL, p1, 0, 0, 0, item.x, item.y, 0.0)


def validate_fence(items: Sequence[WireItem]) -> str | None:
    """None when the fence is valid, else the STATUSTEXT ArduPilot sends (``validate_fence``)."""
    expecting: int | None = None
    remaining = 0
    total = 0
    seen_return_point = False
    for it in items:
        if it.command in _POLYGONS:
            count = int(it.param1)
            if count < 3:
                return f"Invalid vertex count ({count})"
            if remaining == 0:
                remaining, total, expecting = count, count, it.command
            elif it.command != expecting:
                return "Received incorrect vertex type"
            elif count != total:
                return f"Unexpected vertex count want={total} got={count}"
            remaining -= 1
        elif remaining:
            return "Received incorrect type"
        elif it.command in _CIRCLES:
            if not it.param1 > 0:
                return "Non-positive circle radius"
        elif seen_return_point:
            return "Multiple return points"
        else:
            seen_return_point = True
        if not (_check_lat(it.x) and _check_lng(it.y)):
            return "Bad lat or lon"
    if remaining:
        return "Incorrect item count"
    if fence_storage_bytes(items) > FENCE_STORAGE_BYTES:
        return "Fence exceeds storage size"
    return None


def fence_storage_bytes(items: Sequence[WireItem]) -> int:
    """Bytes the fence takes in storage (``fence_storage_space_required``: a 4-byte header,
    per polygon 1 type + 1 count + 8 per vertex, per circle 13, a return point 9) and the
    1-byte end marker written after it."""
    total, i = 4, 0
    while i < len(items):
        it = items[i]
        if it.command in _POLYGONS:
            n = max(int(it.param1), 1)
            total += 2 + 8 * n
            i += n
            continue
        total += 13 if it.command in _CIRCLES else 9
        i += 1
    return total + 1


# ---------------------------------------------------------------- rally (AP_Rally)

def store_rally_item(item: WireItem) -> tuple[int, WireItem | None]:
    """Convert one RALLY-type item (``convert_MISSION_ITEM_INT_to_RallyLocation``)."""
    if item.command != R.MAV_CMD_NAV_RALLY_POINT:
        return R.MAV_MISSION_UNSUPPORTED, None
    if item.frame not in _REL_FRAMES:
        return R.MAV_MISSION_UNSUPPORTED_FRAME, None
    if not _check_lat(item.x):
        return R.MAV_MISSION_INVALID_PARAM5_X, None
    if not _check_lng(item.y):
        return R.MAV_MISSION_INVALID_PARAM6_Y, None
    if math.isnan(item.z) or not -32768 <= item.z <= 32767:
        return R.MAV_MISSION_INVALID_PARAM7, None
    return ACCEPTED, replace(item, frame=R.MAV_FRAME_GLOBAL_RELATIVE_ALT, param1=0.0, param2=0.0,
                             param3=0.0, param4=0.0, z=float(math.trunc(item.z)))
