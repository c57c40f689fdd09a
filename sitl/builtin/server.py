"""The TCP endpoint: accepts ground stations, frames and parses MAVLink 2, buffers output.

All socket work happens on the simulation thread through :meth:`TcpServer.poll`; writes go to a
per-link buffer that is flushed without blocking (a link that stops reading loses messages once
its buffer is full, like a radio with no transmit space, instead of stalling the vehicle).
"""

from __future__ import annotations

import selectors
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

from .protocol import AUTOPILOT_COMPONENT, mavlink
from .streams import StreamSchedule

OUT_BUFFER_LIMIT = 4 * 1024 * 1024
_RECV_SIZE = 65536


class Link:
    """One connected ground station: its socket, MAVLink codec and telemetry rates.

    ``link_id`` numbers the link (its MAVLink signing link id); ``refused`` counts, by message
    id, the messages dropped for lack of a valid signature (shared by all links of a server).
    """

    def __init__(self, sock: socket.socket, sysid: int, name: str, *, link_id: int = 0,
                 refused: Counter[int] | None = None) -> None:
        self.sock = sock
        self.name = name
        self.link_id = link_id
        self.refused: Counter[int] = Counter() if refused is None else refused
        self.mav = mavlink.MAVLink(None, srcSystem=sysid, srcComponent=AUTOPILOT_COMPONENT)
        self.mav.robust_parsing = True
        self.streams = StreamSchedule()
        self.queued: list[int] = []
        self.out = bytearray()
        self.open = True
        self.dropped_bytes = 0

    def send(self, msg: Any) -> None:
        """Frame ``msg`` for this link and queue it (dropped if the buffer is full)."""
        if not self.open:
            return
        data = msg.pack(self.mav)
        if len(self.out) + len(data) > OUT_BUFFER_LIMIT:
            self.dropped_bytes += len(data)
            return
        self.out += data

    def flush(self) -> None:
        """Write as much buffered output as the socket takes now."""
        while self.out and self.open:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError:
                self.open = False
                return
            del self.out[:n]

    def parse(self, data: bytes) -> list[Any]:
        """Complete, valid MAVLink messages in ``data`` (partial frames wait for more);
        unsigned or wrongly signed ones are dropped (and counted) while signing is on."""
        out = []
        for m in self.mav.parse_buffer(data) or []:
            if m.get_type() != "BAD_DATA":
                out.append(m)
            elif m.reason == "Invalid signature" and len(m.data) > 9:
                self.refused[m.data[7] | m.data[8] << 8 | m.data[9] << 16] += 1
        return out


class TcpServer:
    """Listening socket on ``host`` (port 0 picks a free one) and its connected links;
    ``on_accept`` is called with each new link before anything is read from it."""

    def __init__(self, host: str, port: int, sysid: int, *,
                 on_accept: Callable[[Link], None] | None = None) -> None:
        self._sysid = sysid
        self._on_accept = on_accept
        self._accepted = 0
        self.refused: Counter[int] = Counter()
        """Messages refused for their signature on any link, by message id."""
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self.links: list[Link] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def poll(self, timeout_s: float) -> tuple[list[Link], list[tuple[Link, list[Any]]]]:
        """Wait up to ``timeout_s`` for activity; return new links and messages received."""
        new: list[Link] = []
        received: list[tuple[Link, list[Any]]] = []
        for key, _ in self._selector.select(timeout_s):
            if key.data is None:
                new.extend(self._accept())
                continue
            link: Link = key.data
            try:
                data = link.sock.recv(_RECV_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._drop(link)
                continue
            msgs = link.parse(data)
            if msgs:
                received.append((link, msgs))
        for link in list(self.links):
            link.flush()
            if not link.open:
                self._drop(link)
        return new, received

    def _accept(self) -> list[Link]:
        out: list[Link] = []
        while True:
            try:
                sock, addr = self._listener.accept()
            except OSError:  # nothing pending (or e.g. EMFILE: try again on the next poll)
                return out
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(sock, self._sysid, f"{addr[0]}:{addr[1]}", link_id=self._accepted,
                        refused=self.refused)
            self._accepted += 1
            if self._on_accept is not None:
                self._on_accept(link)
            self._selector.register(sock, selectors.EVENT_READ, link)
            self.links.append(link)
            out.append(link)

    def _drop(self, link: Link) -> None:
        link.open = False
        if link in self.links:
            self.links.remove(link)
            self._selector.unregister(link.sock)
        link.sock.close()

    def close(self) -> None:
        """Close every link and the listening socket."""
        for link in list(self.links):
            link.flush()
            self._drop(link)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._selector.close()
