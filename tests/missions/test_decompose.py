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
