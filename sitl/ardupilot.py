"""Launch ArduPilot's ArduCopter SITL binary and wait until it is ready to arm.

Start-up as ArduPilot's autotest does it (``Tools/autotest/pysim/util.py: start_SITL``)::

    arducopter --model quad --home LAT,LON,ALT,YAW --speedup N -I INSTANCE --wipe
               --defaults FILE

run in a working folder of its own (SITL writes ``eeprom.bin`` and logs to its current
directory). Facts this module is built on (Copter 4.7):

- TCP 5760 + 10 × instance is SERIAL0; start-up blocks until a client connects there and it
  takes one client, so the launcher connects there itself and keeps that connection as its
  monitor. Ground stations use :attr:`ArduPilotSitl.url`, TCP 5762 + 10 × instance (SERIAL1,
  MAVLink 2; 5763 is SERIAL2 for a second one).
- The first bytes on 5760 are console text, not MAVLink: the parser skips them.
- ``--home`` takes full-precision degrees (never ``:g``-formatted); ``--wipe`` forgets the last
  run's parameters and mission; ``--speedup`` really runs N× faster.
- Copter streams nothing until asked; ready to arm comes after ~42 s of simulated time (GPS and
  EKF): :meth:`ArduPilotSitl.wait_ready` waits for EKF_STATUS_REPORT flags and the SYS_STATUS
  pre-arm bit, never a fixed sleep.

This module speaks plain pymavlink: ``sitl`` must not import ``missions`` or ``survey``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

ENV_BINARY = "ARDUPILOT_SITL"
BINARY_NAME = "arducopter"
BASE_PORT = 5760
GCS_PORT_OFFSET = 2  # SERIAL1

DEFAULT_PARAMS: Mapping[str, float] = {
    "FRAME_CLASS": 1,  # quad
    "FRAME_TYPE": 1,  # X
    # As ArduPilot's autotest (Tools/autotest/default_params/copter.parm): a calibrated
    # accelerometer (else "PreArm: 3D Accel calibration needed") and a battery monitor (else
    # no battery level at all).
    "INS_ACCOFFS_X": 0.001,
    "INS_ACCOFFS_Y": 0.001,
    "INS_ACCOFFS_Z": 0.001,
    "INS_ACC2OFFS_X": 0.001,
    "INS_ACC2OFFS_Y": 0.001,
    "INS_ACC2OFFS_Z": 0.001,
    "BATT_MONITOR": 4,
    "CAM1_TYPE": 1,  # servo camera: distance triggering yields CAMERA_FEEDBACK
    # AP_Camera::convert_params() (4.4+) rewrites CAM1_TYPE from the old CAM_TRIGG_TYPE at
    # boot unless CAM1_TYPE *and*, where RunCam support is built in (SITL), CAM2_TYPE are
    # configured: without this line CAM1_TYPE comes back 0 and no photo is ever taken.
    "CAM2_TYPE": 0,
    "FS_GCS_ENABLE": 0,
    "BATT_FS_LOW_ACT": 0,
}
"""Written to the launcher's own defaults file; ``params`` add to or override these."""

SWAP_BELOW_PCT = 99.0
""":meth:`ArduPilotSitl.swap_battery` leaves a battery at or above this charge in place."""

_READY_FLAGS = (mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_HORIZ | mavlink.EKF_POS_HORIZ_ABS
                | mavlink.EKF_PRED_POS_HORIZ_ABS)


class SitlError(RuntimeError):
    """The SITL binary is missing, exited, or did not become ready in time."""


