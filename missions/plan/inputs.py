"""Reading and checking the planner's input files: survey area, no-fly zones, points of interest.

Files are read through GDAL (:func:`survey.core.vector.read_vector`): GeoJSON, KML/KMZ,
GeoPackage, Shapefile and the other vector formats GDAL knows, every layer of the file (KML
folders, GeoPackage tables). A layer in another coordinate system is reprojected to WGS84; a
GeoJSON file that declares a CRS other than WGS84 (a 2008-style ``crs`` member) is refused, as
RFC 7946 GeoJSON is lon/lat and tools disagree on that member. Every geometry comes back in lon/lat
degrees; every problem is an :class:`~survey.core.errors.InputError` naming the file and, where
there is one, the feature (``feature 3 'Hospital': ...``, ``placemark 2: ...`` in KML), numbered
from 1 across the file's layers.

Latitude and longitude swapped cannot be told apart from a real place in general, so it is not
guessed at; coordinates outside ±180/±90 are refused (they usually mean a projected CRS).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from missions.plan.limits import check_vertices
from survey.core.errors import InputError, ParamError
from survey.core.frame import LocalFrame
from survey.core.geometry import single_parts
from survey.core.vector import Feature, Source, is_wgs84, read_vector

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
    """The survey area: the union of every polygon in the file (every layer of it).

    Points and lines in the file are ignored; holes are kept.

    Parameters
    ----------
    path
        GeoJSON (a Polygon/MultiPolygon geometry, a Feature, or a FeatureCollection), KML or
        KMZ (Polygon or MultiGeometry placemarks), GeoPackage, Shapefile, or another vector
        file GDAL reads.

    Returns
    -------
    Polygon | MultiPolygon
        Lon/lat degrees.

    Raises
    ------
    InputError
        Unreadable file or not a vector file, a GeoJSON ``crs`` that is not WGS84, an
        unreadable geometry, coordinates out of range or not finite, more than
        :data:`~missions.plan.limits.MAX_INPUT_VERTICES` vertices, a file across the
        antimeridian, no polygon, an empty or self-intersecting polygon.
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
        Any file :func:`read_area` reads. A file without features gives an empty list.

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
        label, props = feature.label, feature.attrs
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
        Any file :func:`read_area` reads.

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
        name = _name(feature.attrs, label)
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


def parse_latlon(text: str, param: str = "home") -> tuple[float, float]:
    """``"LAT,LON"`` in decimal degrees to ``(lat_deg, lon_deg)``.

    >>> parse_latlon(" 36.073, 139.988 ")
    (36.073, 139.988)

    Raises
    ------
    ParamError
        Naming ``param``: not two numbers, not finite, or out of range (|lat| > 90,
        |lon| > 180).
    """
    parts = text.split(",")
    try:
        lat_deg, lon_deg = (float(p) for p in parts)
    except ValueError:
        raise ParamError(param, f"expected LAT,LON in decimal degrees "
                                f"(e.g. 36.073,139.988), got {text!r}") from None
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)):
        raise ParamError(param, f"LAT,LON must be finite numbers, got {text!r}")
    if abs(lat_deg) > 90.0:
        raise ParamError(param, f"latitude {lat_deg:g} is out of range (-90 to 90)")
    if abs(lon_deg) > 180.0:
        raise ParamError(param, f"longitude {lon_deg:g} is out of range (-180 to 180)")
    return lat_deg, lon_deg


# --- checks shared by the readers -------------------------------------------------------------

def _parts(geom: BaseGeometry | None) -> list[BaseGeometry]:
    """Single-part geometries of ``geom``, empty ones kept: the checks report them."""
    return single_parts(geom, drop_empty=False)


def _check_lonlat(source: Source, label: str, geom: BaseGeometry) -> None:
    xy = shapely.get_coordinates(geom)
    finite = np.isfinite(xy).all(axis=1)
    if not finite.all():
        x, y = xy[np.argmin(finite)]
        raise InputError(source, f"{label}: coordinate ({x:g}, {y:g}) is not a finite number")
    bad = (np.abs(xy[:, 0]) > 180.0) | (np.abs(xy[:, 1]) > 90.0)
    if bad.any():
        x, y = xy[np.argmax(bad)]
        raise InputError(source, f"{label}: coordinate ({x:.10g}, {y:.10g}) is out of range for "
                                 "lon/lat degrees (projected coordinates? reproject to WGS84 "
                                 "lon/lat, EPSG:4326)")


def _checked_polygon(source: Source, label: str, poly: Polygon) -> Polygon:
    _check_lonlat(source, label, poly)
    if poly.is_empty:
        raise InputError(source, f"{label}: empty polygon")
    for ring in (poly.exterior, *poly.interiors):
        if len(ring.coords) < 4:
            raise InputError(source, f"{label}: polygon ring with only {len(ring.coords) - 1} "
                                     "corners (needs at least 3)")
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

def _read_features(path: Source) -> list[Feature]:
    vector = read_vector(path)
    for layer in vector.layers:
        if vector.driver == "GeoJSON" and layer.crs and not is_wgs84(layer.crs):
            # RFC 7946 GeoJSON is lon/lat; a 2008-style "crs" member is honoured by some
            # tools and ignored by others, so the file is refused rather than guessed at
            raise InputError(path, f"the file declares the CRS {layer.crs}, not WGS84 lon/lat: "
                                   "reproject it to WGS84 (EPSG:4326), e.g. ogr2ogr -t_srs "
                                   "EPSG:4326 out.geojson in.geojson, or hand over a GeoPackage")
    features = vector.features
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
