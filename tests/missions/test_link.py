"""The MAVLink link: connecting, heartbeats, noise, typed timeouts, signing, commands."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly import commands as cmd
from missions.fly.flight import check_vehicle
from missions.fly.link import DEFAULT_RATES_HZ, connect, read_signing_key
from missions.fly.vehicle_state import VehicleState
from sitl.builtin import BuiltinCopter
from survey.core.errors import InputError, LinkError, LinkTimeout, VehicleRefused, WrongVehicle

HOME = (35.3606, 138.7274)
KEY = bytes(range(32))


class FakeVehicle:
    """A TCP server that sends console text, GCS heartbeats and (optionally) vehicle heartbeats
    of a chosen type, signed or not, and records what it receives."""

    def __init__(self, *, vehicle_type: int | None = mavlink.MAV_TYPE_QUADROTOR,
                 sign_key: bytes | None = None, sysid: int = 7,
                 clock_behind_s: float = 0.0) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"tcp:127.0.0.1:{self.port}"
        self.vehicle_type = vehicle_type
        self.mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=1)
        self.gcs = mavlink.MAVLink(None, srcSystem=250, srcComponent=190)
        self.parser = mavlink.MAVLink(None)
        self.parser.robust_parsing = True
        # once set: unsigned messages from the vehicle's own ids besides its signed ones
        self.plain = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=1)
        self.unsigned_too = threading.Event()
        self.sign_key = sign_key
        if sign_key is not None:
            self.mav.signing.secret_key = sign_key
            self.mav.signing.sign_outgoing = True
            self.mav.signing.link_id = 1
            self.mav.signing.timestamp = int((time.time() - 1420070400 - clock_behind_s) * 1e5)
            self.parser.signing.secret_key = sign_key
        self.received: list[Any] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.server.settimeout(5)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        conn.settimeout(0.02)
        with conn:
            conn.sendall(b"Init ArduCopter V4.7.0\r\nbad prefix noise \x00\x01\xfe\r\n")
            while not self.stop.is_set():
                out = self.gcs.heartbeat_encode(mavlink.MAV_TYPE_GCS,
                                                mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0).pack(
                    self.gcs)
                if self.vehicle_type is not None:
                    out += self.mav.heartbeat_encode(
                        self.vehicle_type, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 3).pack(
                        self.mav)
                if self.unsigned_too.is_set():
                    out += self.plain.heartbeat_encode(
                        self.vehicle_type or 0, mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 99,
                        3).pack(self.plain)
                    out += self.plain.radio_status_encode(200, 190, 80, 50, 40, 0, 0).pack(
                        self.plain)
                try:
                    conn.sendall(out + b"more console text\n")
                    data = conn.recv(4096)
                except TimeoutError:
                    data = b""
                except OSError:
                    return
                for msg in self.parser.parse_buffer(data) or []:
                    if msg.get_type() != "BAD_DATA":
                        self.received.append(msg)
                if self.sign_key is not None:  # as ArduPilot: catch up with signed input
                    self.mav.signing.timestamp = max(self.mav.signing.timestamp,
                                                     self.parser.signing.timestamp)
                self.stop.wait(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.server.close()


@pytest.fixture
def fake() -> Iterator[Any]:
    made: list[FakeVehicle] = []

    def make(**kwargs: Any) -> FakeVehicle:
        made.append(FakeVehicle(**kwargs))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_connect_learns_ids_and_ignores_noise_and_gcs_heartbeats(fake: Any) -> None:
    f = fake()
    with connect(f.url, timeout_s=5, rates_hz=None) as link:
        assert (link.target_system, link.target_component) == (7, 1)
        hb = link.expect("HEARTBEAT", 2)
        assert hb.get_srcSystem() == 7 and hb.type == mavlink.MAV_TYPE_QUADROTOR


def test_no_vehicle_heartbeat_is_a_typed_timeout(fake: Any) -> None:
    f = fake(vehicle_type=None)  # only a ground station's heartbeats and console text
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout, match=r"no vehicle HEARTBEAT from the vehicle within 0\.5 s"):
        connect(f.url, timeout_s=0.5)
    assert time.monotonic() - t0 < 3


def test_unreachable_and_malformed_urls() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
    with pytest.raises(LinkError, match="cannot connect"):
        connect(f"tcp:127.0.0.1:{port}", timeout_s=1)
    with pytest.raises(InputError, match="not a MAVLink URL"):
        connect("http://example.org", timeout_s=1)
    with pytest.raises(InputError, match="HOST:PORT"):
        connect("tcp:localhost", timeout_s=1)


def test_wrong_vehicle_type_is_refused(fake: Any) -> None:
    f = fake(vehicle_type=mavlink.MAV_TYPE_FIXED_WING)
    with connect(f.url, timeout_s=5, rates_hz=None) as link, \
            pytest.raises(WrongVehicle, match="FIXED_WING"):
        check_vehicle(link)


def _received(f: FakeVehicle, msg_type: str, n: int = 1) -> list[Any]:
    """The fake's messages of ``msg_type`` once it has parsed ``n`` of them (deadline 5 s)."""
    deadline = time.monotonic() + 5
    while len(got := [m for m in list(f.received) if m.get_type() == msg_type]) < n:
        assert time.monotonic() < deadline, f"the vehicle received {len(got)} {msg_type}"
        f.stop.wait(0.01)
    return got


