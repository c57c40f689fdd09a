"""A MAVLink 2 connection to one vehicle: transport, heartbeats, waits with deadlines.

:func:`connect` opens ``tcp:HOST:PORT``, ``udp:``/``udpin:HOST:PORT`` (listen),
``udpout:HOST:PORT`` or a serial device such as a SiK/RFD900 telemetry radio on USB
(``/dev/ttyUSB0``, ``/dev/ttyUSB0,57600``, ``serial:/dev/ttyUSB0:57600`` or ``COM3``; the rate
defaults to :data:`DEFAULT_BAUD`), waits for
the vehicle's heartbeat (ground-station heartbeats and non-MAVLink bytes, such as ArduPilot
SITL's console text on TCP 5760, are ignored), learns its system and component ids, optionally
sets up MAVLink 2 signing (:mod:`missions.fly.signing`), and asks for the telemetry it needs
with SET_MESSAGE_INTERVAL.

One reader thread receives everything and hands each message to listeners and to
:class:`Subscription` queues; it also sends a ground-station heartbeat every second. Missions,
modes, arming and flight live in other modules that take a :class:`Link`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import serial
from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly import signing
from missions.fly.signing import send_setup_signing as send_setup_signing  # API kept here
from survey.core.errors import (
    InputError,
    LinkError,
    LinkTimeout,
    ParamError,
    SurveyError,
    VehicleRefused,
)

Clock = Callable[[], float]
Message = Any  # a decoded pymavlink message
Listener = Callable[[Message], None]

GCS_SYSID = 255
GCS_COMPID = mavlink.MAV_COMP_ID_MISSIONPLANNER  # 190, as MAVProxy and QGroundControl
HEARTBEAT_PERIOD_S = 1.0
DEFAULT_BAUD = 57600
"""Serial rate when none is given: the SiK radio firmware's default (3DR, Holybro, RFD900)."""
STANDARD_BAUDS: tuple[int, ...] = tuple(serial.Serial.BAUDRATES)
"""Rates a serial device may be opened at (pyserial's standard list, 50 to 4,000,000)."""
_POLL_S = 0.02
# Replies addressed to one ground station (CAMERA_FEEDBACK's target_system is the vehicle's own).
_ADDRESSED = frozenset({"MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK", "MISSION_COUNT",
                        "MISSION_ITEM_INT", "MISSION_ITEM", "COMMAND_ACK"})

DEFAULT_RATES_HZ: Mapping[int, float] = {
    mavlink.MAVLINK_MSG_ID_SYS_STATUS: 2.0,
    mavlink.MAVLINK_MSG_ID_GPS_RAW_INT: 2.0,
    mavlink.MAVLINK_MSG_ID_EKF_STATUS_REPORT: 2.0,
    mavlink.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 4.0,
    mavlink.MAVLINK_MSG_ID_MISSION_CURRENT: 2.0,
    mavlink.MAVLINK_MSG_ID_BATTERY_STATUS: 1.0,
    mavlink.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
    mavlink.MAVLINK_MSG_ID_VFR_HUD: 2.0,
    mavlink.MAVLINK_MSG_ID_ATTITUDE: 4.0,
}
"""Messages a survey flight needs and their rates (Copter 4.7 streams nothing unless asked)."""


