"""A lossy-link proxy between ground stations and a vehicle, for testing robustness on bad radios.

Ground stations connect to the proxy's TCP port; for each one the proxy opens a TCP connection to
the vehicle and relays both ways. It splits each byte stream into MAVLink frames with pymavlink's
parser, so only whole packets are ever dropped, duplicated or delayed; bytes that are not
MAVLink (e.g. SITL's console text) pass through unchanged. Decisions come from a seeded random
generator per direction, so a given sequence of packets meets the same fate on every run.

>>> from sitl.builtin import BuiltinCopter
>>> with BuiltinCopter(35.0, 139.0, speedup=10) as vehicle, LossyProxy(
...         "127.0.0.1", vehicle.port, to_gcs=Impairment(drop=0.2), seed=7) as proxy:
...     proxy.url.startswith("tcp:127.0.0.1:")
True
"""

from __future__ import annotations

import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from types import TracebackType

from pymavlink.dialects.v20 import ardupilotmega as mavlink

_RECV_SIZE = 65536
_MAX_WAIT_S = 0.01


class Direction(Enum):
    """Which way packets travel through the proxy."""

    TO_VEHICLE = "to_vehicle"
    TO_GCS = "to_gcs"


@dataclass(frozen=True)
class Impairment:
    """What happens to packets going one way.

    Parameters
    ----------
    drop
        Probability (0..1) that a packet is lost.
    duplicate
        Probability (0..1) that a packet that got through is delivered twice.
    delay_s
        Fixed latency added to every packet, seconds.
    jitter_s
        Extra random latency, uniform in 0..jitter_s; packets keep their order.

    Raises
    ------
    ValueError
        If a probability is outside 0..1 or a delay is negative.
    """

    drop: float = 0.0
    duplicate: float = 0.0
    delay_s: float = 0.0
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drop", "duplicate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in 0..1, got "
                                 f"{getattr(self, name)}")
        if self.delay_s < 0 or self.jitter_s < 0:
            raise ValueError("delay_s and jitter_s must not be negative")


@dataclass
class DirectionStats:
    """Packet counts for one direction (all connections together)."""

    packets: int = 0
    dropped: int = 0
    duplicated: int = 0
    passthrough_bytes: int = 0


@dataclass(frozen=True)
class ProxyStats:
    """A snapshot of the proxy's counters."""

    to_vehicle: DirectionStats
    to_gcs: DirectionStats
    connections: int


@dataclass
class _Pipe:
    """One direction of one connection."""

    src: socket.socket
    dst: socket.socket
    direction: Direction
    rng: random.Random
    parser: mavlink.MAVLink = field(init=False)
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)
    out: bytearray = field(default_factory=bytearray)
    last_release: float = 0.0

    def __post_init__(self) -> None:
        self.parser = mavlink.MAVLink(None)
        self.parser.robust_parsing = True


