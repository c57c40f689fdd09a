"""Mission items as they travel in MISSION_ITEM_INT, and how to compare what was uploaded with
what the vehicle hands back.

ArduPilot does not return items exactly as sent: location commands come back in
MAV_FRAME_GLOBAL / MAV_FRAME_GLOBAL_RELATIVE_ALT, other commands in frame 0 with x/y/z = 0, params
it does not keep as 0, integer params truncated, altitudes in whole centimetres (rally points in
whole metres). :func:`compare` normalises for that, as ArduPilot's autotest does before it
accepts an upload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import IntEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.link import command_name
from missions.plan.items import MissionItem
from survey.core.mavlink import WireItem


class MissionType(IntEnum):
    """MAV_MISSION_TYPE: which of the vehicle's three item lists a transfer is about."""

    MISSION = mavlink.MAV_MISSION_TYPE_MISSION
    FENCE = mavlink.MAV_MISSION_TYPE_FENCE
    RALLY = mavlink.MAV_MISSION_TYPE_RALLY

    @property
    def label(self) -> str:
        return self.name.lower()


def to_wire(item: MissionItem) -> WireItem:
    """The wire form of a plan item (degrees → int32 × 1e7, rounded)."""
    return WireItem(int(item.command), int(item.frame), item.param1, item.param2, item.param3,
                    item.param4, round(item.lat_deg * 1e7), round(item.lon_deg * 1e7),
                    float(item.alt_m), bool(item.autocontinue))


def from_wire(wire: WireItem) -> MissionItem:
    """Back to the plan's type (degrees)."""
    return MissionItem(wire.command, wire.frame, wire.param1, wire.param2, wire.param3,
                       wire.param4, wire.x * 1e-7, wire.y * 1e-7, wire.z, wire.autocontinue)


def home_wire_item(lat_deg: float, lon_deg: float, alt_amsl_m: float) -> WireItem:
    """Mission seq 0 as uploaded: a waypoint at home, altitude above mean sea level."""
    return WireItem(mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_FRAME_GLOBAL,
                    x=round(lat_deg * 1e7), y=round(lon_deg * 1e7), z=float(alt_amsl_m))


_ABS = frozenset({mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_FRAME_GLOBAL_INT,
                  mavlink.MAV_FRAME_MISSION})
