"""Mission protocol: the state machines on scripted exchanges, and round trips of MISSION, FENCE
and RALLY against the built-in vehicle (and ArduPilot SITL when ``ARDUPILOT_SITL`` is set),
directly and through a link dropping 20 % of packets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from missions.fly.link import Link, connect
from missions.fly.transfer.protocol import (
    DownloadMachine,
    MissionType,
    Out,
    Outcome,
    Phase,
    TransferConfig,
    UploadMachine,
    WireItem,
    compare,
    download,
    upload,
)
from missions.plan.items import MissionItem, return_to_launch, takeoff, trigger_distance, waypoint
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from sitl.builtin.protocol import mavlink as M
from sitl.proxy import Impairment, LossyProxy
from survey.core.errors import LinkTimeout, MissionRejected

HOME = (36.0712345678, 139.9812345678)
CFG = TransferConfig()


# ---------------------------------------------------------------------------- state machines

def test_upload_machine_happy_path_with_both_request_kinds() -> None:
    m = UploadMachine(3, CFG)
    assert m.start(0.0) == [Out("count", 3)]
    assert m.deadline == pytest.approx(1.5)
    assert m.on_request(0, 0.1) == [Out("item", 0)]
    assert m.deadline == pytest.approx(0.35)
    assert m.on_request(1, 0.2) == [Out("item", 1)]
    assert m.on_request(1, 0.25) == [Out("item", 1)]  # duplicate request: answered again
    assert m.on_request(2, 0.3) == [Out("item", 2)]
    assert m.on_ack(M.MAV_MISSION_ACCEPTED, 0.4) == []
    assert m.phase is Phase.DONE and m.outcome is Outcome.ACCEPTED


def test_upload_machine_invalid_sequence_after_resend_means_send_next() -> None:
    m = UploadMachine(4, CFG)
    m.start(0.0)
    m.on_request(0, 0.0)
    m.on_request(1, 0.1)
    assert m.on_timeout(0.4) == [Out("item", 1)]  # request for 2 was lost: re-send 1
    assert m.on_ack(M.MAV_MISSION_INVALID_SEQUENCE, 0.45) == [Out("item", 2)]
    # an INVALID_SEQUENCE answering a duplicate we sent for a duplicate request: nothing
    assert m.on_request(2, 0.5) == [Out("item", 2)]
    assert m.on_ack(M.MAV_MISSION_INVALID_SEQUENCE, 0.55) == []
    assert m.on_request(3, 0.6) == [Out("item", 3)]
    assert m.on_ack(M.MAV_MISSION_ACCEPTED, 0.7) == [] and m.outcome is Outcome.ACCEPTED


def test_upload_machine_error_ack_aborts_naming_the_item() -> None:
    m = UploadMachine(3, CFG)
    m.start(0.0)
    m.on_request(0, 0.0)
    m.on_request(1, 0.1)
    m.on_ack(M.MAV_MISSION_INVALID_PARAM1, 0.2)
    assert m.phase is Phase.FAILED and m.failure is not None
    assert not m.failure.retryable and m.failure.seq == 1
    assert m.failure.reason == "MAV_MISSION_INVALID_PARAM1"


def test_upload_machine_lost_final_ack_then_error_is_uncertain() -> None:
    m = UploadMachine(2, CFG)
    m.start(0.0)
    m.on_request(0, 0.0)
    m.on_request(1, 0.1)
    assert m.on_timeout(0.4) == [Out("item", 1)]
    m.on_ack(M.MAV_MISSION_ERROR, 0.5)
    assert m.phase is Phase.DONE and m.outcome is Outcome.UNCERTAIN


def test_upload_machine_gives_up_after_five_retries() -> None:
    m = UploadMachine(2, CFG)
    m.start(0.0)
    outs = [m.on_timeout(1.5 * k) for k in range(1, 7)]
    assert outs[:5] == [[Out("count", 2)]] * 5 and outs[5] == []
    assert m.phase is Phase.FAILED and m.failure is not None and m.failure.retryable


def test_upload_machine_ignores_stale_accept_and_bogus_seq() -> None:
    m = UploadMachine(2, CFG)
    m.start(0.0)
    assert m.on_ack(M.MAV_MISSION_ACCEPTED, 0.1) == []
    assert m.on_request(7, 0.1) == []
    assert m.phase is Phase.STARTING


def test_download_machine_keeps_a_window_and_rerequests_gaps() -> None:
    m = DownloadMachine(TransferConfig(window=3))
    assert m.start(0.0) == [Out("request_list")]
    assert m.on_count(5, 0.1) == [Out("request", 0), Out("request", 1), Out("request", 2)]
    item = WireItem(16, 3)
    assert m.on_item(0, item, 0.2) == [Out("request", 3)]
    # item 1 lost: 2 arrives first, so 1 is asked again at once
    assert m.on_item(2, item, 0.2) == [Out("request", 1), Out("request", 4)]
    assert m.on_item(1, item, 0.3) == []
    assert m.on_item(3, item, 0.3) == []
    assert m.on_timeout(0.6) == [Out("request", 4)]
    assert m.on_item(4, item, 0.7) == [Out("ack", M.MAV_MISSION_ACCEPTED)]
    assert m.phase is Phase.DONE and len(m.result()) == 5


def test_download_machine_empty_list() -> None:
    m = DownloadMachine(CFG)
    m.start(0.0)
    assert m.on_count(0, 0.1) == [Out("ack", M.MAV_MISSION_ACCEPTED)]
    assert m.phase is Phase.DONE and m.result() == []


@pytest.mark.parametrize(("sent", "got", "problem"), [
    (WireItem(206, 3, 12.5, 0, 1), WireItem(206, 0, 12.5, 0, 1), None),
    (WireItem(206, 3, 12.5, 0, 1), WireItem(206, 0, 12.0, 0, 1), "param1"),
    (WireItem(16, 3, 2.7, x=1, y=2, z=10), WireItem(16, 3, 2.0, x=1, y=2, z=10), None),
    (WireItem(16, 3, x=1, y=2, z=10), WireItem(16, 0, x=1, y=2, z=10), "altitude"),
    (WireItem(16, 3, x=1, y=2, z=10), WireItem(22, 3, x=1, y=2, z=10), "command"),
    (WireItem(5100, 3, x=1, y=2, z=15.6), WireItem(5100, 3, x=1, y=2, z=15.0), None),
])
def test_compare_normalises_like_ardupilot(sent: WireItem, got: WireItem,
                                           problem: str | None) -> None:
    if sent.command == 5100:
        out = compare([sent], [got], MissionType.RALLY)
    else:  # MISSION: seq 0 (home) is not compared
        out = compare([WireItem(16, 0), sent], [WireItem(16, 0), got], MissionType.MISSION)
    assert (problem is None and out == []) or (problem is not None and problem in out[0])


# ---------------------------------------------------------------------------- round trips

VEHICLES = ["builtin", pytest.param("ardupilot", marks=pytest.mark.skipif(
    not os.environ.get("ARDUPILOT_SITL"),
    reason="ArduPilot SITL not available: set ARDUPILOT_SITL to an arducopter binary"))]


@pytest.fixture(params=VEHICLES)
def vehicle_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    if request.param == "builtin":
        with BuiltinCopter(*HOME, 20.0, speedup=50) as v:
            yield v.url, v
    else:
        from sitl.ardupilot import ArduPilotSitl
        sitl = ArduPilotSitl(home=(*HOME, 20.0, 0.0), speedup=10).start()
        try:
            sitl.wait_ready(timeout_s=60)
            yield sitl.url, sitl
        finally:
            sitl.stop()


@pytest.fixture
def link(vehicle_url: tuple[str, Any]) -> Iterator[Link]:
    with connect(vehicle_url[0], timeout_s=10) as lk:
        yield lk


def _mission(n: int) -> list[MissionItem]:
    pts = [waypoint(HOME[0] + 1e-4 * i + 3.3e-9, HOME[1] + 7e-5 * (i % 5), 30.0 + 0.25 * i)
           for i in range(n)]
    return [takeoff(*HOME, 30.0), pts[0], trigger_distance(12.5), *pts[1:],
            trigger_distance(0.0), return_to_launch()]


def test_round_trip_mission_fence_rally(link: Link, plan: Plan) -> None:
    items = _mission(40)
    report = upload(link, MissionType.MISSION, items, home=(*HOME, 20.0))
    assert report.verified and report.items == len(items)
    got = download(link, MissionType.MISSION)
    assert [g.command for g in got] == [int(i.command) for i in items]
    assert [round(g.lat_deg * 1e7) for g in got] == [round(i.lat_deg * 1e7) for i in items]

    fence = [it for zone in plan.fence for it in zone.items()]
    assert upload(link, MissionType.FENCE, fence).verified
    assert [(round(g.lat_deg * 1e7), round(g.lon_deg * 1e7))
            for g in download(link, MissionType.FENCE)] == \
        [(round(i.lat_deg * 1e7), round(i.lon_deg * 1e7)) for i in fence]

    rally = [r.item() for r in plan.rally]
    assert upload(link, MissionType.RALLY, rally).verified
    assert len(download(link, MissionType.RALLY)) == len(rally)

    # clearing: an empty upload is a valid transfer
    assert upload(link, MissionType.RALLY, []).verified
    assert download(link, MissionType.RALLY) == []


def test_rejected_item_names_it_and_keeps_the_old_plan(link: Link) -> None:
    good = _mission(5)
    upload(link, MissionType.MISSION, good, home=(*HOME, 20.0))
    bad = [*good[:3], MissionItem(31999), *good[3:]]  # a command ArduPilot does not know
    with pytest.raises(MissionRejected, match=r"item 4 .*UNSUPPORTED.*keeps its previous plan"):
        upload(link, MissionType.MISSION, bad, home=(*HOME, 20.0))
    assert len(download(link, MissionType.MISSION)) == len(good)


def test_upload_through_a_lossy_link_at_20_percent(vehicle_url: tuple[str, Any]) -> None:
    v = vehicle_url[1]
    loss = Impairment(drop=0.2)
    with LossyProxy("127.0.0.1", v.port, to_vehicle=loss, to_gcs=loss, seed=11) as proxy, \
            connect(proxy.url, timeout_s=10, rates_hz=None) as lk:
        items = _mission(15)
        report = upload(lk, MissionType.MISSION, items, home=(*HOME, 20.0))
        assert report.verified
    with connect(vehicle_url[0], timeout_s=10, rates_hz=None) as direct:
        got = download(direct, MissionType.MISSION)
    assert [round(g.lat_deg * 1e7) for g in got] == [round(i.lat_deg * 1e7) for i in items]


@pytest.mark.slow
def test_reliability_100_uploads_at_20_percent_loss() -> None:
    """100 small uploads through a proxy dropping 20 % each way: all accepted and read back
    identical, with the default timeouts (adaptive: after the first round trips they shrink
    to the measured loopback RTT, clamped to 50 ms, which keeps this test quick)."""
    cfg = TransferConfig()
    loss = Impairment(drop=0.2)
    items = [takeoff(*HOME, 30.0), return_to_launch()]
    with BuiltinCopter(*HOME, 20.0, speedup=100) as v, LossyProxy(
            "127.0.0.1", v.port, to_vehicle=loss, to_gcs=loss, seed=5) as proxy, \
            connect(proxy.url, timeout_s=10, rates_hz=None) as lk:
        for k in range(100):
            alt = 30.0 + k
            mission = [*items[:-1], waypoint(HOME[0], HOME[1] + 1e-4, alt), items[-1]]
            report = upload(lk, MissionType.MISSION, mission, home=(*HOME, 20.0), config=cfg)
            assert report.verified, k
            stored = v.stored_items()
            assert stored[-2].z == pytest.approx(alt)


def test_no_answer_raises_a_typed_timeout(vehicle_url: tuple[str, Any]) -> None:
    v = vehicle_url[1]
    if not hasattr(v, "inject_fault"):
        pytest.skip("needs the built-in vehicle's fault injection")
    with connect(vehicle_url[0], timeout_s=10) as lk:
        v.inject_fault("telemetry_loss")
        cfg = TransferConfig(timeout_s=0.05, item_timeout_s=0.05, attempts=2)
        with pytest.raises(LinkTimeout, match="mission upload"):
            upload(lk, MissionType.MISSION, _mission(3), config=cfg)


def test_adaptive_timeouts_shrink_to_the_measured_round_trip() -> None:
    m = UploadMachine(50, CFG)
    m.start(0.0)
    assert m.deadline == pytest.approx(1.5)  # nothing measured yet: the fixed timeout
    now = 0.0
    for seq in range(10):
        now += 0.004
        m.on_request(seq, now)
    assert m.rtt.srtt_s == pytest.approx(0.004, rel=0.3)
    assert m.deadline - now == pytest.approx(CFG.min_timeout_s)  # clamped at 50 ms
    # cheap re-sends do not exhaust the retries before 5 × 250 ms without progress
    for _ in range(20):
        now = m.deadline
        assert m.on_timeout(now) == [Out("item", 9)]
    now += 1.25
    m.on_timeout(now)
    assert m.phase is Phase.FAILED
    fixed = UploadMachine(5, TransferConfig(adaptive=False))
    fixed.start(0.0)
    fixed.on_request(0, 0.001)
    assert fixed.deadline == pytest.approx(0.251)
