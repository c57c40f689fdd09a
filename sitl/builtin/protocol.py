"""MAVLink dialect and the ArduCopter constants the built-in vehicle speaks.

The vehicle always speaks MAVLink 2 with the ``ardupilotmega`` dialect, imported directly so
that pymavlink's process-wide ``MAVLINK20`` switch does not matter here.
"""

from __future__ import annotations

from enum import IntEnum

from pymavlink.dialects.v20 import ardupilotmega as mavlink

__all__ = ["AUTOPILOT_COMPONENT", "CopterMode", "mavlink"]

AUTOPILOT_COMPONENT = mavlink.MAV_COMP_ID_AUTOPILOT1
"""Component id of the autopilot (1)."""

FIRMWARE_VERSION = (4, 7, 0)
"""ArduCopter version the built-in vehicle claims in AUTOPILOT_VERSION."""


class CopterMode(IntEnum):
    """ArduCopter custom flight modes (``ArduCopter/mode.h``) the built-in vehicle flies."""

    STABILIZE = 0
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    LAND = 9
    POSHOLD = 16
    BRAKE = 17

    @classmethod
    def parse(cls, value: int) -> CopterMode:
        """Return the mode for a custom-mode number.

        Raises
        ------
        ValueError
            If ``value`` is not a mode this vehicle knows; the message lists the valid ones.
        """
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(f"{m.name} {m.value}" for m in cls)
            raise ValueError(f"unknown copter mode {value}; valid: {valid}") from None


POSITION_MODES = frozenset(
    {CopterMode.AUTO, CopterMode.GUIDED, CopterMode.LOITER, CopterMode.RTL, CopterMode.POSHOLD,
     CopterMode.BRAKE}
)
"""Modes that need a position estimate (``Mode::requires_GPS``)."""

ARMABLE_MODES = frozenset(
    {CopterMode.STABILIZE, CopterMode.ALT_HOLD, CopterMode.GUIDED, CopterMode.LOITER,
     CopterMode.POSHOLD}
)
"""Modes that allow arming (AUTO, RTL, LAND and BRAKE refuse with AUTO_OPTIONS=0)."""
