"""Planning in a steady wind: ground speed per leg, sweep lines across the wind, headway."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box

from missions.plan.drone import DroneProfile, Wind
from missions.plan.planner import PlanRequest, make_plan
from missions.plan.sorties import path_time_s
from survey.core.camera import CATALOG
from survey.core.errors import ParamError
from survey.core.frame import LocalFrame

FRAME = LocalFrame(36.07, 139.99)


def square_plan(wind: Wind, size_m: float = 800.0, **drone):
    half = size_m / 2
    return make_plan(PlanRequest(area=FRAME.geom_to_geo(box(-half, -half, half, half)),
                                 camera=CATALOG["mavic3e"], gsd_cm=2.0,
                                 drone=DroneProfile(wind=wind, **drone)))


def line_headings(plan) -> np.ndarray:
    """Heading (0–180° from north) of every photo line flown, weighted by nothing."""
    return np.array([p.heading_deg % 180.0 for s in plan.sorties for p in s.photos])


@given(speed=st.floats(0.0, 9.5), from_deg=st.floats(0.0, 360.0),
       heading=st.floats(0.0, 360.0))
def test_wind_triangle(speed, from_deg, heading):
    """Airspeed vector = ground velocity − wind, and its length is the cruise speed."""
    w = Wind(speed, from_deg)
    h = math.radians(heading)
    ux, uy = math.sin(h), math.cos(h)
    g = float(w.ground_speed_m_s(10.0, np.array([ux]), np.array([uy]))[0])
    wx, wy = w.vector
    assert g > 0
    assert math.hypot(g * ux - wx, g * uy - wy) == pytest.approx(10.0, abs=1e-9)


def test_out_and_back_along_the_wind():
    d = DroneProfile(cruise_speed_m_s=10.0, wind=Wind(6.0, 270.0), turn_s=0.0)  # from the west
    east, west = d.legs_time_s(np.array([1000.0, -1000.0]), np.array([0.0, 0.0]))
    assert east == pytest.approx(1000 / 16) and west == pytest.approx(1000 / 4)
    across = d.legs_time_s(np.array([0.0]), np.array([1000.0]))[0]
    assert across == pytest.approx(1000 / 8)
    # The reach is set by the worst round trip: along the wind.
    assert d.round_trip_speed_m_s() == pytest.approx(2000 / (east + west))


def test_sortie_time_counts_ground_speed():
    """The same route takes longer in a wind than in still air (upwind legs lose more than
    downwind legs gain), and the sortie's time is that of its own legs."""
    calm = square_plan(Wind())
    windy = DroneProfile(wind=Wind(6.0, 0.0))
    for s in calm.sorties:
        t_calm = path_time_s(list(s.route.coords), calm.drone, calm.altitude_m)
        t_wind = path_time_s(list(s.route.coords), windy, calm.altitude_m)
        assert t_wind > 1.05 * t_calm
    plan = square_plan(Wind(6.0, 0.0))
    for s in plan.sorties:
        assert s.time_s == pytest.approx(path_time_s(list(s.route.coords), plan.drone,
                                                     plan.altitude_m))
        assert s.time_s <= plan.drone.budget_s + 1e-6
    assert plan.time_s > calm.time_s
    assert any("wind from 000°" in n for n in plan.notes)


@pytest.mark.parametrize("from_deg, across_deg", [(0.0, 90.0), (90.0, 0.0), (180.0, 90.0),
                                                  (45.0, 135.0)])
def test_sweeps_across_the_wind(from_deg, across_deg):
    """On a square (no shape to prefer a direction) the lines run across the wind."""
    plan = square_plan(Wind(6.0, from_deg))
    h = line_headings(plan)
    off = np.abs((h - across_deg + 90.0) % 180.0 - 90.0)
    assert np.median(off) < 1.0, (from_deg, np.median(h))


def test_crosswind_plan_is_faster_than_the_still_air_angle():
    """Wind along the still-air sweep direction: turning the lines across it saves time."""
    calm = square_plan(Wind())
    along = float(np.median(line_headings(calm)))  # the still-air line heading
    wind = Wind(6.0, along)  # blowing along those lines
    plan = square_plan(wind)
    forced = DroneProfile(wind=wind)
    t_same_route = sum(path_time_s(list(s.route.coords), forced, calm.altitude_m)
                       for s in calm.sorties)
    assert plan.time_s < 0.95 * t_same_route


def test_no_headway_refused():
    with pytest.raises(ParamError, match="no headway"):
        square_plan(Wind(10.0, 270.0), cruise_speed_m_s=10.0)
    with pytest.raises(ParamError, match="wind_m_s"):
        square_plan(Wind(-1.0, 270.0))


def test_reach_shrinks_in_wind():
    """A short battery: the wind leaves less of the area within reach, never a sortie over its
    budget."""
    calm = square_plan(Wind(), size_m=2500.0, endurance_s=8 * 60.0, max_range_m=5000.0)
    windy = square_plan(Wind(7.0, 90.0), size_m=2500.0, endurance_s=8 * 60.0,
                        max_range_m=5000.0)
    assert windy.unreachable.area > calm.unreachable.area
    assert all(s.time_s <= windy.drone.budget_s + 1e-6 for s in windy.sorties)