_REL = frozenset({mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                  mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT})
_TERRAIN = frozenset({mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT,
                      mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
# Commands whose x/y/z are a position (AP_Mission stores_location).
POSITION_COMMANDS = frozenset({
    mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_LOITER_UNLIM,
    mavlink.MAV_CMD_NAV_LOITER_TURNS, mavlink.MAV_CMD_NAV_LOITER_TIME, mavlink.MAV_CMD_NAV_LAND,
    mavlink.MAV_CMD_NAV_TAKEOFF, mavlink.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT,
    mavlink.MAV_CMD_NAV_LOITER_TO_ALT, mavlink.MAV_CMD_NAV_SPLINE_WAYPOINT,
    mavlink.MAV_CMD_DO_SET_HOME, mavlink.MAV_CMD_DO_LAND_START, mavlink.MAV_CMD_DO_SET_ROI,
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
    mavlink.MAV_CMD_NAV_FENCE_RETURN_POINT, mavlink.MAV_CMD_NAV_RALLY_POINT,
})
# Per command: (params ArduPilot keeps, those kept in integer fields), bit 0 = param1. A param
# not kept reads back 0; an integer one reads back truncated.
_STORED = {
    mavlink.MAV_CMD_NAV_WAYPOINT: (0b0001, 0b0001),
    mavlink.MAV_CMD_NAV_TAKEOFF: (0b0001, 0b0001),
    mavlink.MAV_CMD_NAV_LAND: (0b1001, 0b0001),
    mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH: (0, 0),
    mavlink.MAV_CMD_DO_CHANGE_SPEED: (0b0111, 0b0001),
    mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST: (0b0101, 0b0100),
    mavlink.MAV_CMD_IMAGE_START_CAPTURE: (0b1111, 0b1101),
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION: (0b0001, 0b0001),
    mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION: (0b0001, 0b0001),
    mavlink.MAV_CMD_NAV_RALLY_POINT: (0, 0),
}


def _frame_class(frame: int) -> str:
    if frame in _ABS:
        return "absolute"
    if frame in _REL:
        return "relative"
    if frame in _TERRAIN:
        return "terrain"
    return f"frame {frame}"


def _param_matches(sent: float, got: float, *, kept: bool, integer: bool) -> bool:
    if math.isnan(sent):
        sent = 0.0
    if not kept:
        return True  # the vehicle does not store it: any value (0 on ArduPilot)
    if math.isclose(sent, got, rel_tol=1e-6, abs_tol=1e-6):
        return True
    return integer and got == float(math.trunc(sent))


def compare(sent: Sequence[WireItem], got: Sequence[WireItem],
            mission_type: MissionType) -> list[str]:
    """Differences between uploaded and downloaded items, normalised as ArduPilot stores them.

    Ignored: MISSION seq 0 (the vehicle returns its own home), frames and x/y/z of commands
    without a position, params the vehicle does not keep, integer truncation of integer params,
    ``*_INT`` versus plain frames, altitudes within 1 cm (rally points: 1 m, kept in whole
    metres). Latitude and longitude must match to the unit (1e-7°).

    >>> a = WireItem(16, 3, x=360712345, y=1399812345, z=40.0)
    >>> compare([a, a], [a, WireItem(16, 6, x=360712345, y=1399812345, z=40.004)],
    ...         MissionType.MISSION)
    []
    >>> compare([a, a], [a, WireItem(16, 3, x=360712346, y=1399812345, z=40.0)],
    ...         MissionType.MISSION)
    ['item 1: lat/lon 36.0712346,139.9812345 differs from 36.0712345,139.9812345']
    """
    problems: list[str] = []
    if len(sent) != len(got):
        problems.append(f"{len(got)} items stored, {len(sent)} sent")
        return problems
    first = 1 if mission_type is MissionType.MISSION else 0
    alt_tol = 1.0 if mission_type is MissionType.RALLY else 0.011
    for seq in range(first, len(sent)):
        s, g = sent[seq], got[seq]
        if s.command != g.command:
            problems.append(f"item {seq}: command {command_name(g.command)} stored, "
                            f"{command_name(s.command)} sent")
            continue
        if s.command in POSITION_COMMANDS:
            if (s.x, s.y) != (g.x, g.y):
                problems.append(f"item {seq}: lat/lon {g.x * 1e-7:.7f},{g.y * 1e-7:.7f} "
                                f"differs from {s.x * 1e-7:.7f},{s.y * 1e-7:.7f}")
            if mission_type is not MissionType.FENCE:
                if _frame_class(s.frame) != _frame_class(g.frame):
                    problems.append(f"item {seq}: {_frame_class(g.frame)} altitude stored, "
                                    f"{_frame_class(s.frame)} sent")
                if not abs(s.z - g.z) <= alt_tol:
                    problems.append(f"item {seq}: altitude {g.z:g} m stored, {s.z:g} m sent")
        known = s.command in _STORED
        kept, integer = _STORED.get(s.command, (0b1111, 0b1111))
        for i, (ps, pg) in enumerate(zip((s.param1, s.param2, s.param3, s.param4),
                                         (g.param1, g.param2, g.param3, g.param4),
                                         strict=True)):
            bit = 1 << i
            lenient = not known and pg == 0.0  # unknown command: a dropped param is tolerated
            if not lenient and not _param_matches(ps, pg, kept=bool(kept & bit),
                                                  integer=bool(integer & bit)):
                problems.append(f"item {seq}: param{i + 1} {pg:g} stored, {ps:g} sent")
    return problems
