"""Knowing the vehicle before flying it: AUTOPILOT_VERSION read at connect (firmware version,
git hash, capabilities), written into the flight folder, and what the plan needs that the
vehicle lacks said in one line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.link import Link
from survey.core.errors import LinkTimeout, VehicleRefused
from survey.core.files import atomic_write_text
from survey.core.plan_folder import FlightFolder

_TYPES = {mavlink.FIRMWARE_VERSION_TYPE_DEV: "dev", mavlink.FIRMWARE_VERSION_TYPE_ALPHA: "alpha",
          mavlink.FIRMWARE_VERSION_TYPE_BETA: "beta", mavlink.FIRMWARE_VERSION_TYPE_RC: "rc",
          mavlink.FIRMWARE_VERSION_TYPE_OFFICIAL: "official"}
NEEDS = {
    "mission_int": mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT,
    "fence": mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE,
    "rally": mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY,
}
"""What a plan can need, by name → the MAV_PROTOCOL_CAPABILITY bit that provides it."""


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    """What AUTOPILOT_VERSION says: ``4.7.0-dev``, the firmware's git hash, capability bits."""

    version: str
    git_hash: str
    capabilities: int

    def lacks(self, needs: Iterable[str]) -> list[str]:
        return [n for n in needs if not self.capabilities & NEEDS[n]]


def parse_version(msg: object) -> VehicleInfo:
    """A :class:`VehicleInfo` from an AUTOPILOT_VERSION message."""
    v = int(msg.flight_sw_version)  # type: ignore[attr-defined]
    kind = _TYPES.get(v & 0xFF, f"type{v & 0xFF}")
    version = f"{v >> 24 & 0xFF}.{v >> 16 & 0xFF}.{v >> 8 & 0xFF}"
    if kind != "official":
        version += f"-{kind}"
    raw = bytes(msg.flight_custom_version)  # type: ignore[attr-defined]
    git = raw.rstrip(b"\0").decode("ascii", "replace")
    return VehicleInfo(version, git, int(msg.capabilities))  # type: ignore[attr-defined]


def read_vehicle_info(link: Link, *, timeout_s: float = 3.0) -> VehicleInfo:
    """Ask for AUTOPILOT_VERSION (MAV_CMD_REQUEST_MESSAGE) and wait for it.

    Raises
    ------
    LinkTimeout
        The vehicle never sent it.
    """
    with link.subscribe("AUTOPILOT_VERSION") as answers:
        for attempt in range(3):
            link.send(link.mav.command_long_encode(
                link.target_system, link.target_component, mavlink.MAV_CMD_REQUEST_MESSAGE,
                0, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION, 0, 0, 0, 0, 0, 0))
            try:
                return parse_version(answers.get(timeout_s / 3, what="AUTOPILOT_VERSION"))
            except LinkTimeout:
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def missing_equipment(link: Link, *, camera: bool, battery_monitor: bool,
                      timeout_s: float = 1.0) -> list[str]:
    """What the plan needs fitted and configured that the vehicle's parameters say is not.

    ``camera``: the plan takes photos, so CAM1_TYPE must name a camera (ArduPilot before 4.4
    has CAM_TRIGG_TYPE instead, whose every value, servo by default, triggers).
    ``battery_monitor``: battery swaps between sorties are judged from the battery level, so
    BATT_MONITOR must not be 0. A parameter the vehicle does not answer for is not held
    against it.
    """
    from missions.fly.commands import get_param

    out = []
    if camera:
        cam = get_param(link, "CAM1_TYPE", timeout_s=timeout_s)
        if cam is None and get_param(link, "CAM_TRIGG_TYPE", timeout_s=timeout_s) is None:
            out.append("a camera (it has neither CAM1_TYPE nor CAM_TRIGG_TYPE)")
        elif cam == 0:
            out.append("a configured camera for the plan's photos (CAM1_TYPE is 0: set it to "
                       "the camera's type, e.g. 1 servo, 2 relay, 5 MAVLink)")
    if battery_monitor and get_param(link, "BATT_MONITOR", timeout_s=timeout_s) == 0:
        out.append("a battery monitor for the battery swaps between sorties (BATT_MONITOR is "
                   "0: set it, e.g. 4 analog voltage and current)")
    return out


def require(info: VehicleInfo, needs: Iterable[str], equipment: Iterable[str] = ()) -> None:
    """Refuse, in one line, a vehicle that lacks what the plan needs: protocol support
    (AUTOPILOT_VERSION capabilities) and ``equipment`` (see :func:`missing_equipment`)."""
    missing = [f"{n} support" for n in info.lacks(needs)] + list(equipment)
    if missing:
        raise VehicleRefused("fly this plan", f"the plan needs what ArduPilot {info.version} "
                             f"lacks: {'; '.join(missing)}")


def write_vehicle_info(flight_dir: Path, info: VehicleInfo) -> Path:
    """``flight_dir/vehicle.json``: what flew the plan."""
    flight_dir.mkdir(parents=True, exist_ok=True)
    path = FlightFolder(flight_dir).vehicle
    atomic_write_text(path, json.dumps(asdict(info), indent=2) + "\n")
    return path
