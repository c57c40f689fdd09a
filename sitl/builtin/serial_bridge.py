"""A pseudo-terminal wired to a vehicle's TCP port: a stand-in for a USB telemetry radio.

A ground station opens :attr:`PtyBridge.device` (``/dev/pts/N``) as a serial port, exactly as
it would open ``/dev/ttyUSB0`` with a SiK radio plugged in; one thread copies bytes both ways
between the pseudo-terminal's master end and a TCP connection to the vehicle. Like a radio,
the bridge never blocks the vehicle: bytes the serial side does not read are buffered up to
:data:`BUFFER_LIMIT` per direction, then dropped. POSIX only (``os.openpty``).

>>> from sitl.builtin import BuiltinCopter
>>> with BuiltinCopter(35.0, 139.0, speedup=10) as vehicle, \\
...         PtyBridge("127.0.0.1", vehicle.port) as radio:
...     radio.device.startswith("/dev/")
True
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import tty
from collections.abc import Callable
from types import TracebackType

BUFFER_LIMIT = 1024 * 1024
_READ_SIZE = 65536


class PtyBridge:
    """Copy bytes between a new pseudo-terminal and ``host:port`` (TCP) until :meth:`stop`.

    Parameters
    ----------
    host, port
        The vehicle's TCP endpoint (e.g. the built-in copter's :attr:`~BuiltinCopter.port`).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.device = ""
        self.dropped_bytes = 0
        self.failure: BaseException | None = None
        self._master = self._slave = -1
        self._wake_r = self._wake_w = -1
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PtyBridge:
        """Open the pseudo-terminal and the TCP connection and start copying.

        Raises
        ------
        OSError
            The vehicle's port cannot be reached.
        """
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=5.0)
            self._sock.setblocking(False)
            self._master, self._slave = os.openpty()
            # Raw at once, before any byte arrives: the line discipline must not echo, translate
            # CR/LF or swallow control bytes (pyserial sets raw mode too, but only on opening).
            tty.setraw(self._slave)
            # The bridge holds the slave end open, so the master never reads EIO while the
            # ground station has not opened the device yet (or has closed it).
            os.set_blocking(self._master, False)
            self.device = os.ttyname(self._slave)
            self._wake_r, self._wake_w = os.pipe()
        except BaseException:
            self._close_fds()
            raise
        self._thread = threading.Thread(target=self._run, name=f"pty-bridge-{self.device}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop copying and close everything (a radio pulled out: the serial side's reads
        fail); idempotent."""
        self._stop.set()
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_fds()

    def _close_fds(self) -> None:
        for name in ("_master", "_slave", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> PtyBridge:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ copying thread
    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        to_pty, to_sock = bytearray(), bytearray()
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.register(self._master, selectors.EVENT_READ)
            sel.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                sel.modify(self._master, selectors.EVENT_READ
                           | (selectors.EVENT_WRITE if to_pty else 0))
                sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if to_sock else 0))
                for key, events in sel.select():
                    if key.fileobj == self._wake_r:
                        return
                    if key.fileobj == self._master:
                        if events & selectors.EVENT_READ:
                            self._append(to_sock, _read(lambda: os.read(self._master,
                                                                        _READ_SIZE)))
                        if events & selectors.EVENT_WRITE and to_pty:
                            del to_pty[:_write(lambda: os.write(self._master, to_pty))]
                    else:
                        if events & selectors.EVENT_READ:
                            data = _read(lambda: sock.recv(_READ_SIZE))
                            if data == b"":
                                return  # the vehicle closed the connection
                            self._append(to_pty, data)
                        if events & selectors.EVENT_WRITE and to_sock:
                            del to_sock[:_write(lambda: sock.send(to_sock))]
        except OSError as e:
            self.failure = e
        finally:
            sel.close()

    def _append(self, buffer: bytearray, data: bytes | None) -> None:
        if not data:
            return
        room = BUFFER_LIMIT - len(buffer)
        buffer += data[:max(room, 0)]
        self.dropped_bytes += max(len(data) - room, 0)


def _read(op: Callable[[], bytes]) -> bytes | None:
    try:
        return op()
    except (BlockingIOError, InterruptedError):
        return None


def _write(op: Callable[[], int]) -> int:
    try:
        return op()
    except (BlockingIOError, InterruptedError):
        return 0
