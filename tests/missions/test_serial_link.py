"""The link over a serial device, as with a SiK/RFD900 telemetry radio on USB: URL forms, rates,
missing or unusable devices, and the built-in vehicle reached through a pseudo-terminal
(:class:`sitl.builtin.serial_bridge.PtyBridge`), the same code path `survey fly` uses.

Every wait has a deadline; no test sleeps to synchronise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from missions.fly.link import (
    DEFAULT_BAUD,
    DEFAULT_RATES_HZ,
    Link,
    check_baud,
    connect,
    open_connection,
    serial_device,
)
from missions.fly.transfer.protocol import MissionType, upload
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from sitl.builtin.serial_bridge import PtyBridge
from survey.core.errors import InputError, LinkError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")


@pytest.fixture
def vehicle(plan: Plan) -> Iterator[BuiltinCopter]:
    with BuiltinCopter(plan.home_lat_deg, plan.home_lon_deg, 20.0, speedup=60) as v:
        yield v


@pytest.fixture
def radio(vehicle: BuiltinCopter) -> Iterator[PtyBridge]:
    with PtyBridge("127.0.0.1", vehicle.port) as bridge:
        yield bridge
    assert bridge.failure is None


@pytest.mark.parametrize(("url", "expected"), [
    ("/dev/ttyUSB0", ("/dev/ttyUSB0", None)),
    ("/dev/ttyUSB0,57600", ("/dev/ttyUSB0", 57600)),
    ("/dev/ttyUSB0:921600", ("/dev/ttyUSB0", 921600)),
    ("serial:/dev/ttyACM1", ("/dev/ttyACM1", None)),
    ("serial:/dev/ttyACM1:115200", ("/dev/ttyACM1", 115200)),
    ("serial:/dev/ttyACM1,115200", ("/dev/ttyACM1", 115200)),
    ("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0",
     ("/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0", None)),
    ("COM3", ("COM3", None)),
    ("serial:COM3:57600", ("COM3", 57600)),
    ("tcp:127.0.0.1:5760", None),
    ("udpout:10.0.0.2:14550", None),
    ("ttyUSB0", None),
])
def test_serial_url_forms(url: str, expected: tuple[str, int | None] | None) -> None:
    assert serial_device(url) == expected


def test_an_existing_path_is_a_device_whatever_its_name(tmp_path: Path) -> None:
    odd = tmp_path / "radio:57600"
    odd.touch()
    assert serial_device(str(odd)) == (str(odd), None)


@pytest.mark.parametrize(("url", "baud", "message"), [
    ("/dev/ttyUSB0", 0, "baud: 0 is not a standard serial rate"),
    ("/dev/ttyUSB0", 56000, "baud: 56000 is not a standard serial rate"),
    ("serial:/dev/ttyUSB0:1234", None, "url: 1234 is not a standard serial rate"),
    ("/dev/ttyUSB0,fast", None, "url: '/dev/ttyUSB0,fast': 'fast' is not a baud rate"),
    ("serial:", None, "url: 'serial:': give a device"),
    ("serial:/dev/ttyUSB0:57600", 115200, "baud: 115200 disagrees with the rate 57600"),
    ("tcp:127.0.0.1:5760", 57600, "baud: only applies to a serial device"),
    ("/dev/ttyNOSUCH7", None, "url: /dev/ttyNOSUCH7: no such serial device"),
])
def test_bad_rates_and_devices_are_input_errors(url: str, baud: int | None,
                                                message: str) -> None:
    with pytest.raises(InputError) as e:
        open_connection(url, baud=baud)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_file_that_is_not_a_serial_port_is_refused(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "notes.txt"
    not_a_tty.write_text("hello")
    with pytest.raises(InputError, match=r"^url: .*notes\.txt: cannot open it as a "
                                         r"serial port: "):
        connect(str(not_a_tty), timeout_s=1)


def test_standard_rates() -> None:
    assert DEFAULT_BAUD == 57600
    assert all(check_baud(b) == b for b in (9600, 57600, 115200, 921600))


def test_connect_and_upload_a_mission_through_a_serial_radio(vehicle: BuiltinCopter,
                                                            radio: PtyBridge,
                                                            plan: Plan) -> None:
    with connect(f"serial:{radio.device}", timeout_s=10, rates_hz=DEFAULT_RATES_HZ) as link:
        assert link.conn.port.baudrate == DEFAULT_BAUD  # the rate reached pyserial
        assert (link.target_system, link.target_component) == (1, 1)
        assert link.expect("HEARTBEAT", 5).get_srcSystem() == 1
        assert link.expect("GLOBAL_POSITION_INT", 5).lat == pytest.approx(
            plan.home_lat_deg * 1e7, abs=10)
        items = plan.sorties[0].items
        report = upload(link, MissionType.MISSION, items,
                        home=(plan.home_lat_deg, plan.home_lon_deg, 20.0))
        assert report.verified
    assert len(vehicle.stored_items()) == len(items) + 1  # home at seq 0


def test_the_baud_option_reaches_the_port(radio: PtyBridge) -> None:
    with connect(radio.device, timeout_s=10, rates_hz=None, baud=115200) as link:
        assert link.conn.port.baudrate == 115200
    with connect(f"{radio.device},230400", timeout_s=10, rates_hz=None) as link:
        assert link.conn.port.baudrate == 230400


def test_a_radio_pulled_out_fails_the_link(radio: PtyBridge) -> None:
    link: Link = connect(radio.device, timeout_s=10, rates_hz=None)
    try:
        link.expect("HEARTBEAT", 5)
        radio.stop()
        with pytest.raises(LinkError, match="connection lost"):
            link.expect("HEARTBEAT", 10)
        with pytest.raises(LinkError):
            link.send(link.mav.heartbeat_encode(6, 8, 0, 0, 0))
        assert not link.alive
    finally:
        link.close()
