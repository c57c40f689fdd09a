"""The lossy-link proxy: whole MAVLink packets dropped, duplicated or delayed, reproducibly."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitl.builtin import BuiltinCopter
from sitl.builtin.protocol import mavlink as M
from sitl.proxy import Direction, Impairment, LossyProxy


class Recorder:
    """A plain TCP server standing in for the vehicle: records every byte it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.server.settimeout(5)
        self.conn, _ = self.server.accept()
        return self.conn

    def read_until_quiet(self, deadline_s: float = 5.0) -> bytes:
        """Bytes received until nothing more arrives for 0.2 s (bounded by ``deadline_s``)."""
        assert self.conn is not None
        self.conn.settimeout(0.2)
        data = b""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                chunk = self.conn.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def frames(n: int) -> list[bytes]:
    mav = M.MAVLink(None, srcSystem=255, srcComponent=190)
    return [M.MAVLink_param_request_read_message(1, 1, b"RTL_ALT", i).pack(mav) for i in range(n)]


def parse(data: bytes) -> list[Any]:
    p = M.MAVLink(None)
    p.robust_parsing = True
    return p.parse_buffer(data) or []


def send_fragmented(url_port: int, payload: bytes) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", url_port), timeout=5)
    for i in range(0, len(payload), 5):  # split frames across many small writes
        client.sendall(payload[i:i + 5])
    return client


def test_clean_link_relays_bytes_exactly_even_when_fragmented(recorder: Recorder) -> None:
    payload = b"console text first\n" + b"".join(frames(20))
    with LossyProxy("127.0.0.1", recorder.port) as proxy:
        client = send_fragmented(proxy.port, payload)
        recorder.accept()
        assert recorder.read_until_quiet() == payload
        client.close()
        assert proxy.stats().to_vehicle.packets == 20


def test_drops_only_whole_packets_and_is_reproducible(recorder: Recorder) -> None:
    payload = b"".join(frames(200))
    seen = []
    for _ in range(2):
        with LossyProxy("127.0.0.1", recorder.port, to_vehicle=Impairment(drop=0.3),
                        seed=42) as proxy:
            client = send_fragmented(proxy.port, payload)
            recorder.accept()
            msgs = parse(recorder.read_until_quiet())
            client.close()
            stats = proxy.stats().to_vehicle
        assert all(m.get_type() == "PARAM_REQUEST_READ" for m in msgs)  # no broken frames
        assert len(msgs) == 200 - stats.dropped and 30 < stats.dropped < 90
        seen.append([m.param_index for m in msgs])
    assert seen[0] == seen[1]  # same seed, same packets lost
    assert seen[0] == sorted(seen[0])


def test_duplicates_and_delay(recorder: Recorder) -> None:
    payload = b"".join(frames(10))
    impair = Impairment(duplicate=1.0, delay_s=0.3)
    with LossyProxy("127.0.0.1", recorder.port, to_vehicle=impair) as proxy:
        start = time.monotonic()
        client = send_fragmented(proxy.port, payload)
        conn = recorder.accept()
        conn.settimeout(5)
        first = conn.recv(65536)
        assert time.monotonic() - start >= 0.3
        msgs = parse(first + recorder.read_until_quiet())
        client.close()
    assert [m.param_index for m in msgs] == [i for i in range(10) for _ in range(2)]
    assert proxy.stats().to_vehicle.duplicated == 10


def test_impairment_is_validated() -> None:
    with pytest.raises(ValueError, match="drop"):
        Impairment(drop=1.5)
    with pytest.raises(ValueError, match="negative"):
        Impairment(delay_s=-1)


def test_vehicle_through_the_proxy_and_a_blackout(make_gcs: Callable[..., Any]) -> None:
    with BuiltinCopter(35.0, 139.0, speedup=20) as vehicle, \
            LossyProxy("127.0.0.1", vehicle.port, seed=3) as proxy:
        gcs = make_gcs(proxy.url)
        gcs.m.mav.param_request_read_send(1, 1, b"WPNAV_SPEED", -1)
        assert gcs.expect("PARAM_VALUE").param_value == 1000
        proxy.set_impairment(Direction.TO_GCS, Impairment(drop=1.0))
        gcs.drain()
        gcs.m.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
        with pytest.raises(AssertionError, match="PARAM_VALUE"):
            gcs.expect("PARAM_VALUE", timeout_s=0.5)
        proxy.set_impairment(Direction.TO_GCS, Impairment())
        gcs.expect("HEARTBEAT", timeout_s=5, fresh=True)
        assert proxy.stats().to_gcs.dropped > 0 and proxy.stats().connections == 1
