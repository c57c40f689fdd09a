"""Fixtures for the built-in vehicle tests: a running vehicle and a plain-pymavlink ground station.

Every wait has a real-time deadline and raises AssertionError when it passes; no test sleeps to
synchronise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from pymavlink import mavutil

from sitl.builtin import BuiltinCopter
from sitl.builtin.protocol import mavlink as M

HOME = (35.3606, 138.7274, 100.0)
SPEEDUP = 40.0


class Gcs:
    """A minimal ground station on pymavlink that keeps messages it was not waiting for."""

    def __init__(self, url: str, *, sysid: int = 255, compid: int = 190) -> None:
        self.m = mavutil.mavlink_connection(url, source_system=sysid, source_component=compid)
        self.pending: list[Any] = []
        self.target = (1, 1)
        self.expect("HEARTBEAT", timeout_s=5)

    def close(self) -> None:
        self.m.close()

    # ------------------------------------------------------------------ receiving
    def _pump(self, timeout_s: float) -> None:
        msg = self.m.recv_match(blocking=True, timeout=timeout_s)
        while msg is not None:
            if msg.get_type() != "BAD_DATA":
                self.pending.append(msg)
            msg = self.m.recv_match(blocking=False)
        if len(self.pending) > 50000:
            del self.pending[:25000]

    def expect(self, types: str | Sequence[str], cond: Callable[[Any], bool] | None = None, *,
               timeout_s: float = 5.0, fresh: bool = False) -> Any:
        """First pending/arriving message of ``types`` meeting ``cond``; earlier messages of
        those types that do not are consumed. ``fresh`` ignores those already received (for
        state such as HEARTBEAT or positions, where only what comes next counts)."""
        wanted = {types} if isinstance(types, str) else set(types)
        if fresh:
            self._pump(0.0)
            self.pending = [m for m in self.pending if m.get_type() not in wanted]
        deadline = time.monotonic() + timeout_s
        while True:
            for i, msg in enumerate(self.pending):
                if msg.get_type() in wanted:
                    if cond is None or cond(msg):
                        self.pending = [m for j, m in enumerate(self.pending)
                                        if j > i or m.get_type() not in wanted]
                        return msg
            self.pending = [m for m in self.pending if m.get_type() not in wanted]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {sorted(wanted)} within {timeout_s} s")
            self._pump(min(remaining, 0.05))

    def drain(self) -> list[Any]:
        """Everything received so far (consumed)."""
        self._pump(0.0)
        out, self.pending = self.pending, []
        return out

    def collect(self, types: str | Sequence[str], until: Callable[[Any], bool], *,
                timeout_s: float) -> list[Any]:
        """Messages of ``types`` up to and including the first one for which ``until`` holds."""
        wanted = {types} if isinstance(types, str) else set(types)
        got: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while True:
            keep = []
            for msg in self.pending:
                if msg.get_type() in wanted:
                    got.append(msg)
                    if until(msg):
                        self.pending = keep + self.pending[self.pending.index(msg) + 1:]
                        return got
                else:
                    keep.append(msg)
            self.pending = keep
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition on {sorted(wanted)} not met in {timeout_s} s")
            self._pump(min(remaining, 0.05))

    # ------------------------------------------------------------------ sending
    def heartbeat(self) -> None:
        self.m.mav.heartbeat_send(M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def command(self, command: int, *params: float, timeout_s: float = 5.0) -> int:
        p = [*params, *[0.0] * (7 - len(params))]
        self.m.mav.command_long_send(*self.target, command, 0, *p)
        ack = self.expect("COMMAND_ACK", lambda a: a.command == command, timeout_s=timeout_s)
        return int(ack.result)

    def set_mode(self, mode: int) -> int:
        return self.command(M.MAV_CMD_DO_SET_MODE, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, mode)

    def stream(self, msg_id: int, hz: float) -> None:
        assert self.command(M.MAV_CMD_SET_MESSAGE_INTERVAL, msg_id, 1e6 / hz) == \
            M.MAV_RESULT_ACCEPTED

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        self.stream(M.MAVLINK_MSG_ID_SYS_STATUS, 5)
        self.expect("SYS_STATUS", lambda s: s.onboard_control_sensors_health
                    & M.MAV_SYS_STATUS_PREARM_CHECK, timeout_s=timeout_s)

    def arm(self) -> None:
        assert self.command(M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED

    # ------------------------------------------------------------------ missions
    def send_item(self, seq: int, item: Sequence[float], mission_type: int = 0) -> None:
        frame, command, p1, p2, p3, p4, x, y, z = item
        self.m.mav.mission_item_int_send(*self.target, seq, int(frame), int(command), 0, 1,
                                         p1, p2, p3, p4, int(x), int(y), z, mission_type)

    def upload(self, items: Sequence[Sequence[float]], mission_type: int = 0, *,
               timeout_s: float = 10.0) -> int:
        """Upload ``items`` (frame, command, p1-p4, x, y, z); returns the final MISSION_ACK type."""
        self.m.mav.mission_count_send(*self.target, len(items), mission_type)
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self.expect(["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"],
                              lambda m: m.mission_type == mission_type,
                              timeout_s=max(deadline - time.monotonic(), 0.01))
            if msg.get_type() == "MISSION_ACK":
                return int(msg.type)
            self.send_item(msg.seq, items[msg.seq], mission_type)

    def download(self, mission_type: int = 0, *, timeout_s: float = 10.0) -> list[Any]:
        self.m.mav.mission_request_list_send(*self.target, mission_type)
        count = self.expect("MISSION_COUNT", lambda m: m.mission_type == mission_type,
                            timeout_s=timeout_s).count
        out = []
        for seq in range(count):
            self.m.mav.mission_request_int_send(*self.target, seq, mission_type)
            out.append(self.expect("MISSION_ITEM_INT", lambda m, s=seq: m.seq == s,
                                   timeout_s=timeout_s))
        self.m.mav.mission_ack_send(*self.target, M.MAV_MISSION_ACCEPTED, mission_type)
        return out


@pytest.fixture
def vehicle(request: pytest.FixtureRequest) -> Iterator[BuiltinCopter]:
    """A started vehicle at :data:`HOME`; ``@pytest.mark.vehicle(params=..., ...)`` configures."""
    marker = request.node.get_closest_marker("vehicle")
    kwargs: dict[str, Any] = {"speedup": SPEEDUP}
    if marker is not None:
        kwargs.update(marker.kwargs)
    with BuiltinCopter(*HOME, **kwargs) as v:
        yield v


@pytest.fixture
def make_gcs() -> Iterator[Callable[..., Gcs]]:
    """Factory for extra ground stations, closed at teardown."""
    made: list[Gcs] = []

    def make(url: str, **kwargs: Any) -> Gcs:
        made.append(Gcs(url, **kwargs))
        return made[-1]

    yield make
    for g in made:
        g.close()


@pytest.fixture
def gcs(vehicle: BuiltinCopter, make_gcs: Callable[..., Gcs]) -> Gcs:
    """A ground station (system 255) connected to :func:`vehicle`."""
    return make_gcs(vehicle.url)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vehicle(**kwargs): BuiltinCopter keyword arguments")
