"""Boustrophedon decomposition: cells partition the free space and are monotone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import affinity
from shapely.geometry import LineString, Polygon

from missions.plan.decompose import decompose
from missions.plan.inputs import read_area
from survey.core.frame import LocalFrame

JOSO = Path(__file__).resolve().parents[2] / "examples" / "joso" / "area.geojson"


def assert_partition_and_monotone(free, angle: float) -> None:
    cells = decompose(free, angle)
    assert all(c.is_valid and c.area > 0 for c in cells)
    assert sum(c.area for c in cells) == pytest.approx(free.area, rel=1e-9)
    # Every sample point of the free space lies in exactly one cell (points, not an overlay:
    # GEOS overlays of polygons that share rotated edges are not exact).
    minx, miny, maxx, maxy = free.bounds
    gx, gy = (g.ravel() for g in np.meshgrid(np.linspace(minx, maxx, 60),
                                             np.linspace(miny, maxy, 60)))
    inside = shapely.contains_xy(free, gx, gy)
    near_edge = shapely.distance(free.boundary, shapely.points(gx, gy)) < 1e-6
    pick = inside & ~near_edge
    count = sum(shapely.contains_xy(c, gx[pick], gy[pick]).astype(int) for c in cells)
    on_cut = np.zeros(pick.sum(), dtype=bool)
    for c in cells:
        on_cut |= shapely.distance(c.boundary, shapely.points(gx[pick], gy[pick])) < 1e-6
    assert np.all((count == 1) | on_cut)
    for cell in cells:
        rot = affinity.rotate(cell, -angle, origin=(0, 0))
        minx, miny, maxx, maxy = rot.bounds
        for y in np.linspace(miny, maxy, 9)[1:-1]:
            cut = LineString([(minx - 1, y), (maxx + 1, y)]).intersection(rot)
            parts = [g for g in getattr(cut, "geoms", [cut]) if g.length > 1e-6]
            assert len(parts) <= 1, (angle, y)


@pytest.mark.parametrize("angle", [0.0, 30.0, 61.5, 90.0, 144.8])
def test_concave_area_with_a_hole(angle):
    """The Jōsō area (L-shaped, with a pond) at angles where a fast rectangle clip adds area."""
    geo = read_area(JOSO)
    assert_partition_and_monotone(LocalFrame.around(geo).geom_to_local(geo), angle)


@st.composite
def polygons_with_holes(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    n = draw(st.integers(3, 14))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = 300 * rng.uniform(0.3, 1.0, n)
    outer = shapely.make_valid(Polygon(np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])))
    holes = [shapely.Point(rng.uniform(-150, 150, 2)).buffer(rng.uniform(5, 40), quad_segs=2)
             for _ in range(draw(st.integers(0, 6)))]
    free = outer.difference(shapely.union_all(holes)) if holes else outer
    return shapely.make_valid(free)


@settings(max_examples=60, deadline=None)
@given(free=polygons_with_holes(), angle=st.floats(0.0, 180.0))
def test_random_free_space(free, angle):
    free = shapely.union_all([g for g in getattr(free, "geoms", [free])
                              if isinstance(g, Polygon) and g.area > 1.0])
    if free.is_empty:
        return
    assert_partition_and_monotone(free, angle)


@pytest.mark.parametrize("angle", [0.0, 90.0, 45.0])
@pytest.mark.parametrize("seed", range(4))
def test_buildings_square_to_the_sweep_lines(angle, seed):
    """Axis-aligned buildings, swept along their sides: flat tops and bottoms on the cuts.
    The local cuts must handle them (no fallback to slabs), and so must the slabs."""
    from missions.plan import decompose as dec

    rng = np.random.default_rng(seed)
    boxes = [shapely.box(x, y, x + w, y + h) for (x, y), (w, h) in
             zip(rng.uniform(-200, 180, (12, 2)), rng.uniform(5, 40, (12, 2)), strict=True)]
    boxes.append(shapely.box(-100, 50, -60, 80))  # two with tops on one line
    boxes.append(shapely.box(20, 60, 50, 80))
    free = shapely.box(-250, -250, 250, 250).difference(shapely.union_all(boxes))
    rot = affinity.rotate(free, -angle, origin=(0, 0))
    assert dec._local_cuts(rot) is not None
    assert_partition_and_monotone(free, angle)


def test_the_slab_fallback_also_partitions(monkeypatch):
    from missions.plan import decompose as dec

    geo = read_area(JOSO)
    free = LocalFrame.around(geo).geom_to_local(geo)
    cells_local = dec.decompose(free, 30.0)
    monkeypatch.setattr(dec, "_local_cuts", lambda rot: None)
    assert_partition_and_monotone(free, 30.0)
    assert len(dec.decompose(free, 30.0)) == len(cells_local)
