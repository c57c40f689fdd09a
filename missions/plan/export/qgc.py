"""QGroundControl ``.plan`` files: one per sortie, with the plan's fence and rally points.

The layout is what QGroundControl 4.x writes (``PlanMasterController::saveToJson``): keys sorted,
four-space indent, ``params`` as ``[p1, p2, p3, p4, lat, lon, alt]`` with ``null`` for NaN, and
``Altitude``/``AltitudeMode``/``AMSLAltAboveTerrain`` only on items that carry a position. The
reader is strict: it is what ``survey fly`` loads before an upload, so a damaged file is refused
with the path and the place of the problem rather than half-read.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from missions.plan.items import Cmd, FenceZone, Frame, MissionItem, RallyPoint
from missions.plan.model import Plan, Sortie
from survey.core.errors import InputError
from survey.core.files import atomic_write_text, read_json

FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_QUADROTOR = 2  # MAV_TYPE_QUADROTOR
# QGroundControlQmlGlobal::AltMode: 1 relative to home, 2 above mean sea level.
_ALT_MODE: dict[int, int] = {Frame.GLOBAL_RELATIVE_ALT: 1, Frame.GLOBAL: 2}


@dataclass(frozen=True)
class QgcPlanFile:
    """What a ``.plan`` file holds, in the project's types.

    Attributes
    ----------
    home
        Planned home position ``(lat_deg, lon_deg, alt_m)``, altitude above mean sea level.
    items
        The mission after home (QGroundControl's ``doJumpId`` 1..n).
    fence
        Polygon fence zones.
    rally
        Rally points.
    """

    home: tuple[float, float, float]
    items: list[MissionItem]
    fence: list[FenceZone]
    rally: list[RallyPoint]


def write_qgc_plan(plan: Plan, sortie: Sortie, path: str | os.PathLike[str]) -> None:
    """Write one sortie, with the plan's fence and rally points, as a QGroundControl ``.plan``.

    Parameters
    ----------
    plan
        The plan (home, speeds, fence, rally).
    sortie
        The sortie whose mission items become the file's mission.
    path
        Output file; written atomically. Home altitude is the DEM's ground at home for a plan
        over terrain, else 0 m AMSL (unknown: the altitudes are above home).
    """
    atomic_write_text(path, json.dumps(plan_json(plan, sortie), indent=4, sort_keys=True) + "\n")


def plan_json(plan: Plan, sortie: Sortie) -> dict[str, Any]:
    """The ``.plan`` document of one sortie as a JSON-ready dict."""
    speed = _num(plan.drone.cruise_speed_m_s)
    return {
        "fileType": "Plan",
        "groundStation": "QGroundControl",
        "version": 1,
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_QUADROTOR,
            "cruiseSpeed": speed,
            "hoverSpeed": speed,
            # Over a DEM every altitude is above sea level (AltitudeMode 2) and home stands on
            # the DEM's ground; otherwise altitudes are above home and its height is unknown.
            "globalPlanAltitudeMode": 2 if plan.absolute_altitudes else 1,
            "plannedHomePosition": [_num(plan.home_lat_deg), _num(plan.home_lon_deg),
                                    _num(plan.home_alt_amsl_m or 0.0)],
            "items": [_item_json(it, n) for n, it in enumerate(sortie.items, start=1)],
        },
        "geoFence": {
            "version": 2,
            "circles": [
                {
                    "circle": {"center": [_num(zone.vertices[0][0]), _num(zone.vertices[0][1])],
                               "radius": _num(zone.radius_m)},
                    "inclusion": zone.inclusion,
                    "version": 1,
                }
                for zone in plan.fence if zone.radius_m is not None
            ],
            "polygons": [
                {
                    "inclusion": zone.inclusion,
                    "polygon": [[_num(lat), _num(lon)] for lat, lon in zone.vertices],
                    "version": 1,
                }
                for zone in plan.fence if zone.radius_m is None
            ],
        },
        "rallyPoints": {
            "version": 2,
            "points": [[_num(r.lat_deg), _num(r.lon_deg), _num(r.alt_m)] for r in plan.rally],
        },
    }


def _num(x: float) -> float | int | None:
    """A number as QGroundControl writes it: integral values without ``.0``, NaN as null."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isfinite(x) and x.is_integer():
        return int(x)
    return x


def _item_json(item: MissionItem, jump_id: int) -> dict[str, Any]:
    params = (item.param1, item.param2, item.param3, item.param4,
              item.lat_deg, item.lon_deg, item.alt_m)
    out: dict[str, Any] = {
        "type": "SimpleItem",
        "autoContinue": bool(item.autocontinue),
        "command": int(item.command),
        "doJumpId": jump_id,
        "frame": int(item.frame),
        "params": [_num(p) for p in params],
    }
    if item.is_nav:  # QGroundControl adds these only to items that specify an altitude
        out["AMSLAltAboveTerrain"] = None
        out["Altitude"] = _num(item.alt_m)
        out["AltitudeMode"] = _ALT_MODE.get(item.frame, 1)
    return out


def read_qgc_plan(path: str | os.PathLike[str]) -> QgcPlanFile:
    """Read a ``.plan`` file written by :func:`write_qgc_plan` or QGroundControl 4.x.

    Only simple items and polygon fences are accepted: survey patterns (``ComplexItem``) and
    circular fences are refused rather than silently dropped. ``null`` params (QGroundControl's
    NaN) read as NaN, except a missing position on an item that has none, which reads as 0.

    Raises
    ------
    InputError
        The file is missing, not JSON, not a plan, or a key is missing or has the wrong type;
        the message names the path and the key.
    """
    doc = read_json(path, strict=True)  # QGroundControl writes null, never NaN
    r = _Reader(path)
    r.obj(doc, "top level")
    if doc.get("fileType") != "Plan":
        raise InputError(path, f"fileType is {doc.get('fileType')!r}, not 'Plan': not a .plan file")
    r.version(doc, "version", 1, "top level")
    mission = r.obj(r.key(doc, "mission", "top level"), "mission")
    r.version(mission, "version", 2, "mission")
    home = r.position(r.key(mission, "plannedHomePosition", "mission"),
                      "mission.plannedHomePosition")
    items_json = r.array(r.key(mission, "items", "mission"), "mission.items")
    items = [r.item(it, f"mission.items[{i}]") for i, it in enumerate(items_json)]
    fence = r.fence(r.obj(r.key(doc, "geoFence", "top level"), "geoFence"))
    rally_json = r.obj(r.key(doc, "rallyPoints", "top level"), "rallyPoints")
    r.version(rally_json, "version", 2, "rallyPoints")
    rally = [RallyPoint(*r.position(p, f"rallyPoints.points[{i}]"))
             for i, p in enumerate(r.array(r.key(rally_json, "points", "rallyPoints"),
                                          "rallyPoints.points"))]
    return QgcPlanFile(home=home, items=items, fence=fence, rally=rally)


class _Reader:
    """Type checks that raise :class:`InputError` naming the file and the JSON location."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path

    def fail(self, problem: str) -> InputError:
        return InputError(self.path, problem)

    def key(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(f"{where}: missing key {key!r}")
        return obj[key]

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where}: expected an object, found {_kind(value)}")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{where}: expected an array, found {_kind(value)}")
        return value

    def number(self, value: Any, where: str, *, nullable: bool = False) -> float:
        if value is None and nullable:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}: expected a number, found {_kind(value)}")
        return float(value)

    def integer(self, value: Any, where: str) -> int:
        x = self.number(value, where)
        if not x.is_integer():
            raise self.fail(f"{where}: expected an integer, found {value!r}")
        return int(x)

    def version(self, obj: dict[str, Any], key: str, expected: int, where: str) -> None:
        found = self.integer(self.key(obj, key, where), f"{where}.{key}")
        if found != expected:
            raise self.fail(f"{where}: version {found} is not supported (expected {expected})")

    def latlon(self, lat: float, lon: float, where: str) -> None:
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise self.fail(f"{where}: latitude {lat!r}, longitude {lon!r} out of range")

    def position(self, value: Any, where: str) -> tuple[float, float, float]:
        coords = self.array(value, where)
        if len(coords) != 3:
            raise self.fail(f"{where}: expected [lat, lon, alt], found {len(coords)} values")
        lat = self.number(coords[0], f"{where}[0]")
        lon = self.number(coords[1], f"{where}[1]")
        alt = self.number(coords[2], f"{where}[2]", nullable=True)
        self.latlon(lat, lon, where)
        return lat, lon, 0.0 if math.isnan(alt) else alt

    def item(self, value: Any, where: str) -> MissionItem:
        obj = self.obj(value, where)
        kind = self.key(obj, "type", where)
        if kind != "SimpleItem":
            pattern = f" ({obj['complexItemType']})" if "complexItemType" in obj else ""
            raise self.fail(f"{where}: item type {kind!r}{pattern} is not supported; only "
                            "SimpleItem (waypoints and commands) can be flown from a .plan here")
        command = self.integer(self.key(obj, "command", where), f"{where}.command")
        frame = self.integer(self.key(obj, "frame", where), f"{where}.frame")
        auto = self.key(obj, "autoContinue", where)
        if not isinstance(auto, bool):
            raise self.fail(f"{where}.autoContinue: expected true or false, found {_kind(auto)}")
        if "doJumpId" in obj:
            self.integer(obj["doJumpId"], f"{where}.doJumpId")
        params = self.array(self.key(obj, "params", where), f"{where}.params")
        if len(params) != 7:
            raise self.fail(f"{where}.params: expected 7 values, found {len(params)}")
        p = [self.number(v, f"{where}.params[{i}]", nullable=True) for i, v in enumerate(params)]
        lat, lon = p[4], p[5]
        item = MissionItem(command, frame, p[0], p[1], p[2], p[3],
                           0.0 if math.isnan(lat) else lat, 0.0 if math.isnan(lon) else lon,
                           p[6], auto)
        if math.isnan(lat) or math.isnan(lon):
            # ArduCopter ignores a take-off's position; other navigation items need one.
            if item.is_nav and item.command != Cmd.NAV_TAKEOFF:
                raise self.fail(f"{where}: a navigation item needs a position")
        elif item.is_nav:
            self.latlon(lat, lon, where)
        return item

    def fence(self, geofence: dict[str, Any]) -> list[FenceZone]:
        self.version(geofence, "version", 2, "geoFence")
        zones = []
        for i, value in enumerate(self.array(self.key(geofence, "polygons", "geoFence"),
                                            "geoFence.polygons")):
            where = f"geoFence.polygons[{i}]"
            obj = self.obj(value, where)
            inclusion = self.inclusion(obj, where)
            vertices = self.array(self.key(obj, "polygon", where), f"{where}.polygon")
            if len(vertices) < 3:
                raise self.fail(f"{where}.polygon: a polygon needs 3 or more vertices, "
                                f"found {len(vertices)}")
            zones.append(FenceZone(inclusion, tuple(
                self.vertex(v, f"{where}.polygon[{j}]") for j, v in enumerate(vertices))))
        for i, value in enumerate(self.array(geofence.get("circles", []), "geoFence.circles")):
            where = f"geoFence.circles[{i}]"
            obj = self.obj(value, where)
            inclusion = self.inclusion(obj, where)
            circle = self.obj(self.key(obj, "circle", where), f"{where}.circle")
            centre = self.vertex(self.key(circle, "center", f"{where}.circle"),
                                 f"{where}.circle.center")
            radius = self.number(self.key(circle, "radius", f"{where}.circle"),
                                 f"{where}.circle.radius")
            if not radius > 0:
                raise self.fail(f"{where}.circle.radius: must be positive, found {radius:g}")
            zones.append(FenceZone(inclusion, (centre,), radius))
        return zones

    def inclusion(self, obj: dict[str, Any], where: str) -> bool:
        value = self.key(obj, "inclusion", where)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.inclusion: expected true or false, found {_kind(value)}")
        return value

    def vertex(self, value: Any, where: str) -> tuple[float, float]:
        coords = self.array(value, where)
        if len(coords) != 2:
            raise self.fail(f"{where}: expected [lat, lon], found {len(coords)} values")
        lat = self.number(coords[0], f"{where}[0]")
        lon = self.number(coords[1], f"{where}[1]")
        self.latlon(lat, lon, where)
        return lat, lon


def _kind(value: Any) -> str:
    """A JSON value's type in words, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
