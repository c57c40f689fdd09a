"""MAVLink dialect and the ArduCopter constants the built-in vehicle speaks.

The vehicle always speaks MAVLink 2 with the ``ardupilotmega`` dialect, imported directly so
that pymavlink's process-wide ``MAVLINK20`` switch does not matter here.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from survey.core.mavlink import CopterMode

__all__ = ["AUTOPILOT_COMPONENT", "CopterMode", "mavlink"]

AUTOPILOT_COMPONENT = mavlink.MAV_COMP_ID_AUTOPILOT1
"""Component id of the autopilot (1)."""

FIRMWARE_VERSION = (4, 7, 0)
"""ArduCopter version the built-in vehicle claims in AUTOPILOT_VERSION."""


FLOWN_MODES = frozenset(
    {CopterMode.STABILIZE, CopterMode.ALT_HOLD, CopterMode.AUTO, CopterMode.GUIDED,
     CopterMode.LOITER, CopterMode.RTL, CopterMode.LAND, CopterMode.POSHOLD, CopterMode.BRAKE}
)
"""The ArduCopter modes the built-in vehicle flies; asked for any other, it answers FAILED."""


def parse_mode(value: int) -> CopterMode:
    """The mode for a custom-mode number, if the built-in vehicle flies it.

    Raises
    ------
    ValueError
        If ``value`` is not a mode this vehicle flies; the message lists the valid ones.
    """
    if value in {int(m) for m in FLOWN_MODES}:
        return CopterMode(value)
    valid = ", ".join(f"{m.name} {m.value}" for m in sorted(FLOWN_MODES))
    raise ValueError(f"unknown copter mode {value}; valid: {valid}")


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
