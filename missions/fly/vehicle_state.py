"""What the vehicle is doing now (mode, armed, position, battery, GPS/EKF readiness), via dronekit.

State is read with ``dronekit`` (the maintained fork ``dronekit2``): its ``Vehicle`` decodes
HEARTBEAT, SYS_STATUS, GPS_RAW_INT, EKF_STATUS_REPORT, GLOBAL_POSITION_INT and HOME_POSITION into
attributes. It does not open a connection of its own: ``dronekit.connect`` would open a second
socket (ArduPilot SITL's TCP 5760 takes one client, a serial radio only one user) and start
threads that read it. Instead a small stand-in for dronekit's ``MAVConnection`` hands the
``Vehicle`` every state message the :class:`~missions.fly.link.Link`'s reader receives, and refuses
to send: dronekit never writes on the shared link (its arming and mode setters do not check
acknowledgements; :mod:`missions.fly.commands` does that). What dronekit does not keep (the
SYS_STATUS pre-arm bit, MISSION_CURRENT's sequence) is read here from the same messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dronekit import Vehicle
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.link import Link, Message
from survey.core.errors import LinkTimeout

# Messages handed to dronekit: state only (never mission or parameter traffic, which would make
# dronekit's own mission/parameter listeners answer on the link).
STATE_MESSAGES = frozenset({
    "HEARTBEAT", "SYS_STATUS", "GPS_RAW_INT", "EKF_STATUS_REPORT", "GLOBAL_POSITION_INT",
    "HOME_POSITION", "VFR_HUD", "ATTITUDE", "BATTERY_STATUS",
})  # not STATUSTEXT: dronekit would log it; the flight module reports it


class _NoSend:
    """dronekit's encoder on the shared link: any use is a bug, not a silent write."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"dronekit tried to send ({name}) on the shared link")


class _Master:
    def __init__(self) -> None:
        self.mav = _NoSend()

    @staticmethod
    def probably_vehicle_heartbeat(msg: Message) -> bool:
        return msg.type not in (mavlink.MAV_TYPE_GCS, mavlink.MAV_TYPE_GIMBAL,
                                mavlink.MAV_TYPE_ADSB, mavlink.MAV_TYPE_ONBOARD_CONTROLLER) \
            and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID


class SharedHandler:
    """Stands in for ``dronekit.mavlink.MAVConnection``: messages come from a Link."""

    def __init__(self, target_system: int) -> None:
        self.master = _Master()
        self.target_system = target_system
        self.message_listeners: list[Callable[..., Any]] = []
        self.loop_listeners: list[Callable[..., Any]] = []
        self._alive = True

    def forward_message(self, fn: Callable[..., Any]) -> None:
        self.message_listeners.append(fn)

    def forward_loop(self, fn: Callable[..., Any]) -> None:
        self.loop_listeners.append(fn)  # never run: the Link sends heartbeats and watches them

    def fix_targets(self, message: Any) -> None:
        if hasattr(message, "target_system"):
            message.target_system = self.target_system

    def start(self) -> None:
        pass

    def close(self) -> None:
        self._alive = False

    def feed(self, msg: Message) -> None:
        for fn in self.message_listeners:
            fn(self, msg)


@dataclass(frozen=True)
class VehicleSnapshot:
    """The vehicle at one moment (degrees, metres above home, percent).

    ``None`` means not reported yet.
    """

    mode: str | None
    armed: bool
    system_status: str | None
    lat_deg: float | None
    lon_deg: float | None
    alt_rel_m: float | None
    ground_speed_m_s: float | None
    battery_pct: float | None
    battery_v: float | None
    gps_fix: int | None
    satellites: int | None
    ekf_ok: bool
    prearm_ok: bool
    home: tuple[float, float, float] | None
    mission_seq: int | None

    @property
    def ready_to_arm(self) -> bool:
        """Pre-arm checks pass (SYS_STATUS), 3D GPS fix and a usable EKF position."""
        return self.prearm_ok and (self.gps_fix or 0) >= 3 and self.ekf_ok

    def not_ready_reasons(self) -> list[str]:
        """What keeps :attr:`ready_to_arm` false, in words."""
        out = []
        if not self.prearm_ok:
            out.append("pre-arm checks failing")
        if (self.gps_fix or 0) < 3:
            out.append(f"GPS fix type {self.gps_fix} (need 3D)")
        if not self.ekf_ok:
            out.append("EKF position not ready")
        return out


