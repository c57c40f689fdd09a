"""Corridor scans (missions.plan.corridor): lines parallel to a buffered polyline."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from missions.plan.corridor import corridor_area, corridor_tasks, read_corridor
from missions.plan.model import Photo
from missions.plan.sorties import Task
from survey.core.camera import CATALOG
from survey.core.errors import InputError, ParamError

CAMERA = CATALOG["mavic3e"]
ALTITUDE_M = 60.0
ACROSS_M, ALONG_M = CAMERA.footprint_m(ALTITUDE_M)
SIDE, FRONT = 0.65, 0.75
SPACING_M = ACROSS_M * (1 - SIDE)  # ~29.6 m
TRIGGER_M = ALONG_M * (1 - FRONT)  # ~15.9 m
EXTEND_M = ALONG_M / 2


def polyline(start: tuple[float, float], headings_deg: list[float], leg_m: float) -> LineString:
    """Legs of ``leg_m`` at the given headings (degrees CCW from east)."""
    pts = [np.asarray(start, dtype=float)]
    for h in headings_deg:
        pts.append(pts[-1] + leg_m * np.array([math.cos(math.radians(h)),
                                               math.sin(math.radians(h))]))
    return LineString(pts)


def extended(line: LineString, e: float) -> LineString:
    """``line`` lengthened by ``e`` straight on at both ends."""
    xy = shapely.get_coordinates(line)
    a = xy[0] + (xy[0] - xy[1]) / np.hypot(*(xy[0] - xy[1])) * e
    b = xy[-1] + (xy[-1] - xy[-2]) / np.hypot(*(xy[-1] - xy[-2])) * e
    return LineString(np.vstack([a, xy, b]))


def offsets(width_m: float, spacing_m: float) -> np.ndarray:
    n = math.ceil(width_m / spacing_m)
    return -width_m / 2 + (np.arange(n) + 0.5) * width_m / n


def photos(tasks: list[Task]) -> list[Photo]:
    """A photo every trigger distance along each task, from its start, headed along it."""
    out = []
    for t in tasks:
        line = LineString(t.points)
        for s in np.arange(0.0, line.length + 1e-9, TRIGGER_M):
            a = line.interpolate(max(s - 0.01, 0.0))
            b = line.interpolate(min(s + 0.01, line.length))
            p = line.interpolate(s)
            out.append(Photo(p.x, p.y, math.degrees(math.atan2(b.x - a.x, b.y - a.y))))
    return out


def covered_share(tasks: list[Task], area: Polygon) -> float:
    seen = shapely.union_all([p.footprint(CAMERA, ALTITUDE_M) for p in photos(tasks)])
    return float(area.intersection(seen).area / area.area)


def direction(t: Task) -> np.ndarray:
    d = np.subtract(t.points[-1], t.points[0])
    return d / np.hypot(*d)


# --- (a) a straight corridor ------------------------------------------------------------------

def test_straight_corridor_three_parallel_alternating_extended_lines():
    heading = 30.0
    u = np.array([math.cos(math.radians(heading)), math.sin(math.radians(heading))])
    line = LineString([(100.0, 50.0), tuple(np.array([100.0, 50.0]) + 1000.0 * u)])
    tasks = corridor_tasks(line, 60.0, 25.0, Polygon(), extend_m=12.0)
    assert len(tasks) == 3
    normal = np.array([-u[1], u[0]])
    side = []
    for k, t in enumerate(tasks):
        assert len(t.points) == 2 and t.trigger
        d = direction(t)
        angle = math.degrees(math.acos(min(1.0, abs(float(d @ u)))))
        assert angle < 0.5
        assert (d @ u > 0) == (k % 2 == 0)  # alternate directions, the first one start→end
        along = sorted(float((np.subtract(p, (100.0, 50.0))) @ u) for p in t.points)
        assert along == pytest.approx([-12.0, 1012.0], abs=1e-6)  # both ends extended
        side.append(float(np.subtract(t.points[0], (100.0, 50.0)) @ normal))
    assert sorted(side) == pytest.approx([-20.0, 0.0, 20.0], abs=1e-6)  # each edge 10 m away
    assert corridor_area(line, 60.0).area == pytest.approx(60_000.0, rel=1e-9)


def test_home_chooses_the_nearer_end_and_side():
    line = LineString([(0.0, 0.0), (1000.0, 0.0)])
    tasks = corridor_tasks(line, 60.0, 25.0, Polygon(), home=(1010.0, 40.0))
    assert tasks[0].points[0] == pytest.approx((1000.0, 20.0))
    assert [t.points[0][1] for t in tasks] == pytest.approx([20.0, 0.0, -20.0])


# --- (b) lines follow bends and cover the corridor ---------------------------------------------

BENDS = {
    "L": polyline((0.0, 0.0), [0.0, 90.0], 600.0),
    # interior angles 120° (a 60° turn), 60° (a 120° turn the other way), 120°
    "zigzag": polyline((0.0, 0.0), [0.0, 60.0, -60.0, 0.0], 400.0),
}


@pytest.mark.parametrize("name", BENDS)
def test_lines_follow_the_bends_and_cover_the_corridor(name):
    line, width = BENDS[name], 100.0
    tasks = corridor_tasks(line, width, SPACING_M, Polygon(), extend_m=EXTEND_M)
    expected = np.abs(offsets(width, SPACING_M))
    assert len(tasks) == len(expected) == 4
    centre = extended(line, EXTEND_M)
    found = []
    for t in tasks:
        g = LineString(t.points)
        assert g.is_simple
        dist = shapely.distance(centre, shapely.points(np.asarray(t.points)))
        offset = expected[np.argmin(np.abs(expected - np.median(dist)))]
        assert np.all(np.abs(dist - offset) <= 1.0), name
        found.append(offset)
        # the line runs the whole corridor round every bend, not a cut-off piece of it
        assert shapely.distance(Point(line.coords[0]), g) < offset + EXTEND_M + 1.0
        assert shapely.distance(Point(line.coords[-1]), g) < offset + EXTEND_M + 1.0
    assert sorted(found) == pytest.approx(sorted(expected))
    area = corridor_area(line, width)
    assert covered_share(tasks, area) >= 0.99


def test_lines_meeting_end_to_end_make_one_corridor():
    parts = [LineString([(0.0, 0.0), (500.0, 0.0)]), LineString([(500.0, 500.0), (500.0, 0.0)])]
    tasks = corridor_tasks(parts, 100.0, SPACING_M, Polygon(), extend_m=EXTEND_M)
    assert len(tasks) == 4  # one corridor round the corner, not two with a wedge between
    assert {t.name for t in tasks} == {"corridor 1"}
    area = corridor_area(MultiLineString(parts), 100.0)
    assert isinstance(area, Polygon)
    assert covered_share(tasks, area) >= 0.99


def test_separate_corridors_are_flown_nearest_first():
    far = LineString([(0.0, 0.0), (500.0, 0.0)])
    near = LineString([(0.0, 1000.0), (500.0, 1000.0)])
    tasks = corridor_tasks(MultiLineString([far, near]), 60.0, 25.0, Polygon(),
                           home=(520.0, 1000.0))
    assert [t.name for t in tasks] == ["corridor 1"] * 3 + ["corridor 2"] * 3
    assert all(p[1] > 900 for t in tasks[:3] for p in t.points)
    assert math.dist(tasks[0].points[0], (520.0, 1000.0)) < 30.0
    # the second corridor is entered from the end next to where the first ended
    assert math.dist(tasks[2].points[-1], tasks[3].points[0]) < 1000.0 + 45.0


def test_closed_line_gives_closed_lines_round_it():
    ring = LineString([(0.0, 0.0), (400.0, 0.0), (400.0, 400.0), (0.0, 400.0), (0.0, 0.0)])
    tasks = corridor_tasks(ring, 100.0, SPACING_M, Polygon(), extend_m=EXTEND_M)
    assert len(tasks) == 4
    for t in tasks:
        g = LineString(t.points)
        assert g.is_closed and g.is_simple  # not lengthened past its own start
    assert covered_share(tasks, corridor_area(ring, 100.0)) >= 0.99


def test_pieces_and_fence():
    line = LineString([(0.0, 0.0), (1000.0, 0.0)])
    fence = box(-50.0, -100.0, 700.0, 100.0)
    tasks = corridor_tasks(line, 60.0, 25.0, Polygon(), fence=fence, extend_m=10.0,
                           piece_m=200.0)
    assert all(t.length_m <= 200.0 + 1e-6 for t in tasks)
    assert all(fence.covers(Point(p)) for t in tasks for p in t.points)
    for a, b in itertools.pairwise(tasks):  # pieces of a line follow one another
        if abs(a.points[-1][1] - b.points[0][1]) < 1e-9:
            assert a.points[-1] == pytest.approx(b.points[0])
    assert sum(t.length_m for t in tasks) == pytest.approx(3 * 710.0)


# --- (c) a no-fly zone across the corridor ------------------------------------------------------

def test_zone_across_the_corridor_cuts_every_line_in_two():
    line = LineString([(0.0, 0.0), (1000.0, 0.0)])
    zone = box(460.0, -200.0, 540.0, 200.0)
    margin = 10.0
    keepout = zone.buffer(margin)
    tasks = corridor_tasks(line, 60.0, 25.0, keepout, extend_m=12.0)
    assert len(tasks) == 6
    for first, second in zip(tasks[::2], tasks[1::2], strict=True):
        assert first.points[0][1] == pytest.approx(second.points[0][1])  # one line's two parts
        forward = first.points[-1][0] > first.points[0][0]
        assert direction(second) @ direction(first) > 0.99  # flown on the same way
        assert (first.points[-1][0] < 500.0) == forward  # in order along the line
        for t in (first, second):
            assert shapely.distance(zone, LineString(t.points)) >= margin - 0.01
        assert {round(min(p[0] for p in first.points + second.points)),
                round(max(p[0] for p in first.points + second.points))} == {-12, 1012}
    assert [direction(t)[0] > 0 for t in tasks] == [True, True, False, False, True, True]


def test_parts_outside_zones_are_flown_in_order_along_the_line():
    # random lines across random round zones: one line per corridor (the centre line), its
    # parts flown from its start to its end, whatever order the overlay hands them back in
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(60):
        line = LineString(np.cumsum(rng.normal(0.0, 100.0, (6, 2)), axis=0))
        if not line.is_simple:
            continue
        zones = shapely.union_all([Point(rng.normal(0.0, 150.0, 2)).buffer(rng.uniform(10, 60))
                                   for _ in range(5)])
        tasks = corridor_tasks(line, 20.0, 25.0, zones)
        ats = [[float(line.project(LineString(t.points).interpolate(f, normalized=True)))
                for f in (0.25, 0.75)] for t in tasks]
        assert np.all(np.diff(np.ravel(ats)) > 0)
        assert not any(zones.buffer(-0.01).intersects(LineString(t.points)) for t in tasks)
        checked += len(tasks) > 1
    assert checked > 10


def test_zone_over_the_whole_corridor_leaves_nothing():
    line = LineString([(0.0, 0.0), (100.0, 0.0)])
    assert corridor_tasks(line, 60.0, 25.0, box(-50.0, -50.0, 150.0, 50.0)) == []


# --- (d) a hairpin tighter than the corridor ----------------------------------------------------

def _semicircle_hairpin(r: float) -> LineString:
    t = np.linspace(-math.pi / 2, math.pi / 2, 19)
    arc = np.column_stack([300.0 + r * np.cos(t), r + r * np.sin(t)])
    return LineString(np.vstack([[(0.0, 0.0)], arc, [(0.0, 2 * r)]]))


HAIRPINS = {
    "round r=20 m": _semicircle_hairpin(20.0),
    "sharp 10 m": LineString([(0.0, 0.0), (300.0, 0.0), (300.0, 10.0), (0.0, 10.0)]),
}


@pytest.mark.parametrize("name", HAIRPINS)
def test_hairpin_gives_valid_simple_lines(name):
    line, width = HAIRPINS[name], 60.0
    tasks = corridor_tasks(line, width, SPACING_M, Polygon(), extend_m=EXTEND_M)
    assert tasks
    centre = extended(line, EXTEND_M)
    for t in tasks:
        g = LineString(t.points)
        assert g.is_valid and g.is_simple and g.length >= 1.0
        dist = shapely.distance(centre, shapely.points(np.asarray(t.points)))
        assert dist.max() <= width / 2  # nothing stray outside the corridor
    assert covered_share(tasks, corridor_area(line, width)) >= 0.99


def test_pieces_of_a_broken_line_come_in_order_along_the_corridor():
    # a wandering line whose offset 20 m right breaks into two pieces, handed back by GEOS
    # in the other order
    line = LineString([(-69, -296), (-91, -386), (64, -347), (-262, -586), (-85, -450),
                       (-213, -450), (-124, -356)])
    tasks = corridor_tasks(line, 60.0, 25.0, Polygon())

    def at(t: Task, f: float) -> float:
        return float(line.project(LineString(t.points).interpolate(f, normalized=True)))

    assert len(tasks) == 4
    first, second = tasks[:2]  # the right-hand line, flown start to end
    assert at(first, 0.25) < at(first, 0.75) < at(second, 0.25) < at(second, 0.75)
    assert at(tasks[2], 0.25) > at(tasks[2], 0.75)  # the centre line, flown back
    assert at(tasks[3], 0.25) < at(tasks[3], 0.75)


# --- (e) refused inputs -----------------------------------------------------------------------

@pytest.mark.parametrize("width", [0.0, -5.0, math.nan, math.inf, 2000.5])
def test_bad_width_is_refused(width):
    line = LineString([(0.0, 0.0), (100.0, 0.0)])
    with pytest.raises(ParamError) as err:
        corridor_area(line, width)
    assert err.value.params == ("corridor_width_m",)
    with pytest.raises(ParamError, match="corridor_width_m"):
        corridor_tasks(line, width, 25.0, Polygon())


def test_widest_corridor_is_accepted():
    line = LineString([(0.0, 0.0), (100.0, 0.0)])
    assert corridor_area(line, 2000.0).area == pytest.approx(200_000.0)


def _write(tmp_path: Path, *geometries: dict) -> Path:
    path = tmp_path / "corridor.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": g} for g in geometries]}))
    return path


def test_file_without_lines_is_refused(tmp_path):
    square = [[139.99, 36.07], [140.0, 36.07], [140.0, 36.08], [139.99, 36.07]]
    path = _write(tmp_path, {"type": "Polygon", "coordinates": [square]},
                  {"type": "Point", "coordinates": [139.99, 36.07]})
    with pytest.raises(InputError) as err:
        read_corridor(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "no line" in message and "\n" not in message
    assert "1 polygon(s)" in message and "1 point(s)" in message


def test_zero_length_line_is_refused(tmp_path):
    path = _write(tmp_path, {"type": "LineString", "coordinates": [[140.0, 36.0], [140.0, 36.0]]})
    with pytest.raises(InputError, match="zero length"):
        read_corridor(path)


def test_reads_lines_and_multilines_in_lonlat(tmp_path):
    path = _write(
        tmp_path,
        {"type": "LineString", "coordinates": [[139.99, 36.07], [140.0, 36.08]]},
        {"type": "MultiLineString", "coordinates": [[[139.9, 36.0], [139.91, 36.0]],
                                                    [[139.8, 36.0], [139.81, 36.01]]]},
        {"type": "Point", "coordinates": [139.99, 36.07]},
    )
    lines = read_corridor(path)
    assert [g.coords[0] for g in lines] == [(139.99, 36.07), (139.9, 36.0), (139.8, 36.0)]
    assert all(isinstance(g, LineString) for g in lines)
