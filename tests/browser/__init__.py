"""Browser tests: real headless Chromium, driven over the DevTools protocol (stdlib only).

:class:`Chromium` starts ``chromium --headless --remote-debugging-pipe`` with the network cut
(a dead proxy and a resolver that maps every host to NOTFOUND) and talks CDP over the pipe
(fd 3 in, fd 4 out, NUL-terminated JSON), so no websocket library is needed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1200,800",
    # No network: every host is unresolvable and any proxied request goes to a closed port.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def find_chromium() -> str | None:
    """Path of a Chromium binary: env ``CHROMIUM``, else ``chromium``/``chromium-browser``."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).is_file() or shutil.which(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CDPError(RuntimeError):
    """A DevTools command failed or timed out."""


class Chromium:
    """One headless Chromium with one page, driven over ``--remote-debugging-pipe``."""

    def __init__(self, exe: str, timeout_s: float = 90.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="cdp-profile-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds() -> None:  # runs in the child: its fd 3 reads commands, fd 4 writes
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._proc = subprocess.Popen(
            [exe, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=child_fds, close_fds=False,  # fds 3/4 from child_fds; others are CLOEXEC
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._lock = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=None)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=None)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1200, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    # -- transport ---------------------------------------------------------------------------
    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._lock:
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self._lock.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | bool | None = True, timeout_s: float | None = None) -> dict[str, Any]:
        """Send one command and wait for its reply; returns ``result``."""
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session is True:
            msg["sessionId"] = self.session
        elif isinstance(session, str):
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        with self._lock:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    err = b"".join(self._stderr[-20:]).decode(errors="replace")
                    raise CDPError(f"{method}: no reply (chromium alive: "
                                   f"{self._proc.poll() is None})\n{err}")
                self._lock.wait(min(left, 0.5))
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    # -- page helpers ------------------------------------------------------------------------
    def wait_event(self, method: str, since: int = 0, timeout_s: float | None = None) -> None:
        """Wait until an event named ``method`` arrives (at index ``since`` or later)."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        with self._lock:
            while not any(e.get("method") == method for e in self.events[since:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"no {method} within {timeout_s or self.timeout_s} s")
                self._lock.wait(min(left, 0.5))

    def open(self, url: str) -> float:
        """Navigate and wait for the load event; returns seconds taken."""
        since = len(self.events)
        t0 = time.monotonic()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", since)
        return time.monotonic() - t0

    def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (promises awaited); returns its JSON value."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise CDPError(f"JS error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_js(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.js(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def screenshot_png(self) -> bytes:
        """PNG of the viewport."""
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        with self._lock:
            events = list(self.events)
        for e in events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d['text']}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requested_urls(self) -> list[str]:
        """Every URL the page asked the network stack for."""
        with self._lock:
            return [e["params"]["request"]["url"] for e in self.events
                    if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        """Ask Chromium to quit, then make sure it has."""
        try:
            self.send("Browser.close", session=None, timeout_s=5)
        except CDPError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)
