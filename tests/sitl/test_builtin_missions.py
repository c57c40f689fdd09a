"""Mission, fence and rally transfers with the built-in vehicle, as ArduPilot runs them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from sitl.builtin import BuiltinCopter
from sitl.builtin.protocol import mavlink as M

HOME_LAT, HOME_LON = 35.3606, 138.7274
REL = M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
FENCE, RALLY = M.MAV_MISSION_TYPE_FENCE, M.MAV_MISSION_TYPE_RALLY
Item = tuple[float, ...]


def at(north_m: float, east_m: float) -> tuple[int, int]:
    lat = HOME_LAT + north_m / 111319.49
    lon = HOME_LON + east_m / (111319.49 * math.cos(math.radians(HOME_LAT)))
    return round(lat * 1e7), round(lon * 1e7)


def item(command: int, north: float = 0, east: float = 0, alt: float = 0, *params: float,
         frame: int = REL) -> Item:
    p = [*params, 0, 0, 0, 0][:4]
    x, y = at(north, east) if (north, east) != (0, 0) else (0, 0)
    return (frame, command, *p, x, y, alt)


SURVEY: list[Item] = [
    item(M.MAV_CMD_NAV_WAYPOINT),  # seq 0: home, overwritten by nothing
    item(M.MAV_CMD_NAV_TAKEOFF, 0, 0, 20),
    item(M.MAV_CMD_DO_CHANGE_SPEED, 0, 0, 0, 1, 6.5, -1, frame=M.MAV_FRAME_MISSION),
    item(M.MAV_CMD_NAV_WAYPOINT, 50, 0, 25),
    item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 0, 0, 15, 0, 1, frame=M.MAV_FRAME_MISSION),
    item(M.MAV_CMD_NAV_WAYPOINT, 50, 60, 25, 2),
    item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH, frame=M.MAV_FRAME_MISSION),
]


def test_mission_round_trip_returns_home_at_seq_0(vehicle: BuiltinCopter, gcs: Any) -> None:
    gcs.wait_ready()
    assert gcs.upload(SURVEY) == M.MAV_MISSION_ACCEPTED
    gcs.expect("STATUSTEXT", lambda t: t.text == "Flight plan received")
    got = gcs.download()
    assert len(got) == len(SURVEY)
    home = got[0]
    assert (home.command, home.frame) == (M.MAV_CMD_NAV_WAYPOINT, M.MAV_FRAME_GLOBAL)
    assert (home.x, home.y, home.z) == (353606000, 1387274000, 100.0)
    for sent, back in zip(SURVEY[1:], got[1:], strict=True):
        assert back.command == sent[1]
        assert (back.x, back.y) == ((sent[6], sent[7]) if sent[1] in (16, 22) else (0, 0))
    takeoff, speed, _wp1, trig, wp2, rtl = got[1:]
    assert (takeoff.frame, takeoff.z) == (M.MAV_FRAME_GLOBAL_RELATIVE_ALT, 20.0)
    assert (wp2.frame, wp2.z, wp2.param1) == (M.MAV_FRAME_GLOBAL_RELATIVE_ALT, 25.0, 2.0)
    assert (speed.frame, speed.param1, speed.param2, speed.param3) == (0, 1.0, 6.5, -1.0)
    assert (trig.param1, trig.param3) == (15.0, 1.0)
    assert (rtl.frame, rtl.x, rtl.z) == (0, 0, 0.0)
    assert all(m.mission_type == 0 and m.autocontinue == 1 for m in got)


def test_fence_round_trip(gcs: Any) -> None:
    fence = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, n, e, 0, 4)
             for n, e in ((-100, -100), (-100, 100), (100, 100), (100, -100))]
    fence += [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, n, e, 0, 3)
              for n, e in ((20, 20), (20, 40), (40, 30))]
    fence += [item(M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, -50, -50, 0, 12.5),
              item(M.MAV_CMD_NAV_FENCE_RETURN_POINT, 1, 1)]
    assert gcs.upload(fence, FENCE) == M.MAV_MISSION_ACCEPTED
    got = gcs.download(FENCE)
    assert [(m.command, m.param1, m.x, m.y) for m in got] == \
        [(int(f[1]), f[2], f[6], f[7]) for f in fence]
    assert all(m.mission_type == FENCE for m in got)


def test_rally_round_trip(gcs: Any) -> None:
    rally = [item(M.MAV_CMD_NAV_RALLY_POINT, 200, 0, 30.7),
             item(M.MAV_CMD_NAV_RALLY_POINT, -200, 50, 40)]
    assert gcs.upload(rally, RALLY) == M.MAV_MISSION_ACCEPTED
    got = gcs.download(RALLY)
    assert [(m.command, m.frame, m.x, m.y, m.z) for m in got] == [
        (M.MAV_CMD_NAV_RALLY_POINT, M.MAV_FRAME_GLOBAL_RELATIVE_ALT, r[6], r[7], math.trunc(r[8]))
        for r in rally]


def _next_transfer_message(gcs: Any) -> Any:
    return gcs.expect(["MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"])


@pytest.mark.vehicle(speedup=1.0)
def test_duplicate_and_out_of_order_items_get_invalid_sequence(gcs: Any) -> None:
    plan = SURVEY[:4]
    gcs.m.mav.mission_count_send(1, 1, len(plan), 0)
    assert _next_transfer_message(gcs).seq == 0
    gcs.send_item(0, plan[0])
    assert _next_transfer_message(gcs).seq == 1
    gcs.send_item(0, plan[0])  # duplicate: "I already have 0"
    ack = _next_transfer_message(gcs)
    assert (ack.get_type(), ack.type) == ("MISSION_ACK", M.MAV_MISSION_INVALID_SEQUENCE)
    gcs.send_item(2, plan[2])  # out of order
    ack = _next_transfer_message(gcs)
    assert (ack.get_type(), ack.type) == ("MISSION_ACK", M.MAV_MISSION_INVALID_SEQUENCE)
    gcs.send_item(1, plan[1])
    assert _next_transfer_message(gcs).seq == 2  # no extra request for 1 came in between
    gcs.send_item(2, plan[2])
    assert _next_transfer_message(gcs).seq == 3
    gcs.send_item(3, plan[3])
    ack = _next_transfer_message(gcs)
    assert (ack.get_type(), ack.type) == ("MISSION_ACK", M.MAV_MISSION_ACCEPTED)
    gcs.send_item(3, plan[3])  # re-sent last item after the final ACK: an error, plan kept
    assert _next_transfer_message(gcs).type == M.MAV_MISSION_ERROR
    assert len(gcs.download()) == 4


@pytest.mark.vehicle(speedup=10.0)
def test_rerequest_and_abandon_on_the_link_clock(
        vehicle: BuiltinCopter, gcs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-request and abandon timers time the ground station, so they count real seconds
    (the link clock) whatever the speed-up: here shortened to 0.2 s and 1 s. Times are what
    the vehicle's thread passed as it sent, so the test thread's own delays do not count."""
    from sitl.builtin import mission_store
    from sitl.builtin.mission_store import ItemProtocol

    monkeypatch.setattr(mission_store, "RESEND_S", 0.2)
    monkeypatch.setattr(mission_store, "ABANDON_S", 1.0)
    requests: list[float] = []
    cancelled: list[float] = []
    real_request, real_update = ItemProtocol._request, ItemProtocol.update

    def request(self: ItemProtocol, now_s: float) -> None:
        requests.append(now_s)
        real_request(self, now_s)

    def update(self: ItemProtocol, now_s: float) -> None:
        busy = self._upload is not None
        real_update(self, now_s)
        if busy and self._upload is None:
            cancelled.append(now_s)

    assert gcs.upload(SURVEY) == M.MAV_MISSION_ACCEPTED
    monkeypatch.setattr(ItemProtocol, "_request", request)
    monkeypatch.setattr(ItemProtocol, "update", update)
    gcs.m.mav.mission_count_send(1, 1, 3, 0)
    gcs.expect("MISSION_REQUEST_INT", lambda r: r.seq == 0)
    gcs.expect("MISSION_REQUEST_INT", lambda r: r.seq == 0)
    ack = gcs.expect("MISSION_ACK", timeout_s=10)
    assert ack.type == M.MAV_MISSION_OPERATION_CANCELLED
    gcs.expect("STATUSTEXT", lambda t: t.text == "Mission upload timeout")
    first_s, again_s = requests[0], requests[1]
    assert again_s - first_s >= 0.2  # RESEND_S of real time, however fast the simulation
    assert cancelled[0] - first_s >= 1.0  # ABANDON_S after the last item
    assert len(gcs.download()) == len(SURVEY)  # the old plan is still there


