"""MAVLink mission items, fence zones and rally points: what a plan hands to the autopilot.

Coordinates here are degrees (the edge of the system); MAVLink's int32 × 1e7 encoding happens on
the wire. A mission is the list of items after home: ArduPilot keeps home at seq 0, so exports and
uploads number these from 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink


class Cmd(IntEnum):
    """The MAV_CMD values a plan uses."""

    NAV_WAYPOINT = mavlink.MAV_CMD_NAV_WAYPOINT
    NAV_RETURN_TO_LAUNCH = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
    NAV_LAND = mavlink.MAV_CMD_NAV_LAND
    NAV_TAKEOFF = mavlink.MAV_CMD_NAV_TAKEOFF
    DO_CHANGE_SPEED = mavlink.MAV_CMD_DO_CHANGE_SPEED
    IMAGE_START_CAPTURE = mavlink.MAV_CMD_IMAGE_START_CAPTURE
    DO_SET_CAM_TRIGG_DIST = mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST
    FENCE_VERTEX_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
    FENCE_VERTEX_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
    FENCE_CIRCLE_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
    FENCE_CIRCLE_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
    RALLY_POINT = mavlink.MAV_CMD_NAV_RALLY_POINT


class Frame(IntEnum):
    """MAV_FRAME values: altitudes above sea level, or above home."""

    GLOBAL = mavlink.MAV_FRAME_GLOBAL
    GLOBAL_RELATIVE_ALT = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT


@dataclass(frozen=True)
class MissionItem:
    """One MISSION_ITEM_INT's content (without seq, target ids and mission type)."""

    command: int
    frame: int = Frame.GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    autocontinue: bool = True

    @property
    def is_nav(self) -> bool:
        """True for items that move the vehicle to a position."""
        return self.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF, Cmd.NAV_LAND)


def waypoint(lat_deg: float, lon_deg: float, alt_m: float) -> MissionItem:
    """A fly-through waypoint at ``alt_m`` above home."""
    return MissionItem(Cmd.NAV_WAYPOINT, lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m)


def takeoff(lat_deg: float, lon_deg: float, alt_m: float) -> MissionItem:
    """Take off vertically to ``alt_m`` above home; the position (home, as QGroundControl
    writes it) is for display: ArduCopter climbs where it stands."""
    return MissionItem(Cmd.NAV_TAKEOFF, lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m)


def trigger_distance(distance_m: float) -> MissionItem:
    """Start distance camera triggering every ``distance_m``, or stop it with 0."""
    return MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, frame=Frame.GLOBAL_RELATIVE_ALT,
                       param1=distance_m, param3=1.0 if distance_m > 0 else 0.0)


def take_photo() -> MissionItem:
    """Take one photo now (MAV_CMD_IMAGE_START_CAPTURE: all cameras, one image)."""
    return MissionItem(Cmd.IMAGE_START_CAPTURE, param3=1.0)


def return_to_launch() -> MissionItem:
    """Return to launch and land."""
    return MissionItem(Cmd.NAV_RETURN_TO_LAUNCH)


@dataclass(frozen=True)
class FenceZone:
    """A fence the vehicle must stay inside (inclusion) or outside (exclusion): a polygon, or
    with ``radius_m`` a circle round its one vertex."""

    inclusion: bool
    vertices: tuple[tuple[float, float], ...]  # (lat_deg, lon_deg), not closed; a circle: 1
    radius_m: float | None = None

    @property
    def is_circle(self) -> bool:
        return self.radius_m is not None

    def outline(self, segments: int = 64) -> list[tuple[float, float]]:
        """The zone's boundary as (lat, lon) vertices, not closed: a circle as ``segments``
        points on it (for maps and KML, which have no circles)."""
        if self.radius_m is None:
            return list(self.vertices)
        from survey.core.frame import LocalFrame

        (lat, lon), = self.vertices
        frame = LocalFrame(lat, lon)
        out = []
        for k in range(segments):
            a = 2 * math.pi * k / segments
            x, y = frame.to_geo(self.radius_m * math.cos(a), self.radius_m * math.sin(a))
            out.append((float(y), float(x)))
        return out

    def items(self) -> list[MissionItem]:
        """The zone as MAV_CMD_NAV_FENCE_POLYGON_VERTEX_* items (param1 = vertex count) or one
        MAV_CMD_NAV_FENCE_CIRCLE_* item (param1 = radius, m)."""
        if self.radius_m is not None:
            cmd = Cmd.FENCE_CIRCLE_INCLUSION if self.inclusion else Cmd.FENCE_CIRCLE_EXCLUSION
            (lat, lon), = self.vertices
            return [MissionItem(cmd, frame=Frame.GLOBAL, param1=float(self.radius_m),
                                lat_deg=lat, lon_deg=lon)]
        cmd = Cmd.FENCE_VERTEX_INCLUSION if self.inclusion else Cmd.FENCE_VERTEX_EXCLUSION
        n = len(self.vertices)
        return [
            MissionItem(cmd, frame=Frame.GLOBAL, param1=float(n), lat_deg=lat, lon_deg=lon)
            for lat, lon in self.vertices
        ]


@dataclass(frozen=True)
class RallyPoint:
    """A safe place to return to instead of home."""

    lat_deg: float
    lon_deg: float
    alt_m: float

    def item(self) -> MissionItem:
        """The point as a MAV_CMD_NAV_RALLY_POINT item."""
        return MissionItem(Cmd.RALLY_POINT, lat_deg=self.lat_deg, lon_deg=self.lon_deg,
                           alt_m=self.alt_m)


def fence_from_items(items: list[MissionItem]) -> list[FenceZone]:
    """Regroup fence items into zones: circles, and polygons whose vertices' param1 says how
    many there are."""
    zones: list[FenceZone] = []
    i = 0
    while i < len(items):
        first = items[i]
        if first.command in (Cmd.FENCE_CIRCLE_INCLUSION, Cmd.FENCE_CIRCLE_EXCLUSION):
            if not first.param1 > 0:
                raise ValueError(f"fence item {i}: a circle needs a positive radius")
            zones.append(FenceZone(first.command == Cmd.FENCE_CIRCLE_INCLUSION,
                                   ((first.lat_deg, first.lon_deg),), float(first.param1)))
            i += 1
            continue
        n = int(first.param1)
        group = items[i:i + n]
        if n < 3 or len(group) != n or any(it.command != first.command for it in group):
            raise ValueError(f"fence item {i}: a polygon of {n} vertices is incomplete")
        zones.append(FenceZone(first.command == Cmd.FENCE_VERTEX_INCLUSION,
                               tuple((it.lat_deg, it.lon_deg) for it in group)))
        i += n
    return zones
