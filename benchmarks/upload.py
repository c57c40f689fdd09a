"""Upload + verify a 500-item mission: this project's client vs pymavlink's mavwp loader.

Both run against the same vehicle (the built-in copter in a process of its own, so it does not
share this one's interpreter lock, or ArduPilot SITL with ``--vehicle ardupilot`` and
``ARDUPILOT_SITL`` set), optionally through the lossy proxy. The
mavwp baseline is pymavlink's documented pattern: a ``MAVWPLoader`` filled with the items,
MISSION_COUNT, each MISSION_REQUEST answered with ``loader.wp(seq)``, then a download one request
at a time to verify; it has no retries, so on a lossy link it is only timed when it finishes.

    python benchmarks/upload.py [--items 500] [--speedup 1] [--loss 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from typing import Any

from pymavlink import mavutil, mavwp
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from missions.fly.link import connect
from missions.fly.transfer.protocol import MissionType, WireItem, compare, home_wire_item, upload
from missions.fly.transfer.wire import to_wire
from missions.plan.items import MissionItem, return_to_launch, takeoff, waypoint
from sitl.proxy import Impairment, LossyProxy

HOME = (36.0712345678, 139.9812345678, 20.0)


def mission(n: int) -> list[MissionItem]:
    pts = [waypoint(HOME[0] + 1e-5 * i, HOME[1] + 1e-5 * (i % 37), 30.0 + (i % 7))
           for i in range(n - 2)]
    return [takeoff(HOME[0], HOME[1], 30.0), *pts, return_to_launch()]


def ours(url: str, items: list[MissionItem]) -> float:
    with connect(url, timeout_s=10, rates_hz=None) as link:
        t0 = time.perf_counter()
        report = upload(link, MissionType.MISSION, items, home=HOME)
        assert report.verified
        return time.perf_counter() - t0


def _mavwp_connection(url: str) -> Any:
    m = mavutil.mavlink_connection(url, source_system=255, source_component=190)
    m.mav = mavlink.MAVLink(m, srcSystem=255, srcComponent=190)
    m.mav.robust_parsing = True
    m.first_byte = False
    m.wait_heartbeat(timeout=10)
    return m


def mavwp_loader(url: str, items: list[MissionItem], timeout_s: float = 5.0,
                 limit_s: float = 300.0) -> float | None:
    """pymavlink's pattern; None when it stalls (no retries), takes over ``limit_s`` or the
    read-back differs. It has no retries of its own: on a lossy link it advances only when
    the vehicle re-requests (ArduPilot: after 1 s)."""
    m = _mavwp_connection(url)
    ts, tc = m.target_system, m.target_component
    wire = [home_wire_item(*HOME)] + [to_wire(it) for it in items]
    loader = mavwp.MAVWPLoader(target_system=ts, target_component=tc)
    for seq, w in enumerate(wire):
        loader.add(mavlink.MAVLink_mission_item_int_message(
            ts, tc, seq, w.frame, w.command, 0, 1, w.param1, w.param2, w.param3, w.param4,
            w.x, w.y, w.z))
    try:
        t0 = time.perf_counter()
        m.waypoint_count_send(loader.count())
        while True:
            msg = m.recv_match(type=["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"],
                               blocking=True, timeout=timeout_s)
            if msg is None or time.perf_counter() - t0 > limit_s:
                return None
            if msg.get_type() == "MISSION_ACK":
                if msg.type != mavlink.MAV_MISSION_ACCEPTED:
                    return None
                break
            m.mav.send(loader.wp(msg.seq))
        m.waypoint_request_list_send()
        count = m.recv_match(type="MISSION_COUNT", blocking=True, timeout=timeout_s)
        if count is None:
            return None
        got = []
        for seq in range(count.count):
            m.mav.mission_request_int_send(ts, tc, seq)
            msg = m.recv_match(type="MISSION_ITEM_INT", blocking=True, timeout=timeout_s,
                               condition=f"MISSION_ITEM_INT.seq=={seq}")
            if msg is None or time.perf_counter() - t0 > limit_s:
                return None
            got.append(WireItem.from_msg(msg))
        m.mav.mission_ack_send(ts, tc, mavlink.MAV_MISSION_ACCEPTED)
        elapsed = time.perf_counter() - t0
        return None if compare(wire, got, MissionType.MISSION) else elapsed
    finally:
        m.close()


def _serve_builtin(speedup: float, port: Any, stop: Any) -> None:
    from sitl.builtin import BuiltinCopter
    with BuiltinCopter(*HOME, speedup=speedup) as v:
        port.value = v.port
        stop.wait(600)


class _BuiltinProcess:
    """The built-in vehicle in a child process."""

    def __init__(self, speedup: float) -> None:
        ctx = mp.get_context("spawn")
        self.port_value = ctx.Value("i", 0)
        self.stop_event = ctx.Event()
        self.proc = ctx.Process(target=_serve_builtin,
                                args=(speedup, self.port_value, self.stop_event), daemon=True)
        self.proc.start()
        deadline = time.monotonic() + 30
        while self.port_value.value == 0:
            if time.monotonic() > deadline or not self.proc.is_alive():
                raise RuntimeError("built-in vehicle process did not start")
            time.sleep(0.05)
        self.port = int(self.port_value.value)
        self.url = f"tcp:127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.stop_event.set()
        self.proc.join(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--speedup", type=float, default=1.0)
    ap.add_argument("--loss", type=float, default=0.0, help="drop probability each way")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--vehicle", choices=["builtin", "ardupilot"], default="builtin")
    args = ap.parse_args()
    items = mission(args.items)
    if args.vehicle == "builtin":
        sim: Any = _BuiltinProcess(args.speedup)
    else:
        from sitl.ardupilot import ArduPilotSitl
        sim = ArduPilotSitl((*HOME, 0.0), speedup=args.speedup).start()
        sim.wait_ready()
    proxy = None
    url = sim.url
    try:
        if args.loss > 0:
            loss = Impairment(drop=args.loss)
            proxy = LossyProxy("127.0.0.1", sim.port, to_vehicle=loss, to_gcs=loss,
                               seed=1).start()
            url = proxy.url
        a = [ours(url, items) for _ in range(args.repeat)]
        b = [mavwp_loader(url, items) for _ in range(args.repeat)]
    finally:
        if proxy is not None:
            proxy.stop()
        sim.stop()
    ok_b = [t for t in b if t is not None]
    print(f"{args.vehicle} vehicle, speedup {args.speedup:g}, loss {args.loss:.0%}, "
          f"{len(items) + 1} items (with home), upload + verify, median of {args.repeat}:")
    print(f"  missions.fly.transfer.protocol: {statistics.median(a):.3f} s")
    if ok_b:
        ratio = statistics.median(ok_b) / statistics.median(a)
        print(f"  pymavlink mavwp:   {statistics.median(ok_b):.3f} s "
              f"({len(ok_b)}/{len(b)} finished)")
        print(f"  ratio mavwp / ours: {ratio:.2f}×")
    else:
        print(f"  pymavlink mavwp:   failed {len(b)}/{len(b)} (no retries: a lost reply stalls "
              "it past its 5 s timeout, or it took over 300 s)")


if __name__ == "__main__":
    main()
