"""Building footprints a municipality already has: GeoJSON, GeoPackage, Shapefile, KML or an
OpenStreetMap extract (``.osm`` / ``.pbf``), read through GDAL's drivers (pyogrio).

Each footprint keeps its own id (``id``, ``@id``, ``osm_id``, ``osm_way_id``, ``fid``,
``gml_id`` or the file's feature id) and its attributes (address, name, use, district...),
which travel into every export. Geometries are brought to WGS84 lon/lat. From an OSM extract
only ``multipolygons`` with a ``building`` tag are taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from survey.core.errors import InputError

MAX_FOOTPRINTS = 500_000
ID_FIELDS = ("id", "@id", "osm_id", "osm_way_id", "fid", "gml_id", "building_id", "uid")
_OSM_SUFFIXES = (".osm", ".pbf")


@dataclass(frozen=True, slots=True)
class Footprint:
    """One building outline: its id, lon/lat polygon and attributes (JSON-able values)."""

    key: str
    polygon: BaseGeometry
    attrs: dict[str, object]


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _layer(path: Path) -> str | None:
    if path.suffix.lower() in _OSM_SUFFIXES:
        return "multipolygons"
    return None


def read_footprints(path: str | PathLike[str]) -> list[Footprint]:
    """The building polygons of a file, in WGS84, in file order.

    Raises
    ------
    InputError
        Missing or unreadable file, no polygon in it, more than :data:`MAX_FOOTPRINTS`,
        ids that repeat, or a layer without a coordinate system that cannot be lon/lat.
    """
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    file = Path(path)
    if not file.is_file():
        raise InputError(file, "no such file")
    layer = _layer(file)
    where = "building IS NOT NULL" if layer == "multipolygons" else None
    try:
        meta, fids, wkb, values = pyogrio.raw.read(file, layer=layer, where=where,
                                                   return_fids=True)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(file, f"not a readable footprint file ({first})") from None
    if len(wkb) > MAX_FOOTPRINTS:
        raise InputError(file, f"{len(wkb)} features; at most {MAX_FOOTPRINTS} per survey")
    geoms = shapely.from_wkb(wkb)
    geoms = _to_wgs84(file, geoms, meta.get("crs"))
    fields = list(meta.get("fields", []))
    id_field = next((f for f in ID_FIELDS if f in fields), None)
    out: list[Footprint] = []
    seen: set[str] = set()
    for i, geom in enumerate(geoms):
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
        attrs = {name: _jsonable(values[j][i]) for j, name in enumerate(fields)}
        raw = attrs.get(id_field) if id_field else None
        key = str(raw) if raw not in (None, "") else str(int(fids[i]) if fids is not None else i)
        if key in seen:
            raise InputError(file, f"footprint id {key!r} appears twice (ids must be unique)")
        seen.add(key)
        out.append(Footprint(key, geom, attrs))
    if not out:
        raise InputError(file, "no building polygons in it")
    return out


def _to_wgs84(file: Path, geoms: np.ndarray, crs: str | None) -> np.ndarray:
    from pyproj import CRS, Transformer

    if crs:
        source = CRS.from_user_input(crs)
        if not source.equals(CRS.from_epsg(4326), ignore_axis_order=True):
            tf = Transformer.from_crs(source, 4326, always_xy=True)
            return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(
                xy[:, 0], xy[:, 1])))
        return geoms
    bounds = shapely.total_bounds(geoms)
    if not (-180 <= bounds[0] <= 180 and -90 <= bounds[1] <= 90 and -180 <= bounds[2] <= 180
            and -90 <= bounds[3] <= 90):
        raise InputError(file, "no coordinate system and coordinates are not lon/lat")
    return geoms
