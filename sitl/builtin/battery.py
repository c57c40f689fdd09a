"""A 3S LiPo battery: charge used from the current drawn, voltage from charge and load.

Current depends on the flight phase (disarmed, idle on the ground, hover, climb, forward
flight); the resting voltage follows a typical LiPo discharge curve and sags with the load, so
the low-voltage failsafe (BATT_LOW_VOLT, default 10.5 V) trips near 15 % remaining in a hover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SOC = np.array([0.0, 0.05, 0.10, 0.20, 0.30, 0.50, 0.70, 0.90, 1.0])
_REST_V = np.array([9.6, 10.2, 10.6, 10.9, 11.1, 11.4, 11.7, 12.2, 12.6])
INTERNAL_OHM = 0.02
CELLS = 3


@dataclass(frozen=True)
class Load:
    """What the vehicle is doing, for the current it draws."""

    armed: bool
    flying: bool
    speed_xy_m_s: float = 0.0
    climb_m_s: float = 0.0


def current_a(load: Load) -> float:
    """Current drawn in amperes.

    >>> current_a(Load(armed=False, flying=False))
    0.3
    >>> round(current_a(Load(armed=True, flying=True)), 1)
    15.0
    """
    if not load.armed:
        return 0.3
    if not load.flying:
        return 3.0
    return 15.0 + 0.04 * load.speed_xy_m_s**2 + 4.0 * max(load.climb_m_s, 0.0)


class Battery:
    """Charge and voltage of one battery of ``capacity_mah``."""

    def __init__(self, capacity_mah: float) -> None:
        self.capacity_mah = capacity_mah
        self.consumed_mah = 0.0
        self.consumed_wh = 0.0
        self.current_a = 0.0
        self.voltage_v = self.resting_voltage()

    @property
    def remaining_fraction(self) -> float:
        """Charge left, 0..1."""
        if self.capacity_mah <= 0:
            return 1.0
        return max(0.0, 1.0 - self.consumed_mah / self.capacity_mah)

    @property
    def remaining_mah(self) -> float:
        return max(0.0, self.capacity_mah - self.consumed_mah)

    def resting_voltage(self) -> float:
        """Open-circuit pack voltage at the present charge."""
        return float(np.interp(self.remaining_fraction, _SOC, _REST_V))

    def set_remaining(self, fraction: float) -> None:
        """Test hook: set the charge left (0..1) directly."""
        fraction = min(max(fraction, 0.0), 1.0)
        self.consumed_mah = (1.0 - fraction) * self.capacity_mah
        self.voltage_v = self.resting_voltage() - self.current_a * INTERNAL_OHM

    def step(self, load: Load, dt: float) -> None:
        """Draw current for ``dt`` seconds."""
        self.current_a = current_a(load)
        self.consumed_mah += self.current_a * dt / 3.6
        self.voltage_v = self.resting_voltage() - self.current_a * INTERNAL_OHM
        self.consumed_wh += self.voltage_v * self.current_a * dt / 3600.0