@pytest.mark.parametrize(("bad", "result"), [
    (item(M.MAV_CMD_DO_CHANGE_SPEED, 0, 0, 0, math.nan, 5), M.MAV_MISSION_INVALID_PARAM1),
    ((REL, M.MAV_CMD_NAV_WAYPOINT, 0, 0, 0, 0, 91 * 10**7, 0, 10), M.MAV_MISSION_INVALID_PARAM5_X),
    (item(M.MAV_CMD_NAV_WAYPOINT, 10, 10, 10, frame=M.MAV_FRAME_LOCAL_NED),
     M.MAV_MISSION_UNSUPPORTED_FRAME),
    (item(M.MAV_CMD_NAV_FENCE_RETURN_POINT, 10, 10), M.MAV_MISSION_UNSUPPORTED),
    (item(M.MAV_CMD_DO_FLIGHTTERMINATION), M.MAV_MISSION_UNSUPPORTED),
])
def test_rejected_item_aborts_and_keeps_old_plan(gcs: Any, bad: Item, result: int) -> None:
    assert gcs.upload(SURVEY) == M.MAV_MISSION_ACCEPTED
    assert gcs.upload([*SURVEY[:2], bad, *SURVEY[3:]]) == result
    assert [m.command for m in gcs.download()] == [s[1] for s in SURVEY]


