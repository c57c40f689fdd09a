"""Start a simulated copter: the built-in one or ArduPilot SITL, behind one function."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from survey.core.errors import ParamError, SimulatorError

if TYPE_CHECKING:
    from sitl.builtin.terrain import Terrain

# The planner's default drone flies 25 minutes; at the built-in copter's ~19 A in cruise that
# takes an 8,000 mAh pack (its low-voltage warning then comes at about 21 minutes).
BUILTIN_BATTERY_MAH = 8000


@runtime_checkable
class SimulatedCopter(Protocol):
    """What :func:`start_vehicle` returns, whichever simulator runs it
    (:class:`sitl.builtin.BuiltinCopter`, :class:`sitl.ardupilot.ArduPilotSitl`)."""

    @property
    def url(self) -> str:
        """Where a ground station connects (``tcp:127.0.0.1:PORT``)."""
        ...

    def swap_battery(self, *, timeout_s: float = 0.0) -> bool:
        """A battery swap between sorties: once the copter is on the ground and disarmed
        (waiting up to ``timeout_s`` real seconds for that), a battery below 99 % is replaced
        by a full one and a battery failsafe cleared. Returns whether it swapped."""
        ...

    def stop(self) -> None:
        """End the simulation (idempotent)."""
        ...


class VehicleKind(StrEnum):
    """Which simulator to run."""

    BUILTIN = "builtin"
    ARDUPILOT = "ardupilot"


def start_vehicle(kind: VehicleKind, lat: float, lon: float, alt: float | None, speedup: float,
                  port: int = 5760, *, terrain: Terrain | None = None
                  ) -> tuple[SimulatedCopter, str]:
    """Start a simulated copter at (lat, lon, alt); return it (``.stop()`` ends it) and its URL.

    ``terrain`` (e.g. a :class:`mapping.dem.Dem`): the ground the built-in vehicle flies over
    (flat at ``alt`` without); ``alt`` is then the ground where the terrain has no height. ``alt``
    None: the terrain's height at home, or 0 without terrain.

    Raises
    ------
    SimulatorError
        It could not start or did not become ready (ArduPilot: binary missing, port busy).
    InputError
        An ArduPilot port that is not 5760 + 10 × instance; terrain for ArduPilot SITL; a
        terrain without a height at home and no ``alt``.
    """
    if kind is VehicleKind.BUILTIN:
        from sitl.builtin import BuiltinCopter
        from sitl.builtin.vehicle import home_terrain_alt_m
        if alt is None:
            try:
                alt = home_terrain_alt_m(terrain, lat, lon)
            except ValueError:
                raise ParamError("terrain", f"no height at home {lat:.7f},{lon:.7f}: "
                                            "give `alt`") from None
        try:
            sim = BuiltinCopter(lat, lon, alt, port=port, speedup=speedup,
                                params={"BATT_CAPACITY": BUILTIN_BATTERY_MAH},
                                terrain=terrain).start()
        except (OSError, ValueError) as e:
            raise SimulatorError(f"cannot start the built-in vehicle on port {port}: {e}") \
                from None
        return sim, sim.url
    from sitl.ardupilot import ArduPilotSitl, SitlError
    if terrain is not None:
        raise ParamError("terrain", "only the built-in vehicle flies over a DEM "
                                    "(ArduPilot SITL has its own terrain)")
    if (port - 5760) % 10 or port < 5760:
        raise ParamError("port", "ArduPilot SITL uses 5760 + 10 × instance")
    alt = 0.0 if alt is None else alt
    try:
        sitl = ArduPilotSitl((lat, lon, alt, 0.0), speedup=speedup,
                             instance=(port - 5760) // 10).start()
    except (SitlError, ValueError) as e:
        raise SimulatorError(str(e)) from None
    try:
        sitl.wait_ready()
    except BaseException as e:
        sitl.stop()
        if isinstance(e, SitlError):
            raise SimulatorError(str(e)) from None
        raise
    return sitl, sitl.url
