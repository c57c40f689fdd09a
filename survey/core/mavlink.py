"""What both ends of the MAVLink link share: ArduCopter's flight modes and a mission item as it
travels in MISSION_ITEM_INT, for the ground station (``missions.fly``) and the built-in vehicle
(``sitl.builtin``) alike.

>>> CopterMode.SMART_RTL.value, mode_name(3), mode_name(99)
(21, 'AUTO', 'MODE 99')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink


class CopterMode(IntEnum):
    """ArduCopter's custom flight modes, numbered as ``ArduCopter/mode.h`` numbers them."""

    STABILIZE = 0
    ACRO = 1
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    CIRCLE = 7
    LAND = 9
    DRIFT = 11
    SPORT = 13
    FLIP = 14
    AUTOTUNE = 15
    POSHOLD = 16
    BRAKE = 17
    THROW = 18
    AVOID_ADSB = 19
    GUIDED_NOGPS = 20
    SMART_RTL = 21
    FLOWHOLD = 22
    FOLLOW = 23
    ZIGZAG = 24
    SYSTEMID = 25
    AUTOROTATE = 26
    AUTO_RTL = 27
    TURTLE = 28


def mode_name(custom_mode: int) -> str:
    """``"AUTO"`` for 3; ``"MODE 42"`` for a number ArduCopter does not define."""
    try:
        return CopterMode(custom_mode).name
    except ValueError:
        return f"MODE {custom_mode}"


@dataclass(frozen=True)
class WireItem:
    """A MISSION_ITEM_INT's content: command, frame, param1-4, x/y (latitude/longitude as int32
    degrees × 1e7, or raw for commands that are not positions), z."""

    command: int
    frame: int = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0
    y: int = 0
    z: float = 0.0
    autocontinue: bool = True

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.param1, self.param2, self.param3, self.param4)

    @classmethod
    def from_msg(cls, msg: Any) -> WireItem:
        """From a decoded MISSION_ITEM_INT (or anything with its fields)."""
        return cls(msg.command, msg.frame, msg.param1, msg.param2, msg.param3, msg.param4,
                   msg.x, msg.y, msg.z, bool(getattr(msg, "autocontinue", True)))
