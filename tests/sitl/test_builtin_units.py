"""The built-in vehicle's pieces without sockets: item storage rules, fences, camera, battery,
kinematics, parameters and stream schedules."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import pytest

from sitl.builtin import mission_items as mi
from sitl.builtin.battery import Battery, Load
from sitl.builtin.camera import Camera, Pose
from sitl.builtin.copter import Copter
from sitl.builtin.fence import FenceShapes, point_in_polygon
from sitl.builtin.geo import LocalFrame
from sitl.builtin.kinematics import Airframe, Limits, step_xy
from sitl.builtin.params import ParamStore
from sitl.builtin.protocol import CopterMode
from sitl.builtin.protocol import mavlink as M
from sitl.builtin.streams import StreamSchedule

W = mi.WireItem
LIMITS = Limits(10.0, 2.5, 2.5, 1.5, 1.0)


# ---------------------------------------------------------------- mission item storage
def test_waypoint_is_stored_as_arducopter_returns_it() -> None:
    result, stored = mi.store_mission_item(
        W(M.MAV_CMD_NAV_WAYPOINT, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, 2.7, 5, 6, math.nan,
          353606000, 1387274000, 25.456))
    assert result == M.MAV_MISSION_ACCEPTED and stored is not None
    assert stored.frame == M.MAV_FRAME_GLOBAL_RELATIVE_ALT
    assert stored.params == (2.0, 0.0, 0.0, 0.0)  # delay kept in whole seconds, rest dropped
    assert stored.z == pytest.approx(25.45, abs=1e-5)


@pytest.mark.parametrize(("item", "result"), [
    (W(M.MAV_CMD_DO_CHANGE_SPEED, 2, math.inf, 1), M.MAV_MISSION_INVALID_PARAM1),
    (W(M.MAV_CMD_DO_CHANGE_SPEED, 2, 1, math.nan), M.MAV_MISSION_INVALID_PARAM2),
    (W(M.MAV_CMD_NAV_TAKEOFF, 6, 0, 0, math.nan, 0, 0, 0, 10), M.MAV_MISSION_INVALID_PARAM3),
    (W(M.MAV_CMD_NAV_WAYPOINT, 6, x=0, y=181 * 10**7, z=5), M.MAV_MISSION_INVALID_PARAM6_Y),
    (W(M.MAV_CMD_NAV_WAYPOINT, 6, z=math.nan), M.MAV_MISSION_INVALID_PARAM7),
    (W(M.MAV_CMD_NAV_WAYPOINT, M.MAV_FRAME_BODY_NED, z=5), M.MAV_MISSION_UNSUPPORTED_FRAME),
    (W(0), M.MAV_MISSION_INVALID),
    (W(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, 6, 4), M.MAV_MISSION_UNSUPPORTED),
])
def test_mission_item_rejections(item: mi.WireItem, result: int) -> None:
    assert mi.store_mission_item(item) == (result, None)


def test_non_location_commands_come_back_in_frame_0_without_position() -> None:
    _, stored = mi.store_mission_item(W(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, M.MAV_FRAME_MISSION,
                                        12.5, 7, 1, 9, 5, 6, 7))
    assert stored == W(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, 0, 12.5, 0, 1, 0, 0, 0, 0)


def test_float_item_truncates_like_single_precision_arithmetic() -> None:
    @dataclass
    class Legacy:
        command: int = M.MAV_CMD_NAV_WAYPOINT
        frame: int = 3
        param1: float = 0
        param2: float = 0
        param3: float = 0
        param4: float = 0
        x: float = 35.3606123
        y: float = 138.7274123
        z: float = 30

    result, item = mi.item_from_float(Legacy())
    assert result == M.MAV_MISSION_ACCEPTED and item is not None
    # single precision carries ~0.4 m steps here: the point moves, but by less than a metre
    assert item.x != 353606123 and abs(item.x - 353606123) < 40
    assert abs(item.y - 1387274123) < 80
    assert mi.item_from_float(Legacy(x=95.0))[0] == M.MAV_MISSION_INVALID_PARAM5_X


# ---------------------------------------------------------------- fences
def _poly(cmd: int, count: int, n: int = 3) -> list[mi.WireItem]:
    return [W(cmd, 0, count, x=350000000 + i * 1000, y=1390000000 + (i % 2) * 1000)
            for i in range(n)]


INC, EXC = (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
RETURN = W(M.MAV_CMD_NAV_FENCE_RETURN_POINT, 0, x=350000000, y=1390000000)


@pytest.mark.parametrize(("items", "problem"), [
    ([], None),
    (_poly(INC, 3) + _poly(EXC, 3) + [RETURN], None),
    (_poly(INC, 2, 2), "Invalid vertex count (2)"),
    (_poly(INC, 4, 3), "Incorrect item count"),
    (_poly(INC, 3, 2) + _poly(EXC, 3, 1), "Received incorrect vertex type"),
    ([*_poly(INC, 3, 2), RETURN], "Received incorrect type"),
    ([RETURN, RETURN], "Multiple return points"),
    ([W(M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 0, 0.0, x=1, y=1)], "Non-positive circle radius"),
])
def test_validate_fence(items: list[mi.WireItem], problem: str | None) -> None:
    assert mi.validate_fence(items) == problem


def test_fence_shapes_breach() -> None:
    frame = LocalFrame(35.0, 139.0)

    def vertex(cmd: int, count: int, n: float, e: float) -> mi.WireItem:
        lat, lon = frame.to_latlon(n, e)
        return W(cmd, 0, count, x=round(lat * 1e7), y=round(lon * 1e7))

    items = [vertex(INC, 4, n, e) for n, e in ((-100, -100), (-100, 100), (100, 100), (100, -100))]
    items += [vertex(EXC, 3, n, e) for n, e in ((10, 10), (10, 30), (30, 20))]
    lat, lon = frame.to_latlon(-50, -50)
    items.append(W(M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 0, 5.0, x=round(lat * 1e7),
                   y=round(lon * 1e7)))
    shapes = FenceShapes.from_items(items, frame)
    assert not shapes.breached(0, 0)
    assert shapes.breached(150, 0)  # outside the inclusion polygon
    assert shapes.breached(15, 20)  # inside the exclusion triangle
    assert shapes.breached(-52, -51)  # inside the exclusion circle
    assert not point_in_polygon(0, 0, [])


# ---------------------------------------------------------------- camera
def _pose(t: float, north_m: float) -> Pose:
    return Pose(t, 350000000 + round(north_m / 0.011131884502145034), 1390000000, 10, 10, 0, 0, 0)


def test_distance_trigger_keeps_firing_until_zero_is_set() -> None:
    cam = Camera()
    assert cam.set_trigger_distance(5.0, _pose(0, 0)) == []
    shots = [s for i in range(101) for s in cam.update(_pose(i, i * 0.5))]
    assert 9 <= len(shots) <= 10  # 50 m at 5 m, measured from the first position seen
    north = [(s.pose.lat_e7 - 350000000) * 0.011131884502145034 for s in shots]
    assert all(5.0 <= b - a <= 5.6 for a, b in itertools.pairwise(north))
    cam.set_trigger_distance(0.0, _pose(101, 50))
    assert [s for i in range(101, 200) for s in cam.update(_pose(i, i * 0.5))] == []
    again = cam.set_trigger_distance(5.0, _pose(200, 100), True)  # param3: one shot at once
    assert [s.image_index for s in again] == [len(shots) + 1]


def test_interval_capture_stops_after_total() -> None:
    cam = Camera()
    first = cam.start_capture(2.0, 3, _pose(0, 0))
    later = [s for t in range(1, 20) for s in cam.update(_pose(t, 0))]
    assert len(first) == 1 and [s.pose.time_s for s in later] == [2, 4]


# ---------------------------------------------------------------- battery
def test_battery_voltage_falls_with_use_and_sags_under_load() -> None:
    b = Battery(3300)
    hover = Load(armed=True, flying=True)
    b.step(hover, 1.0)
    full = b.voltage_v
    b.set_remaining(0.15)
    b.step(hover, 1.0)
    assert full > 12.0 and 10.3 < b.voltage_v < 10.6  # about BATT_LOW_VOLT
    assert b.remaining_fraction == pytest.approx(0.15, abs=0.01)
    b.step(Load(armed=False, flying=False), 1.0)
    assert b.voltage_v > 10.6  # resting


# ---------------------------------------------------------------- kinematics
def test_step_xy_arrives_without_overshoot_and_respects_limits() -> None:
    body = Airframe()
    peak = 0.0
    for _ in range(2000):
        step_xy(body, 100.0, 0.0, LIMITS, 0.02)
        peak = max(peak, body.ground_speed_m_s)
    assert body.north_m == pytest.approx(100.0, abs=0.01) and body.north_m <= 100.0 + 1e-6
    assert peak == pytest.approx(10.0, abs=1e-6)


def test_leg_following_steers_back_onto_the_line() -> None:
    body = Airframe(north_m=5.0, east_m=0.0)
    worst_late = 0.0
    for _ in range(1500):
        step_xy(body, 0.0, 200.0, LIMITS, 0.02, origin=(0.0, 0.0))
        if body.east_m > 50:
            worst_late = max(worst_late, abs(body.north_m))
    assert worst_late < 0.05


# ---------------------------------------------------------------- params and streams
def test_param_store_types() -> None:
    p = ParamStore(overrides={"RTL_ALT": 2000})
    assert p["RTL_ALT"] == 2000 and p.set("BATT_FS_LOW_ACT", 300) == 127
    assert p.set("WPNAV_SPEED", 512.5) == 512.5 and p.set("DISARM_DELAY", 4.6) == 5
    with pytest.raises(KeyError, match="NOPE"):
        p.set("NOPE", 1)
    with pytest.raises(ValueError, match="cannot be set"):
        p.set("RTL_ALT", math.nan)
    assert p.name_at(p.index_of("RTL_ALT")) == "RTL_ALT"


def test_stream_schedule() -> None:
    s = StreamSchedule()
    assert s.due(0.0) == [M.MAVLINK_MSG_ID_HEARTBEAT]
    s.request_stream(M.MAV_DATA_STREAM_POSITION, 2, True, 0.0)
    due = [t / 50 for t in range(1, 101) if M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT in s.due(t / 50)]
    assert due == pytest.approx([0.02, 0.5, 1.0, 1.5, 2.0])
    s.request_stream(M.MAV_DATA_STREAM_ALL, 0, False, 2.0)
    assert s.interval_s(M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT) is None


# ---------------------------------------------------------------- copter without a network
@dataclass
class Recorder:
    texts: list[str] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)

    def text(self, severity: int, text: str) -> None:
        self.texts.append(text)

    def item_reached(self, seq: int) -> None:
        self.reached.append(seq)

    def mission_current(self) -> None:
        pass

    def camera_shot(self, shot: object) -> None:
        pass

    def home_changed(self) -> None:
        pass


def _run(c: Copter, seconds: float) -> None:
    for _ in range(round(seconds * 50)):
        c.step(0.02)


def test_copter_rtl_cone_limits_climb_near_home() -> None:
    rec = Recorder()
    c = Copter(LocalFrame(35.0, 139.0), 50.0, ParamStore(), rec)
    _run(c, 2.1)
    assert c.set_mode(CopterMode.GUIDED) and c.arm() and c.takeoff(3.0)
    _run(c, 6)
    c.guided_goto(2.0, 0.0, 53.0)
    _run(c, 5)
    assert c.set_mode(CopterMode.RTL)
    _run(c, 40)
    assert not c.armed and c.landed
    assert 5.9 < max(p.alt_rel_m for p in c.track if p.mode == "RTL") < 6.1  # 2 m × slope 3


def test_copter_battery_critical_lands() -> None:
    rec = Recorder()
    c = Copter(LocalFrame(35.0, 139.0), 0.0,
               ParamStore(overrides={"BATT_CRT_MAH": 300, "BATT_FS_CRT_ACT": 1}), rec)
    _run(c, 2.1)
    assert c.set_mode(CopterMode.GUIDED) and c.arm() and c.takeoff(10.0)
    _run(c, 8)
    c.battery.set_remaining(0.05)
    _run(c, 0.2)
    assert c.mode is CopterMode.LAND
    assert any(t.startswith("Battery 1 is critical") for t in rec.texts)


def _mission(c: Copter, *items: mi.WireItem) -> None:
    stored = [mi.home_item(0, 0, 0)]
    for it in items:
        result, s = mi.store_mission_item(it)
        assert result == M.MAV_MISSION_ACCEPTED and s is not None
        stored.append(s)
    c.on_mission(stored)


def test_copter_auto_change_speed_image_capture_and_land() -> None:
    rec = Recorder()
    frame = LocalFrame(35.0, 139.0)
    c = Copter(frame, 0.0, ParamStore(), rec)
    lat, lon = frame.to_latlon(80.0, 0.0)
    wp = W(M.MAV_CMD_NAV_WAYPOINT, 6, x=round(lat * 1e7), y=round(lon * 1e7), z=15)
    _mission(c,
             W(M.MAV_CMD_NAV_TAKEOFF, 6, z=15),
             W(M.MAV_CMD_DO_CHANGE_SPEED, 2, 1, 4.0, -1),
             W(M.MAV_CMD_IMAGE_START_CAPTURE, 2, 0, 2.0, 5, 0),
             wp,
             W(M.MAV_CMD_NAV_LAND, 6))
    _run(c, 2.1)
    assert c.set_mode(CopterMode.GUIDED) and c.arm() and c.set_mode(CopterMode.AUTO)
    c.auto_armed = True  # what MISSION_START does
    _run(c, 80)
    assert rec.reached == [1, 2, 4, 5]  # DO_CHANGE_SPEED is verified by Copter; camera is not
    assert not c.armed and c.landed
    ne = [frame.to_ne(p.lat_deg, p.lon_deg) for p in c.track]
    speeds = [math.dist(a, b) / (q.time_s - p.time_s)
              for a, b, p, q in zip(ne, ne[1:], c.track, c.track[1:], strict=False)]
    assert max(speeds) == pytest.approx(4.0, abs=0.05)  # not WPNAV_SPEED's 10 m/s
    assert c.camera.image_count == 5
    north, _ = frame.to_ne(c.track[-1].lat_deg, c.track[-1].lon_deg)
    assert north == pytest.approx(80.0, abs=0.3)


def test_copter_do_jump_repeats_and_set_current_skips() -> None:
    rec = Recorder()
    frame = LocalFrame(35.0, 139.0)
    c = Copter(frame, 0.0, ParamStore(), rec)

    def wp(n: float) -> mi.WireItem:
        lat, lon = frame.to_latlon(n, 0.0)
        return W(M.MAV_CMD_NAV_WAYPOINT, 6, x=round(lat * 1e7), y=round(lon * 1e7), z=5)

    _mission(c, W(M.MAV_CMD_NAV_TAKEOFF, 6, z=5), wp(5), wp(10),
             W(M.MAV_CMD_DO_JUMP, 2, 2, 1), wp(0), wp(20), W(M.MAV_CMD_NAV_LAND, 6))
    _run(c, 2.1)
    assert c.set_mode(CopterMode.GUIDED) and c.arm() and c.set_mode(CopterMode.AUTO)
    c.auto_armed = True
    while 5 not in rec.reached and c.time_s < 100:
        _run(c, 0.1)
    assert rec.reached == [1, 2, 3, 2, 3, 5]  # one repeat, then on
    assert c.auto.set_current(7)  # skip seq 6: land now
    _run(c, 30)
    assert rec.reached[-1] == 7 and 6 not in rec.reached and not c.armed
