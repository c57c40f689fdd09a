"""Reading and checking the planner's input files: survey area, no-fly zones, points of interest.

Files are GeoJSON (RFC 7946: WGS84 lon/lat degrees) or KML/KMZ, chosen by the file extension
(``.geojson``/``.json``, ``.kml``, ``.kmz``) or, for any other name, by the content. Every
geometry comes back in lon/lat degrees; every problem is an :class:`~survey.core.errors.InputError`
naming the file and, where there is one, the feature (``feature 3 'Hospital': ...``).

Latitude and longitude swapped cannot be told apart from a real place in general, so it is not
guessed at; coordinates outside ±180/±90 are refused (they usually mean a projected CRS).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from missions.plan.inputs_kml import (
    Position,
    Source,
    SourceFeature,
    feature_label,
    line_from_positions,
    polygon_from_rings,
    position,
    read_kml,
    read_kmz,
)
from missions.plan.limits import check_vertices
from survey.core.errors import InputError
from survey.core.frame import LocalFrame
from survey.core.geometry import single_parts

__all__ = ["Poi", "Zone", "parse_latlon", "read_area", "read_pois", "read_zones"]

_CIRCLE_QUAD_SEGS = 16  # 64 vertices per circle


@dataclass(frozen=True)
class Zone:
    """A no-fly zone or an obstacle.

    Attributes
    ----------
    geometry
        Footprint in lon/lat degrees.
    height_m
        Top of the obstacle above ground, metres; ``None`` for a zone that is never entered
        at any altitude.
    name
        From the feature's ``name``, or where it is in the file (``feature 3``).
    """

    geometry: Polygon
    height_m: float | None
    name: str


@dataclass(frozen=True)
class Poi:
    """A point or line of interest for patrol mode.

    Attributes
    ----------
    geometry
        Point or LineString in lon/lat degrees (a polygon in the file arrives as its outer
        boundary, a closed LineString).
    name
        From the feature's ``name``, or where it is in the file (``feature 3``).
    """

    geometry: Point | LineString
    name: str


def read_area(path: Source) -> Polygon | MultiPolygon:
    """The survey area: the union of every polygon in a GeoJSON, KML or KMZ file.

    Points and lines in the file are ignored; holes are kept.

    Parameters
    ----------
    path
        GeoJSON (a Polygon/MultiPolygon geometry, a Feature, or a FeatureCollection), KML or
        KMZ (Polygon or MultiGeometry placemarks).

    Returns
    -------
    Polygon | MultiPolygon
        Lon/lat degrees.

    Raises
    ------
    InputError
        Unreadable file, not GeoJSON/KML, a non-WGS84 ``crs``, coordinates out of range, no
        polygon, an empty or self-intersecting polygon.
    """
    polygons: list[Polygon] = []
    for feature in _read_features(path):
        for part in _parts(feature.geometry):
            if isinstance(part, Polygon):
                polygons.append(_checked_polygon(path, feature.label, part))
    if not polygons:
        raise InputError(path, "no polygon in the file (the survey area must be a Polygon "
                               "or MultiPolygon)")
    area = polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)
    if not isinstance(area, Polygon | MultiPolygon):  # pragma: no cover - union of polygons
        raise InputError(path, f"the polygons' union is a {area.geom_type}")
    return area


def read_zones(path: Source) -> list[Zone]:
    """No-fly zones and obstacles, one :class:`Zone` per polygon (multi-parts are split).

    Properties: ``name``; ``height_m`` (or ``height``), metres above ground, absent or null
    for a zone never to be entered; ``radius_m`` turns a Point into a circle and a LineString
    into a corridor (buffered in a local metric frame, the polygon drawn around the true
    circle). A Point or LineString without ``radius_m`` is an error.

    Parameters
    ----------
    path
        GeoJSON, KML or KMZ. A file without features gives an empty list.

    Returns
    -------
    list[Zone]
        In file order, geometry in lon/lat degrees.

    Raises
    ------
    InputError
        As :func:`read_area`, plus: a feature without geometry, a point or line without
        ``radius_m``, ``radius_m`` on a polygon, a height or radius that is not a number, a
        negative height, a radius that is not positive.
    """
    zones: list[Zone] = []
    for feature in _read_features(path):
        label, props = feature.label, feature.properties
        if feature.geometry is None:
            raise InputError(path, f"{label}: the zone has no geometry")
        height_m = _number(path, label, props, ("height_m", "height"), minimum=0.0)
        radius_m = _number(path, label, props, ("radius_m",), minimum=0.0, strict=True)
        name = _name(props, label)
        for part in _parts(feature.geometry):
            if isinstance(part, Polygon):
                if radius_m is not None:
                    raise InputError(path, f"{label}: radius_m applies to points and lines "
                                           "only; draw the polygon as the zone instead")
                zones.append(Zone(_checked_polygon(path, label, part), height_m, name))
                continue
            _check_lonlat(path, label, part)
            if radius_m is None:
                raise InputError(path, f"{label}: a {part.geom_type} zone needs a radius_m "
                                       "property (or draw the zone as a polygon)")
            for circle in _parts(_buffer_m(part, radius_m)):
                zones.append(Zone(_checked_polygon(path, label, circle), height_m, name))
    return zones


def read_pois(path: Source) -> list[Poi]:
    """Points and lines of interest for patrol mode, one :class:`Poi` per part.

    A polygon (a levee ring, say) is taken as its outer boundary, a closed LineString: patrol
    flies along it; its holes are dropped.

    Parameters
    ----------
    path
        GeoJSON, KML or KMZ.

    Returns
    -------
    list[Poi]
        In file order, geometry in lon/lat degrees.

    Raises
    ------
    InputError
        As :func:`read_area`, plus: no point or line in the file, a feature without geometry,
        a line of zero length.
    """
    pois: list[Poi] = []
    for feature in _read_features(path):
        label = feature.label
        if feature.geometry is None:
            raise InputError(path, f"{label}: the point of interest has no geometry")
        name = _name(feature.properties, label)
        for part in _parts(feature.geometry):
            if isinstance(part, Polygon):
                ring = _checked_polygon(path, label, part).exterior
                pois.append(Poi(LineString(ring.coords), name))
                continue
            _check_lonlat(path, label, part)
            if isinstance(part, LineString) and part.length == 0.0:
                raise InputError(path, f"{label}: the line has zero length")
            if not isinstance(part, Point | LineString):  # pragma: no cover - parts are flat
                raise InputError(path, f"{label}: unexpected {part.geom_type}")
            pois.append(Poi(part, name))
    if not pois:
        raise InputError(path, "no point or line in the file")
    return pois


def parse_latlon(text: str, source: str = "--home") -> tuple[float, float]:
    """``"LAT,LON"`` in decimal degrees to ``(lat_deg, lon_deg)``.

    >>> parse_latlon(" 36.073, 139.988 ")
    (36.073, 139.988)

    Raises
    ------
    InputError
        Not two numbers, not finite, or out of range (|lat| > 90, |lon| > 180).
    """
    parts = text.split(",")
    try:
        lat_deg, lon_deg = (float(p) for p in parts)
    except ValueError:
        raise InputError(source, f"expected LAT,LON in decimal degrees "
                                 f"(e.g. 36.073,139.988), got {text!r}") from None
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
        raise InputError(source, f"LAT,LON must be finite numbers, got {text!r}")
    if abs(lat_deg) > 90.0:
        raise InputError(source, f"latitude {lat_deg:g} is out of range (-90 to 90)")
    if abs(lon_deg) > 180.0:
        raise InputError(source, f"longitude {lon_deg:g} is out of range (-180 to 180)")
    return lat_deg, lon_deg


# --- checks shared by the readers -------------------------------------------------------------

def _parts(geom: BaseGeometry | None) -> list[BaseGeometry]:
    """Single-part geometries of ``geom``, empty ones kept: the checks report them."""
    return single_parts(geom, drop_empty=False)


def _check_lonlat(source: Source, label: str, geom: BaseGeometry) -> None:
    xy = shapely.get_coordinates(geom)
    bad = ~np.isfinite(xy).all(axis=1)
    bad |= (np.abs(xy[:, 0]) > 180.0) | (np.abs(xy[:, 1]) > 90.0)
    if bad.any():
        x, y = xy[np.argmax(bad)]
        raise InputError(source, f"{label}: coordinate ({x:.10g}, {y:.10g}) is out of range for "
                                 "lon/lat degrees (projected coordinates? reproject to WGS84 "
                                 "lon/lat, EPSG:4326)")


def _checked_polygon(source: Source, label: str, poly: Polygon) -> Polygon:
    _check_lonlat(source, label, poly)
    if poly.is_empty:
        raise InputError(source, f"{label}: empty polygon")
    if not poly.is_valid:
        reason = explain_validity(poly)
        m = re.fullmatch(r"(.*?)\[(\S+) (\S+)\]", reason)
        where = f" at lon {float(m[2]):.6f}, lat {float(m[3]):.6f}" if m else ""
        what = (m[1] if m else reason).lower()
        raise InputError(source, f"{label}: invalid polygon: {what}{where}")
    if poly.area == 0.0:  # pragma: no cover - GEOS calls zero-area rings invalid
        raise InputError(source, f"{label}: the polygon has zero area")
    return poly


def _buffer_m(geom: BaseGeometry, radius_m: float) -> BaseGeometry:
    """``geom`` grown by ``radius_m`` metres; the polygon contains the true circle."""
    frame = LocalFrame.around(geom)
    grow_m = radius_m / math.cos(math.pi / (4 * _CIRCLE_QUAD_SEGS))
    local = frame.geom_to_local(geom).buffer(grow_m, quad_segs=_CIRCLE_QUAD_SEGS)
    return frame.geom_to_geo(local)


def _name(props: dict[str, object], default: str) -> str:
    for key in ("name", "Name", "title"):
        value = props.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return default


def _number(source: Source, label: str, props: dict[str, object], keys: tuple[str, ...], *,
            minimum: float, strict: bool = False) -> float | None:
    """The first of ``keys`` present and not null/empty, as a finite float ≥ ``minimum``
    (> ``minimum`` when ``strict``); ``None`` when none is set."""
    key = next((k for k in keys if props.get(k) not in (None, "")), None)
    if key is None:
        return None
    value = props[key]
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(source, f"{label}: {key} must be a number of metres, got {value!r}")
    if number < minimum or (strict and number == minimum):
        kind = "negative" if number < 0 else "zero"
        raise InputError(source, f"{label}: {kind} {key} ({number:g} m)")
    return number


# --- reading files ----------------------------------------------------------------------------

def _read_features(path: Source) -> list[SourceFeature]:
    features = _parse_features(path)
    geoms = [f.geometry for f in features if f.geometry is not None]
    check_vertices(str(path), sum(int(shapely.get_num_coordinates(g)) for g in geoms))
    if geoms:
        lon = shapely.get_coordinates(shapely.GeometryCollection(geoms))[:, 0]
        lon = lon[np.isfinite(lon)]
        in_range = lon.size and np.abs(lon).max() <= 180.0  # else: reported per feature
        if in_range and lon.max() - lon.min() > 180.0:
            raise InputError(path, f"spans longitudes {lon.min():.6g} to {lon.max():.6g}: it "
                                   "crosses the antimeridian (±180°), which survey plan does "
                                   "not handle; split it into a part east and a part west of it")
    return features


def _parse_features(path: Source) -> list[SourceFeature]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except OSError as e:
        raise InputError(path, f"cannot read the file ({e.strerror or e})") from None
    suffix = p.suffix.lower()
    if suffix == ".kmz" or data.startswith(b"PK\x03\x04"):
        return read_kmz(path, data)
    if not data.strip():
        raise InputError(path, "empty file")
    if suffix == ".kml":
        return read_kml(path, data)
    if suffix in (".geojson", ".json"):
        return _read_geojson(path, data)
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if head == b"<":
        return read_kml(path, data)
    if head in (b"{", b"["):
        return _read_geojson(path, data)
    raise InputError(path, "neither GeoJSON nor KML (use a .geojson, .kml or .kmz file)")


def _read_geojson(source: Source, data: bytes) -> list[SourceFeature]:
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(source, "not JSON (the file is not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise InputError(source, f"not JSON (line {e.lineno}, column {e.colno}: {e.msg})") \
            from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise InputError(source, "not GeoJSON (expected an object with a \"type\": "
                                 "FeatureCollection, Feature or a geometry)")
    _check_crs(source, obj)
    kind = obj["type"]
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            raise InputError(source, "not GeoJSON (a FeatureCollection needs a \"features\" "
                                     "list)")
        return [_geojson_feature(source, f, i) for i, f in enumerate(features, 1)]
    if kind == "Feature":
        return [_geojson_feature(source, obj, None)]
    if kind in _GEOMETRY_TYPES:
        return [SourceFeature("geometry", _geojson_geometry(source, "geometry", obj), {})]
    raise InputError(source, f"not GeoJSON (unknown type {kind!r})")


def _check_crs(source: Source, obj: dict[str, object]) -> None:
    """Old-style GeoJSON (2008) may name a CRS; only CRS84 / EPSG:4326 are lon/lat degrees."""
    crs = obj.get("crs")
    if crs is None:
        return
    props = crs.get("properties") if isinstance(crs, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    if isinstance(name, str):
        tail = re.split(r"[:/]+", name.strip().upper())
        if tail[-1] == "CRS84" or (tail[-1] == "4326" and "EPSG" in tail):
            return
    shown = name if isinstance(name, str) else json.dumps(crs)[:80]
    raise InputError(source, f"the file declares the CRS {shown}, not WGS84 lon/lat: reproject "
                             "it to WGS84 (EPSG:4326), e.g. ogr2ogr -t_srs EPSG:4326 out.geojson "
                             "in.geojson")


def _geojson_feature(source: Source, obj: object, index: int | None) -> SourceFeature:
    where = feature_label("feature", index, None)
    if not isinstance(obj, dict) or obj.get("type") != "Feature":
        raise InputError(source, f"{where}: not a GeoJSON Feature")
    props = obj.get("properties") or {}
    if not isinstance(props, dict):
        raise InputError(source, f"{where}: \"properties\" is not an object")
    label = feature_label("feature", index, props.get("name"))
    _check_crs(source, obj)
    geom = obj.get("geometry")
    geometry = None if geom is None else _geojson_geometry(source, label, geom)
    return SourceFeature(label, geometry, props)


def _geojson_geometry(source: Source, label: str, obj: object) -> BaseGeometry:
    if not isinstance(obj, dict):
        raise InputError(source, f"{label}: the geometry is not an object")
    _check_crs(source, obj)
    kind = obj.get("type")
    if kind == "GeometryCollection":
        members = obj.get("geometries")
        if not isinstance(members, list):
            raise InputError(source, f"{label}: a GeometryCollection needs a \"geometries\" list")
        return GeometryCollection([_geojson_geometry(source, label, g) for g in members])
    if not isinstance(kind, str) or kind not in _GEOMETRY_TYPES:
        raise InputError(source, f"{label}: unknown geometry type {kind!r}")
    if "coordinates" not in obj:
        raise InputError(source, f"{label}: the {kind} has no \"coordinates\"")
    coords = obj["coordinates"]
    if kind.startswith("Multi"):
        single = kind.removeprefix("Multi")
        items = _list(source, label, coords)
        return GeometryCollection([_single(source, label, single, c) for c in items])
    return _single(source, label, kind, coords)


def _list(source: Source, label: str, value: object) -> list[object]:
    if not isinstance(value, list):
        raise InputError(source, f"{label}: bad coordinates {json.dumps(value)[:40]} "
                                 "(expected a list)")
    return value


def _position(source: Source, label: str, value: object) -> Position:
    if (not isinstance(value, list) or not 2 <= len(value) <= 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise InputError(source, f"{label}: bad position {json.dumps(value)[:40]} "
                                 "(expected [lon, lat])")
    return position(source, label, float(value[0]), float(value[1]))


def _positions(source: Source, label: str, value: object) -> list[Position]:
    return [_position(source, label, v) for v in _list(source, label, value)]


def _single(source: Source, label: str, kind: str, coords: object) -> BaseGeometry:
    if kind == "Point":
        return Point(_position(source, label, coords))
    if kind == "LineString":
        return line_from_positions(source, label, _positions(source, label, coords))
    rings = [_positions(source, label, r) for r in _list(source, label, coords)]
    return polygon_from_rings(source, label, rings)


_GEOMETRY_TYPES = frozenset({"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                             "MultiPolygon", "GeometryCollection"})