def test_invalid_fence_polygon_is_refused(gcs: Any) -> None:
    good = [item(M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, 1, 1, 0, 500)]
    assert gcs.upload(good, FENCE) == M.MAV_MISSION_ACCEPTED
    two = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, n, 0, 0, 2) for n in (0, 10)]
    assert gcs.upload(two, FENCE) == M.MAV_MISSION_ERROR
    gcs.expect("STATUSTEXT", lambda t: t.text == "Invalid vertex count (2)")
    short = [item(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, n, 0, 0, 4) for n in (0, 10, 20)]
    assert gcs.upload(short, FENCE) == M.MAV_MISSION_ERROR
    assert [m.command for m in gcs.download(FENCE)] == [M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION]
    assert gcs.upload([item(M.MAV_CMD_NAV_WAYPOINT, 1, 1, 1)], RALLY) == M.MAV_MISSION_UNSUPPORTED


def test_too_many_items_is_no_space(gcs: Any) -> None:
    gcs.m.mav.mission_count_send(1, 1, 10_000, 0)
    assert gcs.expect("MISSION_ACK").type == M.MAV_MISSION_NO_SPACE


@pytest.mark.vehicle(mission_request_int=False)
def test_legacy_float_items_and_mission_request(gcs: Any) -> None:
    gcs.m.mav.mission_count_send(1, 1, 3, 0)
    plan = SURVEY[:3]
    for _ in plan:
        req = gcs.expect(["MISSION_REQUEST", "MISSION_REQUEST_INT"])
        assert req.get_type() == "MISSION_REQUEST"  # what Copter 4.7 sends
        frame, command, p1, p2, p3, p4, x, y, z = plan[req.seq]
        gcs.m.mav.mission_item_send(1, 1, req.seq, int(frame), int(command), 0, 1, p1, p2, p3,
                                    p4, x * 1e-7, y * 1e-7, z, 0)
    assert gcs.expect("MISSION_ACK").type == M.MAV_MISSION_ACCEPTED
    gcs.m.mav.mission_request_send(1, 1, 1, 0)
    back = gcs.expect("MISSION_ITEM")
    assert (back.seq, back.command, back.z) == (1, M.MAV_CMD_NAV_TAKEOFF, 20.0)


def test_second_ground_station_is_denied_during_an_upload(vehicle: BuiltinCopter, gcs: Any,
                                                          make_gcs: Callable[..., Any]) -> None:
    other = make_gcs(vehicle.url, sysid=254)
    gcs.m.mav.mission_count_send(1, 1, 3, 0)
    gcs.expect("MISSION_REQUEST_INT")
    other.m.mav.mission_count_send(1, 1, 2, 0)
    assert other.expect("MISSION_ACK").type == M.MAV_MISSION_DENIED
    other.m.mav.mission_request_list_send(1, 1, 0)
    assert other.expect("MISSION_ACK").type == M.MAV_MISSION_DENIED
    gcs.m.mav.mission_count_send(1, 1, 2, 0)  # the uploader may restart
    assert gcs.expect("MISSION_REQUEST_INT").seq == 0


def test_clear_all(gcs: Any) -> None:
    assert gcs.upload(SURVEY) == M.MAV_MISSION_ACCEPTED
    assert gcs.upload([item(M.MAV_CMD_NAV_RALLY_POINT, 5, 5, 10)], RALLY) == \
        M.MAV_MISSION_ACCEPTED
    gcs.m.mav.mission_clear_all_send(1, 1, M.MAV_MISSION_TYPE_ALL)
    assert gcs.expect("MISSION_ACK").type == M.MAV_MISSION_ACCEPTED
    assert gcs.download() == [] and gcs.download(RALLY) == []
