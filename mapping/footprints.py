"""Building footprints a municipality already has: GeoJSON, GeoPackage, Shapefile, KML or an
OpenStreetMap extract (``.osm`` / ``.pbf``), read through GDAL's drivers
(:func:`survey.core.vector.read_vector`).

Each footprint keeps its own id (``id``, ``@id``, ``osm_id``, ``osm_way_id``, ``fid``,
``gml_id`` or the file's feature id) and its attributes (address, name, use, district...),
which travel into every export. Geometries are brought to WGS84 lon/lat. From an OSM extract
only ``multipolygons`` with a ``building`` tag are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from survey.core.errors import InputError
from survey.core.vector import read_vector

MAX_FOOTPRINTS = 500_000
ID_FIELDS = ("id", "@id", "osm_id", "osm_way_id", "fid", "gml_id", "building_id", "uid")
_OSM_SUFFIXES = (".osm", ".pbf")


@dataclass(frozen=True, slots=True)
class Footprint:
    """One building outline: its id, lon/lat polygon and attributes (JSON-able values)."""

    key: str
    polygon: BaseGeometry
    attrs: dict[str, object]


def _layer(path: Path) -> str | int:
    if path.suffix.lower() in _OSM_SUFFIXES:
        return "multipolygons"
    return 0  # the first layer


def read_footprints(path: str | PathLike[str]) -> list[Footprint]:
    """The building polygons of a file's first layer (an OSM extract's ``multipolygons``), in
    WGS84, in file order.

    Raises
    ------
    InputError
        Missing or unreadable file, no polygon in it, more than :data:`MAX_FOOTPRINTS`,
        ids that repeat, or a layer without a coordinate system that cannot be lon/lat.
    """
    file = Path(path)
    if not file.exists():
        raise InputError(file, "no such file")
    layer = _layer(file)
    where = "building IS NOT NULL" if layer == "multipolygons" else None
    vector = read_vector(file, layer=layer, where=where, max_features=MAX_FOOTPRINTS + 1)
    features = vector.features
    if len(features) > MAX_FOOTPRINTS:
        raise InputError(file, f"more than {MAX_FOOTPRINTS} features; at most {MAX_FOOTPRINTS} "
                               "per survey")
    fields = vector.layers[0].fields if vector.layers else ()
    id_field = next((f for f in ID_FIELDS if f in fields), None)
    out: list[Footprint] = []
    seen: set[str] = set()
    for feature in features:
        geom = feature.geometry
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            continue  # points, lines (a KML placemark, a fence): not an outline
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            polys = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"]
            if not polys:
                continue
            geom = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
        raw = feature.attrs.get(id_field) if id_field else None
        key = str(raw) if raw not in (None, "") else str(feature.fid)
        if key in seen:
            raise InputError(file, f"footprint id {key!r} appears twice (ids must be unique)")
        seen.add(key)
        out.append(Footprint(key, geom, feature.attrs))
    if not out:
        raise InputError(file, "no building polygons in it")
    return out