def _mark(link: Any, f: FakeVehicle) -> None:
    """Send a marker and wait until the fake has it: whatever was sent before arrived too."""
    link.send(link.mav.param_request_list_encode(link.target_system, link.target_component))
    _received(f, "PARAM_REQUEST_LIST")


def test_signing_a_vehicle_with_our_key_is_sent_nothing_and_unsigned_traffic_refused(
        fake: Any) -> None:
    signed = fake(sign_key=KEY)
    with connect(signed.url, timeout_s=5, signing_key=KEY, rates_hz=None) as link:
        assert link.target_system == 7
        seen: list[Any] = []
        link.add_listener(seen.append)
        signed.unsigned_too.set()
        for _ in range(3):  # each follows an unsigned HEARTBEAT in the vehicle's stream
            radio = link.expect("RADIO_STATUS", 5)  # radios' unsigned RADIO_STATUS is kept
            assert not radio.get_signed()
        heartbeats = [m for m in list(seen) if m.get_type() == "HEARTBEAT"]
        assert heartbeats and all(m.get_signed() and m.custom_mode != 99 for m in heartbeats)
        _mark(link, signed)
        assert not [m for m in signed.received if m.get_type() == "SETUP_SIGNING"]


def test_signing_a_vehicle_without_a_key_is_sent_it_until_the_deadline(fake: Any) -> None:
    unsigned = fake()
    with pytest.raises(LinkTimeout, match=r"HEARTBEAT signed with our key .*within 2\.5 s "
                       r"\(it did not take the key"):
        connect(unsigned.url, timeout_s=2.5, signing_key=KEY)
    setups = _received(unsigned, "SETUP_SIGNING", 2)  # re-sent: it has no acknowledgement
    assert all(bytes(m.secret_key) == KEY and m.target_system == 7 for m in setups)
    assert all(m._header.incompat_flags & mavlink.MAVLINK_IFLAG_SIGNED for m in setups)


def test_signing_a_vehicle_with_another_key_is_refused_at_once(fake: Any) -> None:
    wrong = fake(sign_key=b"\x33" * 32)
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="signs with another MAVLink key") as err:
        connect(wrong.url, timeout_s=5, signing_key=KEY)
    assert not isinstance(err.value, LinkTimeout) and time.monotonic() - t0 < 4
    assert not [m for m in wrong.received if m.get_type() == "SETUP_SIGNING"]


def test_signing_a_vehicle_whose_signing_clock_is_behind_has_our_key(fake: Any) -> None:
    late = fake(sign_key=KEY, clock_behind_s=600)  # no GPS: restarted from a saved time
    with connect(late.url, timeout_s=5, signing_key=KEY, rates_hz=None) as link:
        assert link.expect("HEARTBEAT", 5).get_signed()
        _mark(link, late)
        assert not [m for m in late.received if m.get_type() == "SETUP_SIGNING"]


