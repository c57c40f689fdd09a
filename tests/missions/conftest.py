"""A small hand-built Plan: two sorties over fields in Jōsō, Ibaraki (the 2015 Kinu river flood).

Coordinates carry 10 decimals on purpose, so an exporter that rounds to 6 or 7 fails the
round-trip tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

from missions.fly.link import Link, connect
from missions.plan.drone import DroneProfile, count_turns
from missions.plan.export.bundle import write_plan_files
from missions.plan.items import (
    FenceZone,
    MissionItem,
    RallyPoint,
    return_to_launch,
    takeoff,
    trigger_distance,
    waypoint,
)
from missions.plan.model import Mode, Photo, Plan, Sortie
from survey.core.camera import CATALOG
from survey.core.frame import LocalFrame
from tests.missions.sims import VEHICLES, Sim

HOME = (36.0712345678, 139.9812345678)  # (lat, lon): a levee road west of the fields
ALTITUDE_M = 40.0

# Survey lines (lat, lon), flown north then south, two lines per sortie.
SORTIE_LINES = (
    (((36.0721234567, 139.9823456789), (36.0748765432, 139.9823456789)),
     ((36.0748765432, 139.9827901234), (36.0721234567, 139.9827901234))),
    (((36.0721234567, 139.9832345679), (36.0748765432, 139.9832345679)),
     ((36.0748765432, 139.9836790124), (36.0721234567, 139.9836790124))),
)

INCLUSION = ((36.0705123456, 139.9805123456), (36.0755123456, 139.9805123456),
             (36.0755123456, 139.9845123456), (36.0705123456, 139.9845123456))
EXCLUSIONS = (
    ((36.0725123456, 139.9839123456), (36.0731123456, 139.9839123456),
     (36.0731123456, 139.9843123456), (36.0725123456, 139.9843123456)),  # a pumping station
    ((36.0740123456, 139.9839123456), (36.0746123456, 139.9843123456),
     (36.0740123456, 139.9843123456)),  # a mast
)
RALLY = (RallyPoint(36.0709876543, 139.9808765432, 15.0),
         RallyPoint(36.0752345678, 139.9843210987, 20.0))


def _sortie(number: int, lines, frame: LocalFrame, drone: DroneProfile, trigger_m: float
            ) -> Sortie:
    home_xy = tuple(float(v) for v in frame.to_local(HOME[1], HOME[0]))
    pts = [pt for line in lines for pt in line]
    items: list[MissionItem] = [takeoff(*HOME, ALTITUDE_M), waypoint(*pts[0], ALTITUDE_M),
                                trigger_distance(trigger_m)]
    items += [waypoint(*pt, ALTITUDE_M) for pt in pts[1:]]
    items += [trigger_distance(0.0), return_to_launch()]
    local = [tuple(float(v) for v in frame.to_local(lon, lat)) for lat, lon in pts]
    route = LineString([home_xy, *local, home_xy])
    photos = []
    for a, b in zip(local[::2], local[1::2], strict=True):
        length = math.dist(a, b)
        heading = math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0
        for k in range(int(length // trigger_m) + 1):
            t = k * trigger_m / length
            photos.append(Photo(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), heading))
    turns = count_turns(list(route.coords))
    return Sortie(number=number, items=tuple(items), route=route, photos=tuple(photos),
                  lines=len(lines), distance_m=route.length,
                  time_s=drone.leg_time_s(route.length, turns) + drone.vertical_time_s(ALTITUDE_M))


@pytest.fixture
def plan() -> Plan:
    """Two sorties, an inclusion fence, two exclusion zones, two rally points."""
    frame = LocalFrame(36.0731, 139.9825)
    camera = CATALOG["mavic3e"]
    drone = DroneProfile()
    across_m, along_m = camera.footprint_m(ALTITUDE_M)
    spacing_m, trigger_m = across_m * (1 - 0.7), along_m * (1 - 0.8)

    def local(vertices) -> Polygon:
        return frame.geom_to_local(Polygon([(lon, lat) for lat, lon in vertices]))

    area = local(((36.0718, 139.9820), (36.0752, 139.9820), (36.0752, 139.9842),
                  (36.0718, 139.9842)))
    keepout = unary_union([local(z).buffer(5.0) for z in EXCLUSIONS])
    covered = area.difference(keepout)
    unreachable = box(*area.bounds).intersection(
        box(area.bounds[2] - 20.0, area.bounds[1], area.bounds[2], area.bounds[1] + 30.0))
    fence = (FenceZone(True, INCLUSION), *(FenceZone(False, z) for z in EXCLUSIONS))
    return Plan(
        mode=Mode.SURVEY, frame=frame, home_lat_deg=HOME[0], home_lon_deg=HOME[1],
        altitude_m=ALTITUDE_M, camera=camera, drone=drone, front_overlap=0.8, side_overlap=0.7,
        spacing_m=spacing_m, trigger_m=trigger_m,
        sorties=tuple(_sortie(n, lines, frame, drone, trigger_m)
                      for n, lines in enumerate(SORTIE_LINES, start=1)),
        fence=fence, rally=RALLY, area=area, keepout=keepout, covered=covered,
        unreachable=unreachable,
        notes=("Levee <east> & pumping station: keep out", "Sortie 2 starts over the fields"),
    )


@pytest.fixture
def plan_dir(plan: Plan, tmp_path: Path) -> Path:
    write_plan_files(plan, tmp_path / "plan")
    return tmp_path / "plan"


@pytest.fixture
def sim_params() -> dict[str, float]:
    """Vehicle parameter overrides (a test parametrises this to change them)."""
    return {}


def _sim(request: pytest.FixtureRequest, plan: Plan, params: dict[str, float]
         ) -> Iterator[Sim]:
    sim = Sim(request.param, (plan.home_lat_deg, plan.home_lon_deg), params)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(params=VEHICLES)
def sim(request: pytest.FixtureRequest, plan: Plan, sim_params: dict[str, float]
        ) -> Iterator[Sim]:
    yield from _sim(request, plan, sim_params)


@pytest.fixture(params=["builtin"])
def builtin(request: pytest.FixtureRequest, plan: Plan, sim_params: dict[str, float]
            ) -> Iterator[Sim]:
    yield from _sim(request, plan, sim_params)


@pytest.fixture
def link_to(request: pytest.FixtureRequest) -> Iterator[Any]:
    links: list[Link] = []

    def make(sim: Sim) -> Link:
        links.append(connect(sim.url, timeout_s=10))
        return links[-1]

    yield make
    for link in links:
        link.close()
