"""A fence breach is reported as a failsafe, with where it happened (#16: ArduCopter sends
"Polygon breached" at NOTICE severity, and `survey fly` printed it as an ordinary line)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from missions.fly.flight import EventKind, FlightEvent, fly_plan
from missions.fly.link import connect
from missions.plan.export.bundle import write_plan_files
from missions.plan.items import FenceZone
from missions.plan.model import Plan
from survey.core.errors import FlightAborted
from tests.missions.conftest import SORTIE_LINES
from tests.missions.sims import FAST, VEHICLES, Sim


@pytest.mark.parametrize("kind", VEHICLES)
def test_a_breach_is_a_failsafe_with_its_position(kind: str, plan: Plan, tmp_path: Path) -> None:
    (lat0, lon0), (lat1, _) = SORTIE_LINES[0][0]  # the first survey line, flown north
    mid = (lat0 + lat1) / 2
    across = FenceZone(False, ((mid, lon0 - 0.0003), (mid + 0.0002, lon0 - 0.0003),
                               (mid + 0.0002, lon0 + 0.0003), (mid, lon0 + 0.0003)))
    write_plan_files(replace(plan, fence=(*plan.fence, across)), tmp_path / "plan")
    events: list[FlightEvent] = []
    sim = Sim(kind, (plan.home_lat_deg, plan.home_lon_deg), {})
    try:
        with connect(sim.url, timeout_s=10) as link:
            with pytest.raises(FlightAborted, match=r"breached at 36\.07"):
                fly_plan(link, tmp_path / "plan", sorties=[1], on_event=events.append,
                         config=FAST)
    finally:
        sim.stop()
    breach = [e for e in events if e.kind is EventKind.FAILSAFE and "breached" in e.text]
    assert breach, [e.text for e in events if e.kind in (EventKind.STATUSTEXT,
                                                          EventKind.FAILSAFE)]
    lat = float(breach[0].text.split(" at ")[1].split(",")[0])
    assert abs(lat - mid) < 0.0003  # at the zone's edge, where the line meets it