def test_signing_key_file(tmp_path: Path) -> None:
    hexfile = tmp_path / "key.hex"
    hexfile.write_text(KEY.hex() + "\n")
    assert read_signing_key(hexfile) == KEY
    phrase = tmp_path / "phrase.txt"
    phrase.write_text("correct horse\n")
    assert len(read_signing_key(phrase)) == 32
    (tmp_path / "empty").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_signing_key(tmp_path / "empty")
    with pytest.raises(InputError, match="cannot read"):
        read_signing_key(tmp_path / "missing")


def test_builtin_streams_requested_and_commands_address_the_vehicle() -> None:
    with BuiltinCopter(*HOME, 50.0, speedup=40, sysid=42) as v, \
            connect(v.url, timeout_s=5) as link:
        assert link.target_system == 42
        for name in ("SYS_STATUS", "GLOBAL_POSITION_INT", "EKF_STATUS_REPORT", "GPS_RAW_INT"):
            link.expect(name, 3)
        v.wait_for(lambda s: s.ready, timeout_s=5)
        cmd.set_mode(link, cmd.CopterMode.GUIDED)
        sent = [m for m in v.received_messages() if m.msg_type == "COMMAND_LONG"]
        assert len(sent) >= len(DEFAULT_RATES_HZ) + 1
        assert all((m.target_system, m.target_component) == (42, 1) for m in sent)
        assert all(m.src_system == 255 for m in sent)
        state = VehicleState(link)
        snap = state.wait_until(
            lambda s: s.ready_to_arm and s.mode == "GUIDED" and s.home is not None, 5, "ready")
        assert snap.home is not None and abs(snap.home[0] - HOME[0]) < 1e-6
        assert snap.battery_pct == pytest.approx(100, abs=1)
        state.close()


def test_refused_arming_carries_the_statustext() -> None:
    with BuiltinCopter(*HOME, 50.0, speedup=40) as v, connect(v.url, timeout_s=5) as link:
        v.wait_for(lambda s: s.ready, timeout_s=5)
        v.inject_fault("arming_refused")
        cmd.set_mode(link, cmd.CopterMode.GUIDED)
        with pytest.raises(VehicleRefused, match=r"arm: MAV_RESULT_FAILED: PreArm: Injected"):
            cmd.arm(link)
        assert not v.state().armed


def test_expect_timeout_names_what_was_awaited() -> None:
    with BuiltinCopter(*HOME, 50.0, speedup=40) as v, connect(v.url, timeout_s=5) as link:
        with pytest.raises(LinkTimeout, match=r"no CAMERA_FEEDBACK from the vehicle within 0\.1 s"):
            link.expect("CAMERA_FEEDBACK", 0.1)


def test_vehicle_closing_the_connection_fails_waits_with_link_error() -> None:
    v = BuiltinCopter(*HOME, 50.0, speedup=40).start()
    link = connect(v.url, timeout_s=5)
    try:
        v.stop()
        with pytest.raises(LinkError, match="connection lost"):
            link.expect("HEARTBEAT", 5)
            link.expect("HEARTBEAT", 5)
    finally:
        link.close()


def test_udp_listen_answers_the_sender() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    vehicle.settimeout(0.05)
    mav = mavlink.MAVLink(None, srcSystem=3, srcComponent=1)
    parser = mavlink.MAVLink(None)
    stop = threading.Event()
    got: list[Any] = []

    def fly() -> None:
        while not stop.is_set():
            vehicle.sendto(mav.heartbeat_encode(mavlink.MAV_TYPE_QUADROTOR,
                                                mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0,
                                                3).pack(mav), ("127.0.0.1", port))
            try:
                got.extend(parser.parse_buffer(vehicle.recv(4096)) or [])
            except TimeoutError:
                pass

    t = threading.Thread(target=fly, daemon=True)
    t.start()
    try:
        with connect(f"udp:127.0.0.1:{port}", timeout_s=5, rates_hz=None) as link:
            assert link.target_system == 3
            deadline = time.monotonic() + 5
            while not any(m.get_type() == "HEARTBEAT" for m in got):  # our GCS heartbeat
                assert time.monotonic() < deadline, "no GCS heartbeat came back over UDP"
                link.expect("HEARTBEAT", 1)
    finally:
        stop.set()
        t.join(2)
        vehicle.close()
