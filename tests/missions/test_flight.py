"""Flying planned sorties end to end, on the built-in vehicle (and ArduPilot SITL when
``ARDUPILOT_SITL`` names an ``arducopter`` binary).

Every wait has a deadline; no test sleeps to synchronise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, Point, Polygon

from missions.fly.flight import EventKind, FlightConfig, FlightEvent, fly_plan
from missions.fly.resume import FlightProgress
from missions.fly.transfer.protocol import TransferConfig
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from survey.core.errors import FlightAborted, LinkTimeout, VehicleRefused
from tests.missions.sims import FAST, SPEEDUP, Sim


def _dist_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111_320.0
    dlon = (a[1] - b[1]) * 111_320.0 * math.cos(math.radians(a[0]))
    return math.hypot(dlat, dlon)


def test_two_sortie_survey_flies_to_the_end(sim: Sim, link_to: Any, plan: Plan,
                                            plan_dir: Path) -> None:
    link = link_to(sim)
    events: list[FlightEvent] = []
    result = fly_plan(link, plan_dir, on_event=events.append, battery_swap=sim.refill,
                      config=FAST)

    assert result.completed and [s.number for s in result.sorties] == [1, 2]
    for s, planned in zip(result.sorties, plan.sorties, strict=True):
        nav = [i + 1 for i, it in enumerate(planned.items)
               if it.command in (16, 22, 20)]  # waypoint, take-off, RTL
        assert set(nav) <= set(s.reached), (s.number, s.reached)
        assert len(s.photos) >= 0.8 * len(planned.photos)
        photos = json.loads(s.photos_path.read_text())["photos"]
        assert len(photos) == len(s.photos)
        lines = s.log_path.read_text().splitlines()
        assert any(json.loads(line)["type"] == "GLOBAL_POSITION_INT" for line in lines)
    kinds = {e.kind for e in events}
    assert {EventKind.ARMED, EventKind.REACHED, EventKind.PHOTO, EventKind.DISARMED,
            EventKind.WAITING_BATTERY} <= kinds
    progress = FlightProgress.load(plan_dir / "flight")
    assert all(progress.of(n).completed for n in (1, 2))

    if sim.kind == "builtin":
        st = sim.v.state()
        assert not st.armed and st.landed
        assert _dist_m((st.lat_deg, st.lon_deg), (plan.home_lat_deg, plan.home_lon_deg)) < 3.0
        track = sim.v.track()
        path = LineString([(p.lon_deg, p.lat_deg) for p in track])
        for zone in plan.fence:
            if not zone.inclusion:
                poly = Polygon([(lon, lat) for lat, lon in zone.vertices])
                assert not path.intersects(poly)
                assert not any(poly.contains(Point(p.lon_deg, p.lat_deg)) for p in track)


@pytest.mark.parametrize("sim_params", [{"BATT_FS_LOW_ACT": 2}])
def test_low_battery_failsafe_is_reported(builtin: Sim, link_to: Any, plan_dir: Path) -> None:
    link = link_to(builtin)
    failsafes: list[FlightEvent] = []

    def on_event(e: FlightEvent) -> None:
        if e.kind is EventKind.REACHED and e.seq == 2:
            builtin.v.set_battery_remaining_pct(5.0)
        if e.kind is EventKind.FAILSAFE:
            failsafes.append(e)

    with pytest.raises(FlightAborted, match="sortie 1 interrupted"):
        fly_plan(link, plan_dir, sorties=[1], on_event=on_event, config=FAST)
    assert failsafes, "no failsafe event"
    st = builtin.v.wait_for(lambda s: not s.armed, timeout_s=30)
    assert st.landed
    progress = FlightProgress.load(plan_dir / "flight")
    assert not progress.of(1).completed and progress.of(1).last_reached >= 2


def test_resume_goes_on_from_the_last_reached_item(builtin: Sim, link_to: Any,
                                                   plan: Plan, plan_dir: Path) -> None:
    FlightProgress({1: _progress(False, 4)}).save(plan_dir / "flight")
    link = link_to(builtin)
    result = fly_plan(link, plan_dir, sorties=[1], resume=True, config=FAST)
    s = result.sorties[0]
    assert s.completed
    assert min(s.reached) == 1 and 2 not in s.reached and 3 not in s.reached
    assert max(s.reached) == len(plan.sorties[0].items)


def _progress(completed: bool, last: int) -> Any:
    from missions.fly.resume import SortieProgress
    return SortieProgress(completed, last)


def test_ctrl_c_commands_rtl(builtin: Sim, link_to: Any, plan_dir: Path) -> None:
    link = link_to(builtin)

    def on_event(e: FlightEvent) -> None:
        if e.kind is EventKind.REACHED and e.seq == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fly_plan(link, plan_dir, sorties=[1], on_event=on_event, config=FAST)
    builtin.v.wait_for(lambda s: s.mode.name == "RTL", timeout_s=5)
    builtin.v.wait_for(lambda s: not s.armed and s.landed, timeout_s=30)


def test_arming_refused_names_the_vehicle_reason(builtin: Sim, link_to: Any,
                                                 plan_dir: Path) -> None:
    link = link_to(builtin)
    builtin.v.inject_fault("arming_refused")
    with pytest.raises(VehicleRefused, match="PreArm: Injected fault"):
        fly_plan(link, plan_dir, config=FlightConfig(ready_timeout_s=0.5,
                                                     transfer=TransferConfig()))
    assert not builtin.v.state().armed


def test_lost_telemetry_in_flight_is_a_typed_timeout(builtin: Sim, link_to: Any,
                                                     plan_dir: Path) -> None:
    link = link_to(builtin)

    def on_event(e: FlightEvent) -> None:
        if e.kind is EventKind.REACHED and e.seq == 2:
            builtin.v.inject_fault("telemetry_loss")

    cfg = FlightConfig(ready_timeout_s=20.0, sortie_timeout_s=60.0, heartbeat_timeout_s=0.5,
                       link_lost_timeout_s=1.0)
    with pytest.raises(LinkTimeout, match=r"link lost; last seen in AUTO at 36\.07") as err:
        fly_plan(link, plan_dir, sorties=[1], on_event=on_event, config=cfg)
    assert "`resume`" in str(err.value) and err.value.exit_code == 3
    progress = FlightProgress.load(plan_dir / "flight").of(1)
    assert progress.last_reached >= 2 and progress.in_flight  # another fly may attach to it


def test_flying_one_sortie_keeps_the_others_progress(builtin: Sim, link_to: Any,
                                                     plan_dir: Path) -> None:
    FlightProgress({1: _progress(True, 9)}).save(plan_dir / "flight")
    link = link_to(builtin)
    fly_plan(link, plan_dir, sorties=[2], config=FAST)
    progress = FlightProgress.load(plan_dir / "flight")
    assert progress.of(1).completed and progress.of(2).completed


def test_a_vehicle_away_from_the_plans_home_is_refused(plan: Plan, link_to: Any,
                                                       plan_dir: Path) -> None:
    """The route, fences and altitudes assume take-off at the plan's home: 300 m off, no."""
    far = BuiltinCopter(plan.home_lat_deg + 300 / 111_320.0, plan.home_lon_deg, 20.0,
                        speedup=SPEEDUP).start()
    try:
        far_sim = Sim.__new__(Sim)
        far_sim.kind, far_sim.v, far_sim.url = "builtin", far, far.url
        link = link_to(far_sim)
        with pytest.raises(VehicleRefused, match=r"is (29\d|30\d) m from the plan's home"):
            fly_plan(link, plan_dir, config=FAST)
        assert not far.state().armed
    finally:
        far.stop()
