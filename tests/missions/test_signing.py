"""MAVLink 2 signing from scratch (#16 item 5): a vehicle without a key is given ours, one that
has it is sent nothing, one with another key or an armed one is refused with one line; after
that, unsigned or wrongly signed traffic goes unheard. On the built-in vehicle, and on ArduPilot
SITL when ``ARDUPILOT_SITL`` names an ``arducopter`` binary.

ArduPilot accepts unsigned messages on MAVLink channel 0 (SITL's TCP 5760, where the launcher's
own monitor sits: the "secure USB port") and refuses them on the others: these tests use the
launcher's ground-station port, SERIAL1 (TCP 5762). Each SITL starts in a fresh working folder
with ``--wipe``, so it starts without a key.

Every wait has a deadline; no test sleeps to synchronise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly import commands as cmd
from missions.fly.link import Link, command_long, connect
from missions.fly.signing import Signature, signature
from survey.core.errors import LinkError, LinkTimeout, VehicleRefused
from tests.missions.sims import VEHICLES, Sim

HOME = (36.0712345678, 139.9812345678)
KEY = bytes(range(1, 33))
OTHER_KEY = b"\x5a" * 32
INTERVAL = mavlink.MAV_CMD_SET_MESSAGE_INTERVAL
SYS_STATUS = mavlink.MAVLINK_MSG_ID_SYS_STATUS


@pytest.fixture
def vehicle(request: pytest.FixtureRequest) -> Iterator[Sim]:
    sim = Sim(request.param, HOME, {"DISARM_DELAY": 0})  # stays armed on the ground
    try:
        yield sim
    finally:
        sim.stop()


def _second_url(sim: Sim) -> str:
    """Where a second ground station connects while the first is on :attr:`Sim.url`: the
    built-in vehicle takes any number on one port; ArduPilot SITL one per port, so SERIAL2
    (TCP 5763), also a signed channel."""
    if sim.kind == "builtin":
        return sim.url
    return f"tcp:127.0.0.1:{sim.v.console_port + 3}"


def _setups(sim: Sim) -> int:
    return sum(m.msg_type == "SETUP_SIGNING" for m in sim.v.received_messages())


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` (a vehicle-side count) until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def _signed_heartbeat(link: Link) -> None:
    hb = link.expect("HEARTBEAT", 5)
    assert hb.get_signed() and signature(hb, KEY) is Signature.OURS


@pytest.mark.parametrize("vehicle", VEHICLES, indirect=True)
def test_key_new_vehicle_takes_it_then_refuses_unsigned_and_other_keys(vehicle: Sim) -> None:
    with connect(vehicle.url, timeout_s=10, signing_key=KEY, rates_hz=None) as link:
        _signed_heartbeat(link)  # the vehicle signs now
        if vehicle.kind == "builtin":
            assert vehicle.v.signing_key() == KEY and _setups(vehicle) >= 1
        assert command_long(link, INTERVAL, SYS_STATUS, 500_000) == mavlink.MAV_RESULT_ACCEPTED

        # A ground station without the key still hears the (signed) heartbeat, but the vehicle
        # ignores what it sends.
        with connect(_second_url(vehicle), timeout_s=10, rates_hz=None) as plain:
            assert plain.heartbeat is not None and plain.heartbeat.get_signed() is False
            assert signature(plain.heartbeat, KEY) is Signature.OURS  # signed, not checked
            with pytest.raises(LinkTimeout, match="give its key with `signing_key`"):
                command_long(plain, INTERVAL, SYS_STATUS, 500_000, timeout_s=1.0, retries=2)
        if vehicle.kind == "builtin":
            # all three COMMAND_LONGs reached the vehicle and were dropped, none handled
            _until(lambda: vehicle.v.refused_messages().get("COMMAND_LONG", 0) >= 3, 10,
                   "the unsigned COMMAND_LONGs were not refused")
            handled = [m for m in vehicle.v.received_messages() if m.msg_type == "COMMAND_LONG"]
            assert len(handled) == 1  # the keyed link's one
        else:
            # ArduPilot's channel 0 (TCP 5760, the launcher's monitor) accepts unsigned
            vehicle.v.set_battery_full()

        with pytest.raises(LinkError, match="signs with another MAVLink key") as err:
            connect(_second_url(vehicle), timeout_s=10, signing_key=OTHER_KEY, rates_hz=None)
        assert "\n" not in str(err.value) and not isinstance(err.value, LinkTimeout)

        # the keyed link still works after all that
        assert command_long(link, INTERVAL, SYS_STATUS, 1_000_000) == \
            mavlink.MAV_RESULT_ACCEPTED


@pytest.mark.parametrize("vehicle", VEHICLES, indirect=True)
def test_key_already_set_is_not_sent_again(vehicle: Sim) -> None:
    with connect(vehicle.url, timeout_s=10, signing_key=KEY, rates_hz=None) as link:
        _signed_heartbeat(link)
    sent = _setups(vehicle) if vehicle.kind == "builtin" else 0
    with connect(vehicle.url, timeout_s=10, signing_key=KEY, rates_hz=None) as again:
        assert again.heartbeat is not None and again.heartbeat.get_signed()
        assert command_long(again, INTERVAL, SYS_STATUS, 500_000) == mavlink.MAV_RESULT_ACCEPTED
        if vehicle.kind == "builtin":
            assert _setups(vehicle) == sent  # the COMMAND_LONG came after: nothing re-sent
            assert vehicle.v.signing_key() == KEY


@pytest.mark.parametrize("vehicle", VEHICLES, indirect=True)
def test_armed_vehicle_refuses_the_key_with_its_text(vehicle: Sim) -> None:
    with connect(vehicle.url, timeout_s=10, rates_hz=None) as plain:
        if vehicle.kind == "builtin":
            vehicle.v.wait_for(lambda s: s.ready, timeout_s=20)
        cmd.set_mode(plain, cmd.CopterMode.GUIDED, timeout_s=3)
        cmd.arm(plain, timeout_s=3)
        try:
            with pytest.raises(VehicleRefused,
                               match="signing key: ERROR: Won't setup signing when armed"):
                connect(_second_url(vehicle), timeout_s=10, signing_key=KEY, rates_hz=None)
            # no key was stored: unsigned commands are still obeyed on this port
            assert command_long(plain, INTERVAL, SYS_STATUS, 500_000) == \
                mavlink.MAV_RESULT_ACCEPTED
            if vehicle.kind == "builtin":
                assert vehicle.v.signing_key() is None and vehicle.v.state().armed
        finally:
            cmd.disarm(plain, timeout_s=3)