class VehicleState:
    """Live vehicle state on a shared :class:`~missions.fly.link.Link`.

    Parameters
    ----------
    link
        An open link (its target ids known).

    Examples
    --------
    >>> from sitl.builtin import BuiltinCopter
    >>> from missions.fly.link import connect
    >>> with BuiltinCopter(35.0, 139.0, speedup=20) as sim, connect(sim.url) as link:
    ...     state = VehicleState(link)
    ...     state.wait_until(lambda s: s.mode is not None, 5.0, "mode").mode
    'STABILIZE'
    """

    def __init__(self, link: Link) -> None:
        self.link = link
        self._handler = SharedHandler(link.target_system)
        self.vehicle = Vehicle(self._handler)  # type: ignore[arg-type]
        self._cond = threading.Condition()
        self._prearm_ok = False
        self._mission_seq: int | None = None
        self._remove = link.add_listener(self._on_message)
        if link.heartbeat is not None:
            self._on_message(link.heartbeat)

    def _on_message(self, msg: Message) -> None:
        kind = msg.get_type()
        if kind == "SYS_STATUS":
            self._prearm_ok = bool(msg.onboard_control_sensors_health
                                   & mavlink.MAV_SYS_STATUS_PREARM_CHECK)
        elif kind == "MISSION_CURRENT":
            self._mission_seq = int(msg.seq)
        if kind in STATE_MESSAGES:
            self._handler.feed(msg)
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Stop following the link."""
        self._remove()
        self._handler.close()

    def snapshot(self) -> VehicleSnapshot:
        """The state now."""
        v = self.vehicle
        loc = v.location.global_relative_frame
        battery = v.battery
        home = v.home_location
        where = None
        if home is not None and home.lat is not None and home.lon is not None \
                and home.alt is not None:
            where = (float(home.lat), float(home.lon), float(home.alt))
        status = v.system_status if v._system_status is not None else None
        mode = v.mode.name if v.mode is not None and v._heartbeat_system is not None else None
        return VehicleSnapshot(
            mode=mode, armed=bool(v.armed),
            system_status=None if status is None else status.state,
            lat_deg=loc.lat, lon_deg=loc.lon, alt_rel_m=loc.alt,
            ground_speed_m_s=v.groundspeed,
            battery_pct=None if battery is None or battery.level is None else float(battery.level),
            battery_v=None if battery is None else battery.voltage,
            gps_fix=v.gps_0.fix_type, satellites=v.gps_0.satellites_visible,
            ekf_ok=bool(v.ekf_ok), prearm_ok=self._prearm_ok,
            home=where,
            mission_seq=self._mission_seq,
        )

    def wait_until(self, predicate: Callable[[VehicleSnapshot], bool], timeout_s: float,
                   what: str) -> VehicleSnapshot:
        """Wait until ``predicate(snapshot)`` holds.

        Raises
        ------
        LinkTimeout
            It did not hold within ``timeout_s`` (``what`` names the condition).
        """
        clock = self.link.clock
        deadline = clock() + timeout_s
        with self._cond:
            while True:
                snap = self.snapshot()
                if predicate(snap):
                    return snap
                self.link._raise_if_failed()
                remaining = deadline - clock()
                if remaining <= 0:
                    raise LinkTimeout(what, timeout_s)
                self._cond.wait(min(remaining, 0.1))
