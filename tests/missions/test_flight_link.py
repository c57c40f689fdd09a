"""Flying through trouble (#16): a link that goes quiet and comes back, a ground station that
stops and another that attaches to the sortie in the air, and a vehicle that lacks what the
plan needs. On the built-in vehicle; every wait has a deadline."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from missions.fly.flight import EventKind, FlightConfig, FlightEvent, fly_plan
from missions.fly.resume import FlightProgress
from missions.plan.model import Plan
from survey.core.errors import FlightAborted, VehicleRefused
from tests.missions.sims import FAST, Sim


def _events(kinds: set[EventKind], into: list[FlightEvent]) -> Any:
    def on_event(e: FlightEvent) -> None:
        if e.kind in kinds:
            into.append(e)
    return on_event


@pytest.mark.parametrize("sim_params", [{"FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 2}])
def test_a_link_that_comes_back_is_followed_through_the_failsafe_to_landing(
        builtin: Sim, link_to: Any, plan_dir: Path) -> None:
    """Radio silent both ways in flight: the vehicle's GCS failsafe turns it home; when the
    radio is back, `fly` reports the vehicle's RTL and follows it to landing."""
    link = link_to(builtin)
    seen: list[FlightEvent] = []
    record = _events({EventKind.LINK_LOST, EventKind.LINK_BACK, EventKind.MODE,
                      EventKind.DISARMED}, seen)
    restored = threading.Event()

    def restore_once_home_bound() -> None:
        try:
            builtin.v.wait_for(lambda s: s.mode.name == "RTL", timeout_s=30)
        finally:
            builtin.v.clear_fault("telemetry_loss")
            restored.set()

    def on_event(e: FlightEvent) -> None:
        record(e)
        if e.kind is EventKind.REACHED and e.seq == 2 and not restored.is_set():
            builtin.v.inject_fault("telemetry_loss")
        if e.kind is EventKind.LINK_LOST and len([x for x in seen
                                                  if x.kind is EventKind.LINK_LOST]) == 1:
            threading.Thread(target=restore_once_home_bound, daemon=True).start()

    cfg = FlightConfig(ready_timeout_s=20.0, sortie_timeout_s=60.0, heartbeat_timeout_s=0.5,
                       link_lost_timeout_s=30.0, link_report_s=1.0)
    with pytest.raises(FlightAborted, match="left AUTO for RTL") as err:
        fly_plan(link, plan_dir, sorties=[1], on_event=on_event, config=cfg)
    assert err.value.exit_code == 5
    kinds = [e.kind for e in seen]
    assert EventKind.LINK_LOST in kinds and EventKind.LINK_BACK in kinds
    lost = next(e for e in seen if e.kind is EventKind.LINK_LOST)
    assert "last seen in AUTO at 36.07" in lost.text and "battery" in lost.text
    assert kinds.index(EventKind.LINK_BACK) < kinds.index(EventKind.DISARMED)
    assert any(e.kind is EventKind.MODE and "AUTO → RTL" in e.text for e in seen)
    state = builtin.v.state()
    assert not state.armed and state.landed
    assert not FlightProgress.load(plan_dir / "flight").of(1).in_flight  # it has landed


def test_a_second_ground_station_attaches_to_the_sortie_in_the_air(
        builtin: Sim, link_to: Any, plan_dir: Path) -> None:
    """The first `fly` stops in flight (here Ctrl-C: RTL); a new one with resume=True finds
    the vehicle armed, attaches, and follows it to landing, keeping the photos taken."""
    first = link_to(builtin)

    def stop_after_photos(e: FlightEvent) -> None:
        if e.kind is EventKind.PHOTO and e.text == "photo 3":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fly_plan(first, plan_dir, sorties=[1], on_event=stop_after_photos, config=FAST)
    first.close()
    photos_file = plan_dir / "flight" / "sortie_01_photos.json"
    assert len(json.loads(photos_file.read_text())["photos"]) >= 3
    assert FlightProgress.load(plan_dir / "flight").of(1).in_flight
    assert builtin.v.state().armed

    second = link_to(builtin)
    with pytest.raises(VehicleRefused, match=r"already armed, in RTL.*`resume`"):
        fly_plan(second, plan_dir, sorties=[1], config=FAST)
    seen: list[FlightEvent] = []
    with pytest.raises(FlightAborted, match="found in RTL when attached"):
        fly_plan(second, plan_dir, sorties=[1], resume=True, config=FAST,
                 on_event=_events({EventKind.ATTACHED, EventKind.DISARMED}, seen))
    assert [e.kind for e in seen] == [EventKind.ATTACHED, EventKind.DISARMED]
    assert "in RTL" in seen[0].text
    assert not builtin.v.state().armed
    progress = FlightProgress.load(plan_dir / "flight").of(1)
    assert not progress.in_flight and not progress.completed and progress.last_reached >= 2
    assert len(json.loads(photos_file.read_text())["photos"]) >= 3  # kept, not overwritten

    builtin.refill(1)
    result = fly_plan(second, plan_dir, sorties=[1], resume=True, config=FAST)  # on the ground
    assert result.completed


def test_an_armed_vehicle_with_no_sortie_in_the_air_is_not_attached_to(
        builtin: Sim, link_to: Any, plan_dir: Path) -> None:
    from missions.fly import commands as cmd
    from survey.core.mavlink import CopterMode

    link = link_to(builtin)
    builtin.v.wait_for(lambda s: s.ready, timeout_s=20)
    cmd.set_mode(link, CopterMode.GUIDED)
    cmd.arm(link)
    link.expect("HEARTBEAT", 5.0, lambda h: h.base_mode & 128)  # MAV_MODE_FLAG_SAFETY_ARMED
    with pytest.raises(VehicleRefused, match="records no sortie of this plan in the air"):
        fly_plan(link, plan_dir, sorties=[1], resume=True, config=FAST)


@pytest.mark.parametrize(("sim_params", "missing"), [
    ({"CAM1_TYPE": 0}, "a configured camera for the plan's photos (CAM1_TYPE is 0"),
    ({"BATT_MONITOR": 0}, "a battery monitor for the battery swaps between sorties "
                          "(BATT_MONITOR is 0"),
])
def test_a_vehicle_missing_equipment_is_refused_in_one_line(
        builtin: Sim, link_to: Any, plan_dir: Path, plan: Plan, missing: str) -> None:
    assert len(plan.sorties) > 1  # battery swaps needed
    link = link_to(builtin)
    with pytest.raises(VehicleRefused, match="the plan needs what ArduPilot") as err:
        fly_plan(link, plan_dir, config=FAST)
    assert missing in str(err.value) and "\n" not in str(err.value)
    assert not [m for m in builtin.v.received_messages() if m.msg_type == "MISSION_COUNT"]


def test_a_sortie_whose_item_reached_messages_are_all_lost_still_completes(
        builtin: Sim, link_to: Any, plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ArduPilot drops messages when a link's buffer is full: MISSION_CURRENT moving on (and
    the disarm at the end of the mission's own RTL) says the items were done."""
    from missions.fly import link as link_mod

    offer = link_mod.Subscription._offer

    def lossy(self: Any, msg: Any) -> None:
        if msg.get_type() != "MISSION_ITEM_REACHED":
            offer(self, msg)

    monkeypatch.setattr(link_mod.Subscription, "_offer", lossy)
    result = fly_plan(link_to(builtin), plan_dir, sorties=[1], config=FAST)
    assert result.completed and result.sorties[0].reached
    progress = FlightProgress.load(plan_dir / "flight").of(1)
    assert progress.completed and progress.last_reached >= 4
