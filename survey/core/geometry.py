"""Shapely helpers every package needs: the single parts of any geometry.

>>> from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, box
>>> nested = GeometryCollection([MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)]),
...                              LineString([(0, 0), (1, 1)]), Point(5, 5)])
>>> [g.geom_type for g in single_parts(nested)]
['Polygon', 'Polygon', 'LineString', 'Point']
>>> len(polygons_of(nested)), len(lines_of(nested)), polygons_of(box(0, 0, 1, 1).buffer(-2))
(2, 1, [])
"""

from __future__ import annotations

from typing import TypeVar

import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

G = TypeVar("G", bound=BaseGeometry)


def single_parts(geom: BaseGeometry | None, *, drop_empty: bool = True) -> list[BaseGeometry]:
    """The single-part geometries of ``geom``: multi-parts and collections of any depth
    flattened (``shapely.get_parts`` until nothing is multi-part); empty ones dropped unless
    ``drop_empty`` is false (a reader that reports them)."""
    if geom is None:
        return []
    parts = list(shapely.get_parts(geom))
    while any(isinstance(p, BaseMultipartGeometry) for p in parts):
        parts = list(shapely.get_parts(parts))
    return [p for p in parts if not (drop_empty and p.is_empty)]


def parts_of(geom: BaseGeometry | None, kind: type[G]) -> list[G]:
    """The non-empty single parts of ``geom`` that are a ``kind`` (Polygon, LineString, ...)."""
    return [p for p in single_parts(geom) if isinstance(p, kind)]


def polygons_of(geom: BaseGeometry | None) -> list[Polygon]:
    """The non-empty polygons in a (multi)polygon or geometry collection."""
    return parts_of(geom, Polygon)


def lines_of(geom: BaseGeometry | None) -> list[LineString]:
    """The non-empty line strings in a (multi)line or geometry collection."""
    return parts_of(geom, LineString)