class LossyProxy:
    """TCP relay that impairs whole MAVLink packets.

    Parameters
    ----------
    vehicle_host, vehicle_port
        Where the vehicle listens (e.g. a :class:`~sitl.builtin.BuiltinCopter` or SITL 5762).
    listen_host, port
        Where ground stations connect; port 0 picks a free one.
    to_vehicle, to_gcs
        Impairment of each direction.
    seed
        Seed of the random decisions.
    """

    def __init__(self, vehicle_host: str, vehicle_port: int, *, listen_host: str = "127.0.0.1",
                 port: int = 0, to_vehicle: Impairment = Impairment(),
                 to_gcs: Impairment = Impairment(), seed: int = 0) -> None:
        self._vehicle = (vehicle_host, vehicle_port)
        self._listen = (listen_host, port)
        self._impair = {Direction.TO_VEHICLE: to_vehicle, Direction.TO_GCS: to_gcs}
        self._stats = {d: DirectionStats() for d in Direction}
        self._seed = seed
        self._connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._sel = selectors.DefaultSelector()
        self._pipes: dict[socket.socket, _Pipe] = {}
        self._order = itertools.count()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LossyProxy:
        """Bind and start relaying; returns self."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._listener = socket.create_server(self._listen)
        self._listener.setblocking(False)
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="lossy-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop relaying and close every socket (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        for sock in list(self._pipes):
            self._close(sock)
        if self._listener is not None:
            self._sel.unregister(self._listener)
            self._listener.close()
            self._listener = None

    def __enter__(self) -> LossyProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port ground stations connect to (RuntimeError before :meth:`start`)."""
        if self._listener is None:
            raise RuntimeError("proxy not started")
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """A pymavlink connection string for the proxy."""
        return f"tcp:{self._listen[0]}:{self.port}"

    def set_impairment(self, direction: Direction, impairment: Impairment) -> None:
        """Change one direction's impairment while running (e.g. a total blackout)."""
        with self._lock:
            self._impair[direction] = impairment

    def stats(self) -> ProxyStats:
        """Counters so far."""
        with self._lock:
            return ProxyStats(replace(self._stats[Direction.TO_VEHICLE]),
                              replace(self._stats[Direction.TO_GCS]), self._connections)

    # ------------------------------------------------------------------ relay thread
    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wait = _MAX_WAIT_S
            for pipe in self._pipes.values():
                if pipe.queue:
                    wait = min(wait, max(pipe.queue[0][0] - now, 0.0))
            for key, _ in self._sel.select(wait):
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj in self._pipes:
                    self._read(self._pipes[key.fileobj])
            now = time.monotonic()
            for src, pipe in list(self._pipes.items()):
                while pipe.queue and pipe.queue[0][0] <= now:
                    pipe.out += heapq.heappop(pipe.queue)[2]
                try:
                    while pipe.out:
                        n = pipe.dst.send(pipe.out)
                        del pipe.out[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    self._close(src)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        try:
            vehicle = socket.create_connection(self._vehicle, timeout=2.0)
        except OSError:
            client.close()
            return
        with self._lock:
            n = self._connections
            self._connections += 1
        for sock in (client, vehicle):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        base = self._seed * 1_000_003 + n * 2
        self._pipes[client] = _Pipe(client, vehicle, Direction.TO_VEHICLE, random.Random(base))
        self._pipes[vehicle] = _Pipe(vehicle, client, Direction.TO_GCS, random.Random(base + 1))
        self._sel.register(client, selectors.EVENT_READ)
        self._sel.register(vehicle, selectors.EVENT_READ)

    def _read(self, pipe: _Pipe) -> None:
        try:
            data = pipe.src.recv(_RECV_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(pipe.src)
            return
        msgs = pipe.parser.parse_buffer(data) or []
        now = time.monotonic()
        with self._lock:
            impair = self._impair[pipe.direction]
            stats = self._stats[pipe.direction]
            for msg in msgs:
                raw = bytes(msg.get_msgbuf())
                if msg.get_type() == "BAD_DATA":
                    stats.passthrough_bytes += len(raw)
                    self._enqueue(pipe, raw, now, Impairment())
                    continue
                stats.packets += 1
                if pipe.rng.random() < impair.drop:
                    stats.dropped += 1
                    continue
                copies = 2 if pipe.rng.random() < impair.duplicate else 1
                stats.duplicated += copies - 1
                for _ in range(copies):
                    self._enqueue(pipe, raw, now, impair)

    def _enqueue(self, pipe: _Pipe, raw: bytes, now: float, impair: Impairment) -> None:
        release = now + impair.delay_s + pipe.rng.uniform(0.0, impair.jitter_s)
        release = max(release, pipe.last_release)  # keep packet order
        pipe.last_release = release
        heapq.heappush(pipe.queue, (release, next(self._order), raw))

    def _close(self, sock: socket.socket) -> None:
        pipe = self._pipes.pop(sock, None)
        if pipe is None:
            return
        for s in (pipe.src, pipe.dst):
            self._pipes.pop(s, None)
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