def find_binary(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ``arducopter`` SITL binary: ``explicit``, else ``$ARDUPILOT_SITL``, else on PATH.

    Raises
    ------
    SitlError
        Not found or not executable.
    """
    candidate = explicit or os.environ.get(ENV_BINARY) or shutil.which(BINARY_NAME)
    if not candidate:
        raise SitlError(f"ArduPilot SITL not found: set {ENV_BINARY} to the arducopter binary "
                        f"(build/sitl/bin/arducopter) or put {BINARY_NAME} on PATH")
    path = Path(candidate)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SitlError(f"{path}: not an executable ArduPilot SITL binary")
    return path


def home_arg(lat_deg: float, lon_deg: float, alt_m: float, yaw_deg: float) -> str:
    """``--home`` value with full precision (``repr`` of each float, never ``:g``).

    >>> home_arg(36.0712345678, 139.9812345678, 20.0, 0.0)
    '36.0712345678,139.9812345678,20.0,0.0'
    """
    return ",".join(repr(float(v)) for v in (lat_deg, lon_deg, alt_m, yaw_deg))


def write_defaults(path: Path, params: Mapping[str, float]) -> None:
    """A parameter file as ``--defaults`` reads it: ``NAME VALUE`` per line."""
    path.write_text("".join(f"{name} {float(value)!r}\n" for name, value in params.items()),
                    encoding="ascii")


class ArduPilotSitl:
    """One ArduCopter SITL process.

    Parameters
    ----------
    home
        ``(lat_deg, lon_deg, alt_amsl_m, yaw_deg)``.
    speedup
        Simulation speed-up.
    instance
        ``-I`` instance: ports are 5760 + 10 × instance and up.
    params
        Parameters for the defaults file (on top of :data:`DEFAULT_PARAMS`).
    binary
        The binary (default: :func:`find_binary`).
    workdir
        Working folder (default: a fresh temporary one, removed by :meth:`stop`).
    model
        SITL ``--model``.
    """

    def __init__(self, home: tuple[float, float, float, float], *, speedup: float = 1.0,
                 instance: int = 0, params: Mapping[str, float] | None = None,
                 binary: str | os.PathLike[str] | None = None,
                 workdir: str | os.PathLike[str] | None = None, model: str = "quad") -> None:
        if not speedup > 0:
            raise ValueError(f"speedup must be positive, got {speedup}")
        if not 0 <= instance < 100:
            raise ValueError(f"instance must be 0..99, got {instance}")
        self.home = home
        self.speedup = speedup
        self.instance = instance
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.binary = find_binary(binary)
        self.model = model
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="arducopter-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.monitor: Any = None
        self._seen: dict[str, Any] = {}  # the vehicle's state as the monitor last saw it
        self._swap_streams = False

    # ------------------------------------------------------------------ ports
    @property
    def console_port(self) -> int:
        """SERIAL0 (the launcher's monitor connection)."""
        return BASE_PORT + 10 * self.instance

    @property
    def port(self) -> int:
        """The TCP port for a ground station (SERIAL1)."""
        return self.console_port + GCS_PORT_OFFSET

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def command_line(self) -> list[str]:
        """The command that starts the binary."""
        return [str(self.binary), "--model", self.model, "--home", home_arg(*self.home),
                "--speedup", repr(float(self.speedup)), "-I", str(self.instance), "--wipe",
                "--defaults", str(self.workdir / "defaults.parm")]

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, connect_timeout_s: float = 20.0) -> ArduPilotSitl:
        """Start the process and connect the monitor to SERIAL0 (which lets it boot).

        Raises
        ------
        SitlError
            The process exited or SERIAL0 did not open in time.
        """
        if self.process is not None:
            raise SitlError("SITL already started")
        write_defaults(self.workdir / "defaults.parm", self.params)
        log = open(self.workdir / "sitl.log", "wb")
        self.process = subprocess.Popen(self.command_line(), cwd=self.workdir, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + connect_timeout_s
        while True:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.console_port), timeout=0.5):
                    pass
                break
            except OSError:
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise SitlError(f"SITL did not open TCP {self.console_port} within "
                                    f"{connect_timeout_s:g} s; its output ends: {tail}") from None
                time.sleep(0.1)  # polling a port that is not open yet; bounded by the deadline
        self.monitor = _open(f"tcp:127.0.0.1:{self.console_port}")
        self._seen, self._swap_streams = {}, False
        return self

    def log_tail(self, chars: int = 300) -> str:
        """The end of the process's output, on one line."""
        try:
            text = (self.workdir / "sitl.log").read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return "(no output)"
        return " ".join(text.split()) or "(no output)"

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            tail = self.log_tail()
            self.process = None
            self.stop()
            raise SitlError(f"SITL exited with code {code}; its output ends: {tail}")

    def wait_ready(self, *, timeout_s: float = 120.0) -> None:
        """Block until EKF_STATUS_REPORT shows a usable position and SYS_STATUS's pre-arm bit
        is set (``timeout_s`` real seconds).

        Raises
        ------
        SitlError
            Not ready in time, or the process exited.
        """
        m = self._monitor()
        target = self._wait_heartbeat(timeout_s)
        for msg_id in (mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT, mavlink.MAVLINK_MSG_ID_SYS_STATUS):
            m.mav.command_long_send(target, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msg_id,
                                    200_000, 0, 0, 0, 0, 0)
        ekf_ok = prearm_ok = False
        deadline = time.monotonic() + timeout_s
        while not (ekf_ok and prearm_ok):
            self._check_alive()
            if time.monotonic() > deadline:
                raise SitlError(f"SITL not ready to arm within {timeout_s:g} s (EKF "
                                f"{'ok' if ekf_ok else 'not ready'}, pre-arm "
                                f"{'ok' if prearm_ok else 'failing'})")
            msg = m.recv_match(type=["EKF_STATUS_REPORT", "SYS_STATUS"], blocking=True,
                               timeout=0.2)
            if msg is None:
                continue
            if msg.get_type() == "EKF_STATUS_REPORT":
                ekf_ok = (msg.flags & _READY_FLAGS) == _READY_FLAGS and not (
                    msg.flags & mavlink.EKF_UNINITIALIZED)
            else:
                prearm_ok = bool(msg.onboard_control_sensors_health
                                 & mavlink.MAV_SYS_STATUS_PREARM_CHECK)
        for msg_id in (mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT, mavlink.MAVLINK_MSG_ID_SYS_STATUS):
            m.mav.command_long_send(target, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msg_id,
                                    -1, 0, 0, 0, 0, 0)

    def swap_battery(self, *, timeout_s: float = 0.0) -> bool:
        """A battery swap between sorties, as :class:`sitl.launch.SimulatedCopter` defines it:
        once the copter is on the ground and disarmed (waiting up to ``timeout_s`` real seconds
        for that), a battery below :data:`SWAP_BELOW_PCT` is reset to full with
        MAV_CMD_BATTERY_RESET (which also clears a battery failsafe).

        The state comes from the monitor connection (HEARTBEAT, and SYS_STATUS and
        EXTENDED_SYS_STATE, which the first call asks for); not thread-safe.

        Returns
        -------
        bool
            True if it swapped; False if the copter was flying or armed at the deadline, the
            battery was already full, or (first call, ``timeout_s`` 0) nothing is known yet.

        Raises
        ------
        SitlError
            The process exited, or the reset was refused or not acknowledged.
        """
        m = self._monitor()
        deadline = time.monotonic() + timeout_s
        if not self._swap_streams:
            target = self._target(max(timeout_s, 5.0))
            for msg_id in (mavlink.MAVLINK_MSG_ID_SYS_STATUS,
                           mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE):
                m.mav.command_long_send(target, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0,
                                        msg_id, 1_000_000, 0, 0, 0, 0, 0)
            self._swap_streams = True
        while True:
            self._check_alive()
            while (msg := m.recv_match(blocking=False)) is not None:  # up to the newest
                self._note(msg)
            st = self._seen
            if st.get("armed") is False and st.get("landed") == mavlink.MAV_LANDED_STATE_ON_GROUND \
                    and st.get("battery_pct") is not None:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            msg = m.recv_match(blocking=True, timeout=min(remaining, 0.2))
            if msg is not None:
                self._note(msg)
        if self._seen["battery_pct"] >= SWAP_BELOW_PCT:
            return False
        self._reset_battery(100.0)
        return True

    def set_battery_full(self, pct: float = 100.0) -> None:
        """Set every battery's charge to ``pct`` percent now (MAV_CMD_BATTERY_RESET), flying or
        not; :meth:`swap_battery` is the between-sorties swap.

        Raises
        ------
        SitlError
            Refused or not acknowledged.
        """
        self._reset_battery(pct)

    def _reset_battery(self, pct: float, timeout_s: float = 5.0) -> None:
        m = self._monitor()
        m.mav.command_long_send(self._target(timeout_s), 1, mavlink.MAV_CMD_BATTERY_RESET, 0,
                                0xFFFF, pct, 0, 0, 0, 0, 0)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            msg = m.recv_match(blocking=True, timeout=0.2)
            if msg is None:
                continue
            self._note(msg)
            if msg.get_type() == "COMMAND_ACK" and msg.command == mavlink.MAV_CMD_BATTERY_RESET:
                if msg.result != mavlink.MAV_RESULT_ACCEPTED:
                    raise SitlError(f"SITL refused MAV_CMD_BATTERY_RESET (result {msg.result})")
                self._seen["battery_pct"] = pct  # what follows the ACK is newer than the reset
                return
        raise SitlError(f"SITL did not acknowledge MAV_CMD_BATTERY_RESET within {timeout_s:g} s")

    def _note(self, msg: Any) -> None:
        """Remember what the monitor learns about the vehicle's state."""
        kind = msg.get_type()
        if kind == "HEARTBEAT" and msg.type != mavlink.MAV_TYPE_GCS:
            self._seen["sysid"] = msg.get_srcSystem()
            self._seen["armed"] = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        elif kind == "SYS_STATUS" and msg.battery_remaining >= 0:
            self._seen["battery_pct"] = msg.battery_remaining
        elif kind == "EXTENDED_SYS_STATE":
            self._seen["landed"] = msg.landed_state

    def _target(self, timeout_s: float) -> int:
        sysid = self._seen.get("sysid")
        return int(sysid) if sysid is not None else self._wait_heartbeat(timeout_s)

    def _wait_heartbeat(self, timeout_s: float) -> int:
        m = self._monitor()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            hb = m.recv_match(type="HEARTBEAT", blocking=True, timeout=0.2)
            if hb is not None and hb.type != mavlink.MAV_TYPE_GCS:
                self._note(hb)
                return int(hb.get_srcSystem())
        raise SitlError(f"no heartbeat from SITL within {timeout_s:g} s")

    def _monitor(self) -> Any:
        if self.monitor is None:
            raise SitlError("SITL not started")
        return self.monitor

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout_s``); idempotent."""
        if self.monitor is not None:
            try:
                self.monitor.close()
            except OSError:
                pass
            self.monitor = None
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout_s)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ArduPilotSitl:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _open(url: str) -> Any:
    """A pymavlink connection speaking MAVLink 2 / ardupilotmega whatever mavutil's global
    dialect is."""
    conn = mavutil.mavlink_connection(url, source_system=254, source_component=190)
    conn.mav = mavlink.MAVLink(conn, srcSystem=254, srcComponent=190)
    conn.mav.robust_parsing = True
    conn.first_byte = False
    return conn
