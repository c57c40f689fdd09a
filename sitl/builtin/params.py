"""The vehicle's parameter table: a small, realistic subset of ArduCopter 4.x parameters.

Values are what a ground station reads and writes over the parameter protocol; the flight model
reads them on every step, so a PARAM_SET changes behaviour at once (speeds, failsafe actions).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .protocol import mavlink

_R32 = mavlink.MAV_PARAM_TYPE_REAL32
_I8 = mavlink.MAV_PARAM_TYPE_INT8
_I16 = mavlink.MAV_PARAM_TYPE_INT16
_I32 = mavlink.MAV_PARAM_TYPE_INT32

_INT_LIMITS = {_I8: (-128, 127), _I16: (-32768, 32767), _I32: (-(2**31), 2**31 - 1)}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name (at most 16 characters), default value and MAV_PARAM_TYPE."""

    name: str
    default: float
    param_type: int


DEFAULT_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("SYSID_THISMAV", 1, _I16),
    ParamSpec("SYSID_MYGCS", 255, _I16),
    ParamSpec("FRAME_CLASS", 1, _I8),
    ParamSpec("FRAME_TYPE", 1, _I8),
    ParamSpec("ARMING_CHECK", 1, _I32),
    ParamSpec("DISARM_DELAY", 10, _I8),
    ParamSpec("ANGLE_MAX", 3000, _I16),
    ParamSpec("AUTO_OPTIONS", 0, _I32),
    ParamSpec("WPNAV_SPEED", 1000, _R32),
    ParamSpec("WPNAV_SPEED_UP", 250, _R32),
    ParamSpec("WPNAV_SPEED_DN", 150, _R32),
    ParamSpec("WPNAV_ACCEL", 250, _R32),
    ParamSpec("WPNAV_ACCEL_Z", 100, _R32),
    ParamSpec("WPNAV_RADIUS", 200, _R32),
    ParamSpec("PILOT_SPEED_UP", 250, _I16),
    ParamSpec("PILOT_SPEED_DN", 0, _I16),
    ParamSpec("LAND_SPEED", 50, _I16),
    ParamSpec("LAND_SPEED_HIGH", 0, _I16),
    ParamSpec("LAND_ALT_LOW", 1000, _I16),
    ParamSpec("RTL_ALT", 1500, _I32),
    ParamSpec("RTL_ALT_FINAL", 0, _I16),
    ParamSpec("RTL_CLIMB_MIN", 0, _I16),
    ParamSpec("RTL_CONE_SLOPE", 3.0, _R32),
    ParamSpec("RTL_SPEED", 0, _I16),
    ParamSpec("RTL_LOIT_TIME", 5000, _I32),
    ParamSpec("BATT_MONITOR", 4, _I8),
    ParamSpec("BATT_CAPACITY", 3300, _I32),
    ParamSpec("BATT_LOW_VOLT", 10.5, _R32),
    ParamSpec("BATT_LOW_MAH", 0, _I32),
    ParamSpec("BATT_LOW_TIMER", 10, _I8),
    ParamSpec("BATT_CRT_VOLT", 0, _R32),
    ParamSpec("BATT_CRT_MAH", 0, _I32),
    ParamSpec("BATT_FS_LOW_ACT", 0, _I8),
    ParamSpec("BATT_FS_CRT_ACT", 0, _I8),
    ParamSpec("FENCE_ENABLE", 0, _I8),
    ParamSpec("FENCE_TYPE", 7, _I8),
    ParamSpec("FENCE_ACTION", 1, _I8),
    ParamSpec("FENCE_ALT_MAX", 100, _R32),
    ParamSpec("FENCE_RADIUS", 300, _R32),
    ParamSpec("FENCE_MARGIN", 2, _R32),
    ParamSpec("FS_GCS_ENABLE", 0, _I8),
    ParamSpec("FS_GCS_TIMEOUT", 5, _R32),
    ParamSpec("FS_EKF_ACTION", 1, _I8),
    ParamSpec("RALLY_INCL_HOME", 1, _I8),
    ParamSpec("RALLY_LIMIT_KM", 0.3, _R32),
    ParamSpec("MIS_RESTART", 0, _I8),
    ParamSpec("CAM1_TYPE", 1, _I8),
    ParamSpec("SIM_SPEEDUP", 1, _R32),
)


class ParamStore:
    """Named, typed parameter values in a fixed order (the PARAM_VALUE index).

    Integer parameters hold rounded, range-clipped values, as AP_Param casts a PARAM_SET float.
    """

    def __init__(self, specs: tuple[ParamSpec, ...] = DEFAULT_PARAMS,
                 overrides: Mapping[str, float] | None = None) -> None:
        self._specs = specs
        self._index = {spec.name: i for i, spec in enumerate(specs)}
        self._values = [float(spec.default) for spec in specs]
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return (spec.name for spec in self._specs)

    def __getitem__(self, name: str) -> float:
        return self._values[self._lookup(name)]

    def _lookup(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    def index_of(self, name: str) -> int:
        """Position of ``name`` in the table.

        Raises
        ------
        KeyError
            If there is no such parameter.
        """
        return self._lookup(name)

    def name_at(self, index: int) -> str:
        """Name of the parameter at ``index`` (IndexError when out of range)."""
        if not 0 <= index < len(self._specs):
            raise IndexError(f"parameter index {index} out of range 0..{len(self._specs) - 1}")
        return self._specs[index].name

    def param_type(self, name: str) -> int:
        """MAV_PARAM_TYPE of ``name``."""
        return self._specs[self._lookup(name)].param_type

    def set(self, name: str, value: float) -> float:
        """Store ``value`` (cast to the parameter's type) and return what was stored.

        Raises
        ------
        KeyError
            If there is no such parameter.
        ValueError
            If ``value`` is NaN or infinite (AP_Param ignores such a PARAM_SET).
        """
        i = self._lookup(name)
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"parameter {name} cannot be set to {value}")
        ptype = self._specs[i].param_type
        if ptype in _INT_LIMITS:
            low, high = _INT_LIMITS[ptype]
            value = float(min(max(round(value), low), high))
        self._values[i] = value
        return value

    def as_dict(self) -> dict[str, float]:
        """A copy of all values by name."""
        return {spec.name: v for spec, v in zip(self._specs, self._values, strict=True)}