class Subscription:
    """Messages of some types received after the subscription was made, oldest first.

    Make it *before* sending the request whose answer it should catch (the reader thread may
    deliver the answer before the sender gets to wait). Use as a context manager, or
    :meth:`close` it.
    """

    def __init__(self, link: Link, types: Collection[str]) -> None:
        self.types = frozenset(types)
        self._link = link
        self._queue: deque[Message] = deque()

    def _offer(self, msg: Message) -> None:  # called by the reader with the link's lock held
        if msg.get_type() in self.types:
            self._queue.append(msg)

    def get(self, timeout_s: float, predicate: Callable[[Message], bool] | None = None, *,
            what: str | None = None) -> Message:
        """The next queued message meeting ``predicate`` (others are dropped).

        Raises
        ------
        LinkTimeout
            None arrived within ``timeout_s`` (real seconds).
        LinkError
            The connection failed.
        """
        link = self._link
        deadline = link.clock() + timeout_s
        with link._cond:
            while True:
                while self._queue:
                    msg = self._queue.popleft()
                    if predicate is None or predicate(msg):
                        return msg
                link._raise_if_failed()
                remaining = deadline - link.clock()
                if remaining <= 0:
                    raise LinkTimeout(what or "/".join(sorted(self.types)), timeout_s,
                                      link.timeout_hint)
                link._cond.wait(min(remaining, 0.1))

    def poll(self) -> Message | None:
        """The next queued message, or None without waiting."""
        with self._link._cond:
            self._link._raise_if_failed()
            return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """Stop collecting."""
        self._link._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Link:
    """An open MAVLink connection to one vehicle. Made by :func:`connect`.

    Parameters
    ----------
    conn
        An open pymavlink connection.
    url
        What was connected to, for messages.
    clock
        Monotonic seconds; injectable for tests.
    reopen
        Opens the connection again. With it, a transport that fails (a radio pulled from its
        USB socket, a TCP connection reset) is reopened every second until :meth:`close`,
        instead of failing the link: waiters see silence, not an error, and subscriptions go
        on receiving once the vehicle is back. Without it, a failure ends the link.

    Attributes
    ----------
    target_system, target_component
        The vehicle's ids, learnt from its heartbeat (0 until then).
    heartbeat
        The vehicle's last HEARTBEAT (None until one arrived).
    reopened
        How many times the transport was reopened.
    """

    def __init__(self, conn: Any, url: str, *, clock: Clock = time.monotonic,
                 reopen: Callable[[], Any] | None = None) -> None:
        self.conn = conn
        self.reopened = 0
        self._reopen = reopen
        self._down: BaseException | None = None  # the transport failure being recovered from
        self.url = url
        self.clock = clock
        self.mav = conn.mav  # encoder: link.send(link.mav.xxx_encode(...))
        self.target_system = 0
        self.target_component = 0
        self.heartbeat: Message | None = None
        self.timeout_hint = ""
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._listeners: list[Listener] = []
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._last_gcs_heartbeat = -1e9
        self._thread = threading.Thread(target=self._run, name=f"mavlink-{url}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ sending
    def send(self, msg: Message) -> None:
        """Send one message (thread-safe).

        Raises
        ------
        LinkError
            The connection is closed or failed.
        """
        self._raise_if_failed()
        if self._down is not None:
            raise LinkError(f"{self.url}: connection down ({self._down}), reopening")
        try:
            with self._send_lock:
                self.conn.mav.send(msg)
        except OSError as e:
            raise LinkError(f"{self.url}: sending failed: {e}") from None

    # ------------------------------------------------------------------ receiving
    def subscribe(self, types: str | Iterable[str]) -> Subscription:
        """Queue every message of ``types`` that arrives from now on."""
        sub = Subscription(self, {types} if isinstance(types, str) else set(types))
        with self._cond:
            self._subs.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._cond:
            if sub in self._subs:
                self._subs.remove(sub)

    def expect(self, msg_type: str | Iterable[str], timeout_s: float,
               predicate: Callable[[Message], bool] | None = None) -> Message:
        """Wait for the next message of ``msg_type`` (arriving after the call) that meets
        ``predicate``.

        Raises
        ------
        LinkTimeout
            None in ``timeout_s`` seconds.
        """
        with self.subscribe(msg_type) as sub:
            return sub.get(timeout_s, predicate)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(msg)`` on the reader thread for every message from the vehicle;
        returns a function that removes it. An exception in a listener fails the link."""
        with self._cond:
            self._listeners.append(listener)

        def remove() -> None:
            with self._cond:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return remove

    # ------------------------------------------------------------------ lifecycle
    @property
    def alive(self) -> bool:
        """False once the connection failed or was closed."""
        return self._failure is None and not self._stop.is_set()

    def close(self) -> None:
        """Stop the reader thread and close the connection (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        try:
            self.conn.close()
        except OSError:
            pass

    def __enter__(self) -> Link:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def check(self) -> None:
        """Raise :class:`LinkError` if the connection failed or was closed."""
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise LinkError(f"{self.url}: connection lost: {self._failure}") from self._failure
        if self._stop.is_set():
            raise LinkError(f"{self.url}: connection closed")

    # ------------------------------------------------------------------ reader thread
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._maybe_send_heartbeat()
                    msg = self._recv()
                except (OSError, serial.SerialException) as e:
                    if self._reopen is None or self._stop.is_set():
                        raise
                    self._reopen_until_back(e)
                    continue
                if msg is not None:
                    self._deliver(msg)
        except BaseException as e:  # surfaced to every waiter by _raise_if_failed
            if not self._stop.is_set():
                self._failure = e
        finally:
            with self._cond:
                self._cond.notify_all()

    def _reopen_until_back(self, failure: BaseException) -> None:
        """Reopen the transport once a second until it opens or the link is closed."""
        assert self._reopen is not None
        self._down = failure
        try:
            self.conn.close()
        except OSError:
            pass
        while not self._stop.wait(1.0):
            try:
                conn = self._reopen()
            except (OSError, SurveyError, serial.SerialException):
                continue
            with self._send_lock:
                self.conn = conn
            self.reopened += 1
            self._down = None
            return

    def _recv(self) -> Message | None:
        try:
            msg = self.conn.recv_match(blocking=True, timeout=_POLL_S)
        except mavlink.MAVError:  # a malformed frame; robust parsing normally absorbs these
            return None
        if msg is None or msg.get_type() == "BAD_DATA":
            return None
        return msg

    def _maybe_send_heartbeat(self) -> None:
        now = time.monotonic()
        if self.target_system and now - self._last_gcs_heartbeat >= HEARTBEAT_PERIOD_S:
            self._last_gcs_heartbeat = now
            with self._send_lock:
                self.conn.mav.heartbeat_send(mavlink.MAV_TYPE_GCS, mavlink.MAV_AUTOPILOT_INVALID,
                                             0, 0, 0)

    def _deliver(self, msg: Message) -> None:
        if self.target_system == 0:
            if not _is_vehicle_heartbeat(msg):
                return
            self.target_system = msg.get_srcSystem()
            self.target_component = msg.get_srcComponent()
        if msg.get_srcSystem() != self.target_system:
            return
        if msg.get_type() in _ADDRESSED and msg.target_system not in (0, GCS_SYSID):
            return  # an answer to another ground station
        if msg.get_type() == "HEARTBEAT":
            if msg.get_srcComponent() != self.target_component:
                return
            self.heartbeat = msg
        with self._cond:
            listeners = list(self._listeners)
            for sub in self._subs:
                sub._offer(msg)
            self._cond.notify_all()
        for listener in listeners:
            listener(msg)


def _is_vehicle_heartbeat(msg: Message) -> bool:
    if msg.get_type() != "HEARTBEAT":
        return False
    if msg.type in (mavlink.MAV_TYPE_GCS, mavlink.MAV_TYPE_GIMBAL, mavlink.MAV_TYPE_ADSB,
                    mavlink.MAV_TYPE_ONBOARD_CONTROLLER):
        return False
    return msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID


# ---------------------------------------------------------------------------- opening

class _Tcp(mavutil.mavtcp):
    """pymavlink's TCP client without its printing auto-reconnect: a closed peer is an error."""

    def handle_disconnect(self) -> None:
        raise ConnectionError("connection reset by the vehicle")

    def handle_eof(self) -> None:
        raise ConnectionError("the vehicle closed the connection")


class _Serial(mavutil.mavserial):
    """pymavlink's serial port, except that a failed write (a radio pulled out of its USB
    socket) raises instead of printing "Device … is dead" and carrying on."""

    def write(self, buf: bytes | bytearray) -> int | None:
        return self.port.write(bytes(buf))


_COM_PORT = re.compile(r"COM\d+", re.IGNORECASE)


def serial_device(url: str) -> tuple[str, int | None] | None:
    """``(device, baud)`` if ``url`` names a serial device, else None (``baud`` None when the
    URL gives no rate).

    Accepted: ``serial:DEVICE``, ``serial:DEVICE:BAUD``, ``serial:DEVICE,BAUD``, and a plain
    device, ``DEVICE`` or ``DEVICE,BAUD`` (or ``DEVICE:BAUD``), where DEVICE is a path under
    ``/dev/``, a Windows ``COMn`` port or any existing path.

    >>> serial_device("serial:/dev/ttyUSB0:57600"), serial_device("/dev/ttyACM0")
    (('/dev/ttyUSB0', 57600), ('/dev/ttyACM0', None))

    Raises
    ------
    InputError
        ``serial:`` without a device, or a rate that is not a whole number.
    """
    explicit = url.startswith("serial:")
    rest = url[len("serial:"):] if explicit else url
    device, baud = rest, ""
    if not (os.path.exists(rest) or _COM_PORT.fullmatch(rest)):
        for sep in (",", ":"):
            head, found, tail = rest.rpartition(sep)
            if found and (tail.isdigit() or sep == ","):
                device, baud = head, tail
                break
    if not explicit and not (device.startswith("/dev/") or _COM_PORT.fullmatch(device)
                             or os.path.exists(device)):
        return None
    if not device:
        raise ParamError("url", f"{url!r}: give a device, e.g. serial:/dev/ttyUSB0:57600")
    if baud and not baud.isdigit():
        raise ParamError("url", f"{url!r}: {baud!r} is not a baud rate")
    return device, int(baud) if baud else None


def check_baud(baud: int, param: str = "baud") -> int:
    """``baud`` if it is a standard serial rate (:data:`STANDARD_BAUDS`).

    Raises
    ------
    ParamError
        Anything else, naming ``param`` (``"url"`` for a rate in a device URL).
    """
    if baud not in STANDARD_BAUDS:
        raise ParamError(param, f"{baud} is not a standard serial rate (SiK radios use 57600 "
                         "unless reconfigured; others: 9600, 115200, 230400, 460800, 921600, …)")
    return baud


def open_connection(url: str, *, baud: int | None = None) -> Any:
    """Open the pymavlink connection for ``url`` (no waiting for the vehicle).

    ``baud`` is the serial rate (``--baud``) for a serial device whose URL gives none
    (default :data:`DEFAULT_BAUD`); it is refused for network URLs.

    Raises
    ------
    InputError
        The URL is malformed, a rate is not a standard one or two rates disagree, or the serial
        device does not exist or cannot be opened (a ParamError naming ``url`` or ``baud``).
    LinkError
        A network connection cannot be opened (refused, address in use).
    """
    if baud is not None:
        check_baud(baud)
    target = serial_device(url)
    if target is None and baud is not None:
        raise ParamError("baud", f"only applies to a serial device, not {url!r}")
    kwargs: dict[str, Any] = {"source_system": GCS_SYSID, "source_component": GCS_COMPID}
    if target is not None:
        conn = _open_serial(url, *target, baud, kwargs)
    else:
        conn = _open_network(url, kwargs)
    # MAVLink 2 with the ardupilotmega dialect whatever pymavlink's process-wide MAVLINK20 /
    # dialect switch says (mavutil's default here is MAVLink 1 "all", without mission_type).
    conn.mav = mavlink.MAVLink(conn, srcSystem=GCS_SYSID, srcComponent=GCS_COMPID)
    conn.mav.robust_parsing = True
    conn.first_byte = False  # stop mavutil swapping in its global dialect on the first byte
    conn.WIRE_PROTOCOL_VERSION = "2.0"
    return conn


def _open_network(url: str, kwargs: dict[str, Any]) -> Any:
    scheme, _, rest = url.partition(":")
    try:
        if scheme == "tcp":
            _host_port(url, rest)
            return _Tcp(rest, retries=0, **kwargs)
        if scheme in ("udp", "udpin", "udpout"):
            _host_port(url, rest)
            return mavutil.mavlink_connection(("udpin:" if scheme == "udp" else scheme + ":")
                                              + rest, **kwargs)
    except (OSError, ValueError) as e:
        raise LinkError(f"{url}: cannot connect: {getattr(e, 'strerror', None) or e}") from None
    raise ParamError("url", f"{url!r} is not a MAVLink URL: use tcp:HOST:PORT, "
                     "udp:HOST:PORT, udpout:HOST:PORT or a serial device (/dev/ttyUSB0, "
                     "serial:/dev/ttyUSB0:57600)")


def _open_serial(url: str, device: str, url_baud: int | None, baud: int | None,
                 kwargs: dict[str, Any]) -> Any:
    if url_baud is not None:
        check_baud(url_baud, "url")
        if baud is not None and baud != url_baud:
            raise ParamError("baud", f"{baud} disagrees with the rate {url_baud} in "
                             f"`url` {url}")
    rate = url_baud or baud or DEFAULT_BAUD
    if not _COM_PORT.fullmatch(device):
        try:
            mode = os.stat(device).st_mode
        except OSError:
            raise ParamError("url", f"{device}: no such serial device (is the radio "
                             "plugged in? look in /dev/serial/by-id/)") from None
        if not stat.S_ISCHR(mode):
            raise ParamError("url", f"{device}: cannot open it as a serial port: not a "
                             "device")
    try:
        conn = _Serial(device, baud=rate, **kwargs)
    except (OSError, ValueError) as e:  # serial.SerialException is an OSError
        raise ParamError("url", f"{device}: cannot open it as a serial port: "
                         f"{_serial_reason(e)}") from None
    return conn


def _serial_reason(e: BaseException) -> str:
    code = getattr(e, "errno", None)
    if code == errno.EACCES:
        return "permission denied (on Linux, add yourself to the dialout group)"
    if code == errno.EBUSY:
        return "busy (another program, e.g. a ground station, has it open)"
    if code:
        return os.strerror(code).lower()
    return " ".join(str(e).split()) or type(e).__name__


def _host_port(url: str, rest: str) -> None:
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ParamError("url", f"{url!r}: expected HOST:PORT after the scheme")


def read_signing_key(path: str | Path) -> bytes:
    """The 32-byte MAVLink 2 signing key in ``path``.

    The file holds either 64 hexadecimal digits (the key itself) or a passphrase, hashed with
    SHA-256 as MAVProxy's ``signing setup`` does.

    Raises
    ------
    InputError
        The file cannot be read or is empty.
    """
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read the signing key: {e}") from None
    if not text:
        raise InputError(path, "the signing key file is empty")
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return hashlib.sha256(text.encode("utf-8")).digest()


def connect(url: str, *, timeout_s: float = 10.0, signing_key: bytes | None = None,
            rates_hz: Mapping[int, float] | None = DEFAULT_RATES_HZ,
            clock: Clock = time.monotonic, baud: int | None = None,
            reconnect: bool = False) -> Link:
    """Connect to a vehicle and wait for its heartbeat.

    Parameters
    ----------
    url
        ``tcp:HOST:PORT``, ``udp:HOST:PORT`` (listen), ``udpout:HOST:PORT`` or a serial device
        (see :func:`serial_device`).
    timeout_s
        How long to wait for the vehicle's heartbeat, seconds.
    signing_key
        A 32-byte MAVLink 2 signing key (:mod:`missions.fly.signing`): outgoing messages are
        signed; a vehicle whose first heartbeat comes unsigned is sent the key with
        SETUP_SIGNING and must then sign with it within another ``timeout_s``; one already
        signing with it is sent nothing; one signing with another key is refused. From then
        on unsigned or wrongly signed messages are refused (RADIO_STATUS excepted).
    rates_hz
        Telemetry to request with SET_MESSAGE_INTERVAL (message id → Hz); None asks nothing.
    clock
        Monotonic seconds for deadlines.
    baud
        Serial rate for a serial device whose URL gives none (default :data:`DEFAULT_BAUD`);
        refused for network URLs.
    reconnect
        Once connected, reopen a transport that fails (see :class:`Link`'s ``reopen``), with
        the same signing state, instead of failing the link: for flying, where a radio pulled
        from its socket or a reset TCP connection should not end the watch.

    Returns
    -------
    Link
        Open, with :attr:`Link.target_system` and ``target_component`` set.

    Raises
    ------
    InputError
        A malformed URL, a bad rate, or a serial device that is missing or cannot be opened.
    LinkError
        The connection cannot be opened.
    LinkTimeout
        No vehicle heartbeat in time, no heartbeat signed with the key after sending it, or a
        rate request was never acknowledged.
    VehicleRefused
        The vehicle refused the signing key, with its STATUSTEXT (ArduPilot, armed: "ERROR:
        Won't setup signing when armed").
    """
    conn = open_connection(url, baud=baud)
    if signing_key is not None:
        if len(signing_key) != 32:
            conn.close()
            raise ParamError("signing_key", "a MAVLink signing key has 32 bytes")
        signing.prepare(conn, signing_key)
    link = Link(conn, url, clock=clock)
    hints = []
    if isinstance(conn, _Serial):
        hints.append(f"serial at {conn.baud} baud: check `baud` and that the radios "
                     "are linked")
    link.timeout_hint = "; ".join(hints)
    try:
        with link.subscribe("HEARTBEAT") as sub:
            first = sub.get(timeout_s, lambda m: link.target_system != 0,
                            what="vehicle HEARTBEAT")
        if signing_key is not None:
            signing.start_signing(link, signing_key, first, timeout_s=timeout_s)
            hints.append("signing is on: unsigned or wrongly signed messages are refused")
        elif first._header.incompat_flags & mavlink.MAVLINK_IFLAG_SIGNED:
            hints.append("the vehicle signs its messages: unless this is its USB port it "
                         "ignores unsigned ones; give its key with `signing_key`")
        link.timeout_hint = "; ".join(hints)
        if rates_hz:
            request_rates(link, rates_hz)
    except BaseException:
        link.close()
        raise
    if reconnect:
        link._reopen = lambda: signing.carry_over(link.conn, open_connection(url, baud=baud))
    return link


def request_rates(link: Link, rates_hz: Mapping[int, float], *, timeout_s: float = 1.5,
                  retries: int = 3) -> None:
    """Ask for each message at its rate with SET_MESSAGE_INTERVAL.

    Raises
    ------
    LinkTimeout
        A request went unacknowledged after ``retries`` tries.
    VehicleRefused
        The vehicle rejected a rate.
    """
    for msg_id, hz in rates_hz.items():
        interval_us = -1.0 if hz <= 0 else 1e6 / hz
        result = command_long(link, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, msg_id, interval_us,
                              timeout_s=timeout_s, retries=retries)
        if result not in (mavlink.MAV_RESULT_ACCEPTED, mavlink.MAV_RESULT_UNSUPPORTED):
            raise VehicleRefused(f"stream message {msg_id}", result_name(result))


def command_long(link: Link, command: int, *params: float, timeout_s: float = 1.5,
                 retries: int = 3) -> int:
    """Send COMMAND_LONG to the vehicle and return COMMAND_ACK's result (re-sent on timeout,
    with the confirmation field counting up).

    Raises
    ------
    LinkTimeout
        No acknowledgement after ``retries`` + 1 tries.
    """
    p = [float(v) for v in params] + [0.0] * (7 - len(params))
    with link.subscribe("COMMAND_ACK") as acks:
        for confirmation in range(retries + 1):
            link.send(link.mav.command_long_encode(link.target_system, link.target_component,
                                                   command, confirmation, *p))
            try:
                ack = acks.get(timeout_s, lambda a: a.command == command,
                               what=f"COMMAND_ACK for {command_name(command)}")
            except LinkTimeout:
                if confirmation == retries:
                    raise
                continue
            return int(ack.result)
    raise AssertionError("unreachable")


def result_name(result: int) -> str:
    """``MAV_RESULT_DENIED`` for 2, etc."""
    entry = mavlink.enums["MAV_RESULT"].get(result)
    return entry.name if entry is not None else f"result {result}"


def command_name(command: int) -> str:
    """``MAV_CMD_NAV_WAYPOINT`` for 16, etc."""
    entry = mavlink.enums["MAV_CMD"].get(command)
    return entry.name if entry is not None else f"command {command}"
