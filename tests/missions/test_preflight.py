"""Pre-flight waits for what it needs with a deadline instead of reading a value that has not
arrived yet (#16: "battery at None %", a race that failed a CLI test under load)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from missions.fly.flight import fly_plan
from missions.fly.link import connect
from missions.plan.export.bundle import write_plan_files
from missions.plan.model import Plan
from sitl.builtin import BuiltinCopter
from survey.core.errors import VehicleRefused
from tests.missions.sims import FAST


def test_no_battery_monitor_is_named_not_read_as_none(plan: Plan, tmp_path: Path) -> None:
    write_plan_files(plan, tmp_path / "plan")
    with BuiltinCopter(plan.home_lat_deg, plan.home_lon_deg, 20.0, speedup=20.0,
                       params={"BATT_MONITOR": 0}) as v, connect(v.url, timeout_s=10) as link:
        with pytest.raises(VehicleRefused, match=r"no battery level in 2 s .*BATT_MONITOR"):
            fly_plan(link, tmp_path / "plan", sorties=[1],
                     config=replace(FAST, ready_timeout_s=2.0))
        assert not v.state().armed
