"""The built-in vehicle: a TCP MAVLink endpoint in front of a simulated ArduCopter.

One thread runs both the network and a fixed-step simulation (50 Hz of simulated time) paced at
``speedup`` × real time; every deadline of the simulated copter (warm-up, failsafe timers, stream
rates) is in simulated time; the timers that time the ground station — the mission protocol's
re-request and abandon, the auto-disarm of a copter armed on the ground — run on the link clock
(real seconds, :meth:`BuiltinCopter.link_time`).
Test hooks are plain methods, safe to call from any thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import mission_store as ms
from . import telemetry
from .auto import MissionState
from .camera import CameraShot
from .copter import Copter, TrackPoint
from .dispatch import Dispatcher
from .failsafes import Fault
from .geo import LocalFrame
from .mission_items import WireItem, home_item
from .params import ParamStore
from .protocol import CopterMode, mavlink
from .server import Link, TcpServer
from .signing import VehicleSigning
from .streams import StreamSchedule
from .terrain import Terrain, terrain_height_m

SIM_RATE_HZ = 50.0
_MAX_CATCH_UP_STEPS = 200
_MAX_WAIT_S = 0.005
_INBOUND_LOG_SIZE = 100_000
SWAP_BELOW_PCT = 99.0
""":meth:`BuiltinCopter.swap_battery` leaves a battery at or above this charge in place."""


def _msg_name(msg_id: int) -> str:
    cls = mavlink.mavlink_map.get(msg_id)
    return cls.msgname if cls is not None else f"MESSAGE {msg_id}"


@dataclass(frozen=True)
class StatusText:
    """A STATUSTEXT the vehicle sent."""

    time_s: float
    severity: int
    text: str


@dataclass(frozen=True)
class InboundMessage:
    """Who sent what to whom: one message the vehicle received (targets -1 when the message
    has no such field)."""

    time_s: float
    msg_type: str
    src_system: int
    src_component: int
    target_system: int
    target_component: int


@dataclass(frozen=True)
class VehicleState:
    """A snapshot of the vehicle (simulated time, degrees, metres above home; ``alt_amsl_m`` and
    ``ground_alt_m``, the ground under the vehicle, above mean sea level)."""

    time_s: float
    mode: CopterMode
    armed: bool
    landed: bool
    ready: bool
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    ground_speed_m_s: float
    battery_remaining_pct: float
    battery_voltage_v: float
    mission_state: MissionState
    mission_seq: int
    failsafe_battery: bool
    failsafe_gcs: bool
    fence_breached: bool
    home_lat_deg: float
    home_lon_deg: float
    alt_amsl_m: float
    ground_alt_m: float


class _Events:
    """Broadcasts what the copter reports to every connected ground station."""

    def __init__(self, vehicle: BuiltinCopter) -> None:
        self._v = vehicle

    def text(self, severity: int, text: str) -> None:
        self._v._texts.append(StatusText(self._v.copter.time_s, severity, text))
        self._v.broadcast(telemetry.statustext(severity, text))

    def item_reached(self, seq: int) -> None:
        self._v.broadcast(mavlink.MAVLink_mission_item_reached_message(seq))

    def mission_current(self) -> None:
        self._v.broadcast(telemetry.mission_current(self._v.copter))

    def camera_shot(self, shot: CameraShot) -> None:
        self._v._shots.append(shot)
        self._v.broadcast(telemetry.camera_feedback(shot, self._v.sysid))

    def home_changed(self) -> None:
        # like AP_Mission::write_home_to_storage: an empty mission gets home as seq 0
        mission = self._v.protocols.get(mavlink.MAV_MISSION_TYPE_MISSION)
        if mission is not None and not mission.items:
            mission.replace_items((self._v._home_item(),))
        self._v.broadcast(telemetry.home_position(self._v.copter))


def home_terrain_alt_m(terrain: Terrain | None, lat_deg: float, lon_deg: float) -> float:
    """Home altitude when none is given: the terrain's height at home (0 without terrain).

    Raises
    ------
    ValueError
        The terrain has no height at home.
    """
    if terrain is None:
        return 0.0
    height = terrain_height_m(terrain, lat_deg, lon_deg)
    if not math.isfinite(height):
        raise ValueError(f"the terrain has no height at home {lat_deg}, {lon_deg}: "
                         "give the home altitude")
    return height


class BuiltinCopter:
    """A simulated ArduCopter 4.x served over MAVLink 2 on TCP.

    Parameters
    ----------
    home_lat_deg, home_lon_deg
        Home (and take-off point), degrees.
    home_alt_m
        Ground altitude above mean sea level, metres, at home and, without ``terrain``,
        everywhere (default 0). With ``terrain`` it is the ground only where the terrain has no
        height (default: the terrain's height at home); the vehicle starts on the terrain and
        home, set where the vehicle is when the EKF has its origin, is there.
    port
        TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
    host
        Address to bind; loopback by default.
    speedup
        Simulated seconds per real second (ArduPilot SITL ``--speedup``).
    sysid
        MAVLink system id of the vehicle.
    warmup_s
        Simulated seconds until GPS and EKF are ready to arm.
    mission_request_int
        Request uploaded items with MISSION_REQUEST_INT (True) or MISSION_REQUEST (False, what
        Copter 4.7 sends).
    params
        Parameter values that differ from the defaults (e.g. ``{"BATT_FS_LOW_ACT": 2}``).
    terrain
        Ground to fly over, e.g. a :class:`mapping.dem.Dem` (anything with
        ``height_at(lon, lat)``, NaN where it has no height); None: flat ground at home. The
        ground under the vehicle then follows it (take-off, landing, the ground clamp; flying
        into it is stopped there and reported as a "Crash: hit terrain" STATUSTEXT),
        MAV_FRAME_GLOBAL_TERRAIN_ALT items fly above it, and TERRAIN_REPORT can be streamed.

    Raises
    ------
    ValueError
        For an out-of-range home, a non-positive speedup, an unknown parameter name, or a
        terrain without a height at home and no ``home_alt_m``.

    Examples
    --------
    >>> with BuiltinCopter(35.0, 139.0, speedup=20) as vehicle:
    ...     vehicle.port > 0
    True
    """

    def __init__(self, home_lat_deg: float, home_lon_deg: float,
                 home_alt_m: float | None = None, *, port: int = 0, host: str = "127.0.0.1",
                 speedup: float = 1.0, sysid: int = 1, warmup_s: float = 2.0,
                 mission_request_int: bool = True, params: Mapping[str, float] | None = None,
                 terrain: Terrain | None = None) -> None:
        if not (-90 <= home_lat_deg <= 90 and -180 <= home_lon_deg <= 180):
            raise ValueError(f"home {home_lat_deg}, {home_lon_deg} is not a valid lat/lon")
        if home_alt_m is None:
            home_alt_m = home_terrain_alt_m(terrain, home_lat_deg, home_lon_deg)
        if not 1 <= sysid <= 255:
            raise ValueError(f"sysid must be 1..255, got {sysid}")
        overrides = {"SYSID_THISMAV": sysid, "SIM_SPEEDUP": speedup, **(params or {})}
        try:
            self.params = ParamStore(overrides=overrides)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        speedup = self.params["SIM_SPEEDUP"]
        if not speedup > 0 or not math.isfinite(speedup):
            raise ValueError(f"speedup must be a positive number, got {speedup}")
        self.sysid = sysid
        self._host, self._port_wanted = host, port
        self._speedup = speedup
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._server: TcpServer | None = None
        self._texts: list[StatusText] = []
        self._shots: list[CameraShot] = []
        self._inbound: deque[InboundMessage] = deque(maxlen=_INBOUND_LOG_SIZE)
        frame = LocalFrame(home_lat_deg, home_lon_deg)
        self.copter = Copter(frame, home_alt_m, self.params, _Events(self), warmup_s=warmup_s,
                             link_clock=self.link_time, terrain=terrain)
        notify = self._events_text
        mission = ms.ItemProtocol(ms.MISSION_RULES, notify=notify,
                                  on_commit=self.copter.on_mission, home_item=self._home_item,
                                  can_clear=lambda: not self.copter.auto.running,
                                  request_int=mission_request_int)
        self.protocols: dict[int, ms.ItemProtocol] = {
            mavlink.MAV_MISSION_TYPE_MISSION: mission,
            mavlink.MAV_MISSION_TYPE_FENCE: ms.ItemProtocol(
                ms.FENCE_RULES, notify=notify, on_commit=self.copter.on_fence,
                request_int=mission_request_int),
            mavlink.MAV_MISSION_TYPE_RALLY: ms.ItemProtocol(
                ms.RALLY_RULES, notify=notify, on_commit=self.copter.on_rally,
                request_int=mission_request_int),
        }
        self.signing = VehicleSigning()
        self._dispatcher = Dispatcher(self)
        self._sim_base = 0.0
        self._real_base = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> BuiltinCopter:
        """Bind the port and start the simulation thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("vehicle already started")
        self._server = TcpServer(self._host, self._port_wanted, self.sysid,
                                 on_accept=self.signing.attach)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="builtin-copter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the simulation and close every connection (idempotent).

        Raises
        ------
        RuntimeError
            If the simulation thread had failed (the original exception is its cause).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._server is not None:
            self._server.close()
            self._server = None
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"built-in vehicle simulation failed: {error!r}") from error

    def __enter__(self) -> BuiltinCopter:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port ground stations connect to.

        Raises
        ------
        RuntimeError
            Before :meth:`start`.
        """
        if self._server is None:
            raise RuntimeError("vehicle not started")
        return self._server.port

    @property
    def url(self) -> str:
        """A pymavlink connection string for this vehicle, e.g. ``tcp:127.0.0.1:40123``."""
        return f"tcp:{self._host}:{self.port}"

    @property
    def speedup(self) -> float:
        return self._speedup

    # ------------------------------------------------------------------ test hooks
    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since start."""
        with self._lock:
            return self.copter.time_s

    def state(self) -> VehicleState:
        """A consistent snapshot of the vehicle (RuntimeError if the simulation failed)."""
        if self._error is not None:
            self._raise_if_failed()
        with self._lock:
            c = self.copter
            lat, lon = c.frame.to_latlon(c.body.north_m, c.body.east_m)
            return VehicleState(
                c.time_s, c.mode, c.armed, c.landed, c.position_ok, lat, lon, c.alt_rel_m,
                c.body.ground_speed_m_s, c.battery.remaining_fraction * 100.0,
                c.battery.voltage_v, c.auto.state, c.auto.nav_index, bool(c.failsafe_battery),
                c.failsafe_gcs, bool(c.fence_breach_mask), c.home_lat_e7 * 1e-7,
                c.home_lon_e7 * 1e-7, c.body.alt_m, c.ground_alt_m)

    def wait_for(self, predicate: Callable[[VehicleState], bool], timeout_s: float) -> \
            VehicleState:
        """Poll :meth:`state` until ``predicate`` holds; ``timeout_s`` is real time.

        Raises
        ------
        TimeoutError
            If the predicate does not hold in time (the message gives the last state).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            st = self.state()
            if predicate(st):
                return st
            if time.monotonic() > deadline:
                raise TimeoutError(f"vehicle condition not met within {timeout_s} s: {st}")
            time.sleep(0.002)

    def set_battery_remaining_pct(self, pct: float) -> None:
        """Set the charge left (0–100 %); voltage follows.

        On the ground and disarmed this is a battery swap: it also clears a battery failsafe
        (on a real vehicle the swap means a reboot).
        """
        with self._lock:
            self._set_battery_locked(pct)

    def _set_battery_locked(self, pct: float) -> None:
        c = self.copter
        c.battery.set_remaining(pct / 100.0)
        if not c.armed:
            c.battery.consumed_wh = 0.0
            c.failsafe_battery = 0
            c.failsafes.reset_battery()

    def swap_battery(self, *, timeout_s: float = 0.0) -> bool:
        """A battery swap between sorties, as :class:`sitl.launch.SimulatedCopter` defines it:
        once the copter is on the ground and disarmed (waiting up to ``timeout_s`` real seconds
        for that), a battery below :data:`SWAP_BELOW_PCT` is replaced by a full one (failsafe
        cleared).

        Returns
        -------
        bool
            True if it swapped; False if the copter was still flying or armed at the deadline,
            or the battery was already full.
        """
        def grounded(st: VehicleState) -> bool:
            return st.landed and not st.armed

        try:
            self.wait_for(grounded, timeout_s)
        except TimeoutError:
            return False
        with self._lock:  # checked and swapped in one step: nobody arms in between
            c = self.copter
            if c.armed or not c.landed or c.battery.remaining_fraction * 100.0 >= SWAP_BELOW_PCT:
                return False
            self._set_battery_locked(100.0)
        return True

    def inject_fault(self, fault: Fault | str) -> None:
        """Start a :class:`Fault` (or its value, e.g. ``"gps_loss"``)."""
        fault = Fault(fault)
        with self._lock:
            self.copter.faults.add(fault)

    def clear_fault(self, fault: Fault | str) -> None:
        """End a fault started with :meth:`inject_fault`."""
        fault = Fault(fault)
        with self._lock:
            self.copter.faults.discard(fault)

    def track(self) -> list[TrackPoint]:
        """The flown track: a point every 0.1 s of simulated time while armed."""
        with self._lock:
            return list(self.copter.track)

    def camera_shots(self) -> list[CameraShot]:
        """Every picture taken (each also sent as CAMERA_FEEDBACK)."""
        with self._lock:
            return list(self._shots)

    def status_texts(self) -> list[StatusText]:
        """Every STATUSTEXT sent."""
        with self._lock:
            return list(self._texts)

    def received_messages(self) -> list[InboundMessage]:
        """The last 100 000 messages received from ground stations, oldest first (to check, for
        example, that a client addresses the vehicle's real system and component ids)."""
        with self._lock:
            return list(self._inbound)

    def signing_key(self) -> bytes | None:
        """The MAVLink 2 signing key SETUP_SIGNING gave the vehicle (None: signing off)."""
        with self._lock:
            return self.signing.key

    def refused_messages(self) -> dict[str, int]:
        """Messages dropped since start for lack of a valid signature, by type."""
        with self._lock:
            counts = dict(self._server.refused) if self._server is not None else {}
        return {_msg_name(msg_id): n for msg_id, n in counts.items()}

    def stored_items(self, mission_type: int = mavlink.MAV_MISSION_TYPE_MISSION) -> \
            tuple[WireItem, ...]:
        """Items stored for a mission type, in download form (MISSION: seq 0 is home)."""
        with self._lock:
            items = self.protocols[mission_type].items
            if mission_type == mavlink.MAV_MISSION_TYPE_MISSION and items:
                items = (self._home_item(), *items[1:])
            return items

    def get_param(self, name: str) -> float:
        """Current value of a parameter (KeyError if unknown)."""
        with self._lock:
            return self.params[name]

    def set_param(self, name: str, value: float) -> float:
        """Set a parameter directly (no PARAM_VALUE is sent); returns the stored value."""
        with self._lock:
            stored = self.params.set(name, value)
            self.param_changed(name)
            return stored

    # ------------------------------------------------------------------ for dispatch/commands
    def broadcast(self, msg: Any) -> None:
        """Send ``msg`` to every connected ground station."""
        if self._server is None or Fault.TELEMETRY_LOSS in self.copter.faults:
            return
        for link in self._server.links:
            link.send(msg)

    def send_to(self, link: Link, msg: Any) -> None:
        link.send(msg)

    def links(self) -> list[Link]:
        """The connected ground stations."""
        return list(self._server.links) if self._server is not None else []

    def text_to(self, link: Link, severity: int, text: str) -> None:
        """A STATUSTEXT to one ground station (recorded with the others)."""
        self._texts.append(StatusText(self.copter.time_s, severity, text))
        link.send(telemetry.statustext(severity, text))

    def streams_of(self, link: Link) -> StreamSchedule:
        return link.streams

    def queue_message(self, link: Link, msg_id: int) -> None:
        link.queued.append(msg_id)

    def flush_queued(self, link: Link) -> None:
        while link.queued:
            link.send(telemetry.BUILDERS[link.queued.pop(0)](self.copter))

    def param_changed(self, name: str) -> None:
        if name == "SIM_SPEEDUP":
            self._set_speedup(self.params[name])

    def _events_text(self, severity: int, text: str) -> None:
        self.copter.events.text(severity, text)

    def _home_item(self) -> WireItem:
        c = self.copter
        return home_item(c.home_lat_e7, c.home_lon_e7, c.home_alt_m)

    # ------------------------------------------------------------------ simulation thread
    def _set_speedup(self, speedup: float) -> None:
        if speedup > 0:
            self._speedup = speedup
            self._rebase()

    @staticmethod
    def link_time() -> float:
        """The clock of what the ground station must answer in time: real seconds. A ground
        station runs in real time whatever the speed-up, so its deadlines do too."""
        return time.monotonic()

    def _rebase(self) -> None:
        self._sim_base = self.copter.time_s
        self._real_base = time.monotonic()

    def _sim_target(self) -> float:
        return self._sim_base + (time.monotonic() - self._real_base) * self._speedup

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by stop() and state()
            self._error = exc

    def _loop(self) -> None:
        server = self._server
        assert server is not None
        dt = 1.0 / SIM_RATE_HZ
        with self._lock:
            self._rebase()
        while not self._stop.is_set():
            with self._lock:
                behind = self._sim_target() - self.copter.time_s
                wait = 0.0 if behind >= dt else min((dt - behind) / self._speedup, _MAX_WAIT_S)
            new, received = server.poll(wait)
            with self._lock:
                for link in new:
                    link.send(telemetry.heartbeat(self.copter))
                muted = Fault.TELEMETRY_LOSS in self.copter.faults
                for link, msgs in received:
                    for msg in [] if muted else msgs:
                        self._log_inbound(msg)
                        self._dispatcher.handle(link, msg)
                steps = 0
                while self.copter.time_s + dt <= self._sim_target() + 1e-9:
                    self._step(dt, server)
                    steps += 1
                    if steps >= _MAX_CATCH_UP_STEPS:  # running slower than asked: fall back
                        self._rebase()
                        break
                if Fault.TELEMETRY_LOSS in self.copter.faults:
                    for link in server.links:
                        link.out.clear()
            for link in server.links:
                link.flush()

    def _log_inbound(self, msg: Any) -> None:
        self._inbound.append(InboundMessage(
            self.copter.time_s, msg.get_type(), msg.get_srcSystem(), msg.get_srcComponent(),
            getattr(msg, "target_system", -1), getattr(msg, "target_component", -1)))

    def _step(self, dt: float, server: TcpServer) -> None:
        self.copter.step(dt)
        now = self.copter.time_s
        link_now = self.link_time()
        for proto in self.protocols.values():
            proto.update(link_now)
        built: dict[int, Any] = {}
        for link in server.links:
            for msg_id in link.streams.due(now):
                if msg_id not in built:
                    built[msg_id] = telemetry.BUILDERS[msg_id](self.copter)
                link.send(built[msg_id])
