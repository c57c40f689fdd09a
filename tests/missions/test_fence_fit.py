"""Fences ArduPilot has room for (#11): round zones sent as circles, every fence fitted to
ArduCopter's 560-byte / 70-item fence storage, the built-in vehicle refusing what ArduPilot
refuses, and a fence the vehicle has no room for simplified and sent again."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from missions.fly.fence_upload import flown_lonlat, upload_fence
from missions.fly.flight import fly_plan
from missions.fly.link import connect
from missions.fly.transfer.machines import Phase, TransferConfig, UploadMachine
from missions.fly.transfer.protocol import download
from missions.fly.transfer.wire import MissionType
from missions.plan.drone import DroneProfile
from missions.plan.export.bundle import write_plan_files
from missions.plan.fence_budget import (
    ARDUPILOT_FENCE,
    SMALLER_FENCES,
    FenceBudget,
    fit_fence,
    fits,
    item_count,
    storage_bytes,
    zone_shape,
)
from missions.plan.inputs import Zone
from missions.plan.items import FenceZone
from missions.plan.model import Plan
from missions.plan.planner import PlanRequest, make_plan
from sitl.builtin import BuiltinCopter
from sitl.builtin.mission_items import FENCE_MAX_ITEMS, WireItem, validate_fence
from sitl.builtin.protocol import mavlink
from survey.core.camera import CATALOG
from survey.core.frame import LocalFrame
from tests.missions.sims import FAST, VEHICLES, Sim

FRAME = LocalFrame(36.0731, 139.9825)
MARGIN_M = 10.0


def zones_scene() -> list[Zone]:
    """Three round no-fly zones (a point with radius_m, as read_zones makes them: 64
    vertices) and two polygonal ones, one of them L-shaped."""
    round_ = [Point(x, y).buffer(r, quad_segs=16) for x, y, r in
              ((-60, 60, 18), (70, -40, 25), (10, 130, 12))]
    ell = shapely.union_all([box(40, 40, 120, 60), box(100, 40, 120, 120)])
    tower = shapely.affinity.rotate(box(-90, -90, -60, -70), 30)
    shapes = [*round_, ell, tower]
    return [Zone(FRAME.geom_to_geo(g), None, f"zone {i}") for i, g in enumerate(shapes)]


@pytest.fixture(scope="module")
def zoned_plan() -> Plan:
    area = FRAME.geom_to_geo(box(-150, -150, 150, 180))
    return make_plan(PlanRequest(area=area, camera=CATALOG["mavic3e"], altitude_m=80.0,
                                 zones=zones_scene(), margin_m=MARGIN_M,
                                 drone=DroneProfile(endurance_s=15 * 60.0)))


def test_round_zones_go_as_circles_and_the_fence_fits_ardupilot(zoned_plan: Plan) -> None:
    plan = zoned_plan
    circles = [z for z in plan.fence if z.is_circle]
    polygons = [z for z in plan.fence if not z.is_circle and not z.inclusion]
    assert len(circles) == 3 and len(polygons) == 2
    assert fits(plan.fence, ARDUPILOT_FENCE)
    drawn = [plan.frame.geom_to_local(z.geometry) for z in zones_scene()]
    for zone in circles + polygons:  # each fence holds its zone with half the margin
        shape = zone_shape(zone, plan.frame)
        assert any(shape.contains(d.buffer(MARGIN_M / 4)) for d in drawn)
        for s in plan.sorties:
            assert not s.route.intersects(shape)
    for z, r in zip(sorted(circles, key=lambda c: c.radius_m or 0),
                    (12 + MARGIN_M / 2, 18 + MARGIN_M / 2, 25 + MARGIN_M / 2), strict=True):
        assert z.radius_m == pytest.approx(r, abs=1.0)


def test_storage_model_matches_ardupilot() -> None:
    """fence_storage_space_required: header 4, polygon 2 + 8n, circle 13, end marker 1."""
    square = FenceZone(True, ((0.0, 0.0), (0.0, 0.001), (0.001, 0.001), (0.001, 0.0)))
    circle = FenceZone(False, ((0.0005, 0.0005),), 20.0)
    assert storage_bytes([square]) == 4 + 2 + 32 + 1
    assert storage_bytes([square, circle]) == 39 + 13 and item_count([square, circle]) == 5
    assert (ARDUPILOT_FENCE.bytes, ARDUPILOT_FENCE.items) == (560, 70) == (
        560, FENCE_MAX_ITEMS)


def _many_zones(n: int) -> list[Polygon]:
    """``n`` detailed (non-round) zones in a row: 40-vertex stars."""
    out = []
    for k in range(n):
        ang = [2 * math.pi * i / 40 for i in range(40)]
        out.append(Polygon([(k * 60 + (20 + 6 * (i % 2)) * math.cos(a),
                             (20 + 6 * (i % 2)) * math.sin(a)) for i, a in enumerate(ang)]))
    return out


def test_fitting_coarsens_without_shrinking_or_touching_the_route() -> None:
    zones = _many_zones(8)  # 8 × 40 vertices: ~2.6 kB, far over 560
    route = shapely.geometry.LineString([(-40, 45), (480, 45)])  # 45 m north of the row
    fitted = fit_fence([box(-60, -60, 500, 100)], zones, FRAME, keep_clear=route)
    assert fits(fitted.zones, ARDUPILOT_FENCE) and fitted.dropped == 0
    assert fitted.coarsened >= 8 and "simplified" in str(fitted.note())
    shapes = [zone_shape(z, FRAME) for z in fitted.zones if not z.inclusion]
    for zone, shape in zip(zones, shapes, strict=True):
        assert shape.buffer(1e-6).contains(zone)
        assert shape.distance(route) >= 2.0
    small = fit_fence([box(-60, -60, 500, 100)], zones, FRAME, SMALLER_FENCES[1],
                      keep_clear=route)  # a 4 KiB board: 48 bytes
    assert fits(small.zones, SMALLER_FENCES[1]) and small.dropped > 0
    assert "left out" in str(small.note())


@pytest.mark.parametrize("n", [10, 60, 200])
def test_fitting_many_zones_keeps_the_same_fence_as_the_greedy_fit(n, monkeypatch) -> None:
    """With more zones than even circles can fit, the fit is built directly; it must equal
    what the greedy coarsening (then dropping) gives."""
    from missions.plan import fence_budget

    zones = _many_zones(n)
    route = shapely.geometry.LineString([(-40, 45), (60 * n, 45)])
    inclusion = [box(-60, -60, 60 * n + 20, 100)]
    fast = fit_fence(inclusion, zones, FRAME, keep_clear=route)
    monkeypatch.setattr(fence_budget, "_coarsen_all_then_drop", fence_budget._coarsen)
    greedy = fit_fence(inclusion, zones, FRAME, keep_clear=route)
    assert fast == greedy
    assert fits(fast.zones, ARDUPILOT_FENCE) and (fast.dropped > 0) == (n > 10)


def test_builtin_vehicle_refuses_what_ardupilot_refuses() -> None:
    def vertex(n: int, i: int) -> WireItem:
        a = 2 * math.pi * i / n
        return WireItem(mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, 0, float(n),
                        0.0, 0.0, 0.0, int((36.07 + 0.001 * math.sin(a)) * 1e7),
                        int((139.98 + 0.001 * math.cos(a)) * 1e7), 0.0)

    assert validate_fence([vertex(69, i) for i in range(69)]) is None  # 4+2+552+1 = 559
    assert validate_fence([vertex(70, i) for i in range(70)]) == "Fence exceeds storage size"


def _fence_items(zones: list[FenceZone]) -> list[Any]:
    return [i for z in zones for i in z.items()]


def test_a_fence_without_room_is_simplified_and_sent_again(zoned_plan: Plan) -> None:
    """Over the budget (here: a planned fence made 4× finer by hand), the built-in vehicle
    answers NO_SPACE as ArduPilot does; the upload refits it and the vehicle holds that."""
    plan = zoned_plan
    fine = []
    for z in plan.fence:
        shape = zone_shape(z, plan.frame).segmentize(3.0)
        geo = plan.frame.geom_to_geo(shape)
        fine.append(FenceZone(z.inclusion, tuple((lat, lon) for lon, lat in
                                                 geo.exterior.coords[:-1])))
    assert item_count(fine) > FENCE_MAX_ITEMS
    v = BuiltinCopter(plan.home_lat_deg, plan.home_lon_deg, 20.0, speedup=20.0).start()
    notes: list[str] = []
    try:
        link = connect(v.url, timeout_s=10)
        try:
            items = [it for s in plan.sorties for it in s.items]
            flown = flown_lonlat((plan.home_lat_deg, plan.home_lon_deg, 0.0), items, plan.rally)
            held = upload_fence(link, fine, flown, on_note=notes.append)
            got = download(link, MissionType.FENCE)
        finally:
            link.close()
    finally:
        v.stop()
    assert len(notes) == 1 and "no room for the fence" in notes[0], notes
    assert fits(held, SMALLER_FENCES[0])
    assert len(got) == item_count(held)


def test_mission_error_mid_transfer_is_retried_but_not_after_the_last_item() -> None:
    """ArduPilot answers MISSION_ERROR to an item that arrives after it gave up on a slow
    upload: start again. MISSION_ERROR after the last item is its verdict: a refusal."""
    for answered, retryable in ((2, True), (4, False)):
        m = UploadMachine(5, TransferConfig())
        m.start(0.0)
        for seq in range(answered + 1):
            m.on_request(seq, 0.1 * (seq + 1))
        assert m.phase is Phase.TRANSFERRING and m.last_sent == answered
        m.on_ack(mavlink.MAV_MISSION_ERROR, 1.0)
        assert m.failure is not None and m.failure.retryable is retryable


def _read_param(link: Any, name: str) -> float:
    with link.subscribe("PARAM_VALUE") as values:
        link.send(link.mav.param_request_read_encode(link.target_system, link.target_component,
                                                     name.encode("ascii"), -1))
        msg = values.get(5.0, lambda m: m.param_id.rstrip("\0") == name, what=name)
    return float(msg.param_value)


@pytest.fixture(params=VEHICLES)
def zoned_sim(request: pytest.FixtureRequest, zoned_plan: Plan) -> Any:
    sim = Sim(request.param, (zoned_plan.home_lat_deg, zoned_plan.home_lon_deg), {})
    try:
        yield sim
    finally:
        sim.stop()


@pytest.mark.slow
def test_a_plan_with_round_and_polygonal_zones_flies_to_the_end(
        zoned_sim: Sim, zoned_plan: Plan, tmp_path: Path) -> None:
    """On ArduPilot SITL this is the plan that stopped at MAV_MISSION_NO_SPACE when each
    round zone went up as dozens of vertices."""
    write_plan_files(zoned_plan, tmp_path / "plan")
    link = connect(zoned_sim.url, timeout_s=10)
    try:
        events: list[Any] = []
        result = fly_plan(link, tmp_path / "plan", battery_swap=zoned_sim.refill,
                          config=replace(FAST, sortie_timeout_s=400.0), on_event=events.append)
        held = download(link, MissionType.FENCE)
        enforced = {name: _read_param(link, name) for name in ("FENCE_ENABLE", "FENCE_TYPE")}
    finally:
        link.close()
    assert enforced == {"FENCE_ENABLE": 1.0, "FENCE_TYPE": 4.0}  # stored *and* enforced
    assert result.completed and len(result.sorties) == len(zoned_plan.sorties), events[-5:]
    assert not [e for e in events if e.kind.value in ("failsafe", "statustext")
                and "fence" in e.text.lower()]  # no breach, nothing refitted
    assert len(held) == item_count(zoned_plan.fence)
    assert sum(1 for it in held if it.command in (
        mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,)) == 3
    assert FenceBudget.ardupilot().bytes >= storage_bytes(zoned_plan.fence)
