"""Reading vector files through GDAL's drivers (pyogrio): GeoJSON, KML/KMZ, GeoPackage, Shapefile,
FlatGeobuf, GPX, an OpenStreetMap extract and whatever else the GDAL build reads.

Every geometry comes back as a 2-D shapely geometry in WGS84 lon/lat degrees (reprojected with
pyproj when the layer declares another coordinate system), each feature with its attributes as
JSON-able values and a label that says where it sits in the file (``feature 3 'Hospital'``,
``placemark 2``) for messages. A file that cannot be read is one :class:`InputError` naming it.
What the features mean, and any check of their geometry, is the caller's business.
"""

from __future__ import annotations

import json
import math
import re
import warnings
import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from survey.core.errors import InputError

__all__ = ["Feature", "Layer", "Source", "VectorFile", "is_wgs84", "read_vector"]

Source = str | PathLike[str]

_KML_DRIVERS = frozenset({"LIBKML", "KML"})
# layers that repeat other layers' vertices, left out when every layer is read
_DERIVED_LAYERS = {"GPX": frozenset({"route_points", "track_points"})}
_SNIFF_BYTES = 1 << 20  # how much of an unreadable file is looked at to say what is wrong


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature of a vector file.

    Attributes
    ----------
    label
        Where it is in the file, for messages: ``feature 3 'Hospital'`` (``placemark`` in KML),
        numbered from 1 across every layer read, with its ``name``/``Name`` when it has one.
    geometry
        2-D, WGS84 lon/lat degrees; ``None`` for a feature without geometry.
    attrs
        The feature's fields: ``str``, ``int``, ``float``, ``bool`` or ``None`` (nulls, NaN);
        dates as ISO text, anything else as its text.
    fid
        GDAL's feature id (a GeoJSON ``id``, a GeoPackage row id, ...).
    """

    label: str
    geometry: BaseGeometry | None
    attrs: dict[str, object]
    fid: int


@dataclass(frozen=True, slots=True)
class Layer:
    """A layer as read: its name, the CRS it declares (``None``: none) and its features."""

    name: str
    crs: str | None
    fields: tuple[str, ...]
    features: list[Feature]


@dataclass(frozen=True, slots=True)
class VectorFile:
    """The layers read from one file, and the GDAL driver that read it (``GeoJSON``, ``GPKG``,
    ``LIBKML``, ``ESRI Shapefile``...)."""

    source: str
    driver: str
    layers: list[Layer]

    @property
    def features(self) -> list[Feature]:
        """Every layer's features, in layer and then file order."""
        return [f for layer in self.layers for f in layer.features]


def is_wgs84(crs: str | None) -> bool:
    """Whether ``crs`` (any form pyproj reads) is WGS84 lon/lat, 2-D or 3-D, either axis order."""
    from pyproj import CRS

    if not crs:
        return False
    return bool(CRS.from_user_input(crs).to_2d().equals(CRS.from_epsg(4326),
                                                        ignore_axis_order=True))


def read_vector(path: Source, *, layer: str | int | None = None,
                where: str | None = None, max_features: int | None = None) -> VectorFile:
    """The features of a vector file, geometry in WGS84 lon/lat.

    Parameters
    ----------
    path
        A file, or a folder GDAL reads as one dataset (a File Geodatabase, a folder of
        Shapefiles).
    layer
        ``None``: every layer that has geometry, in the file's order (a KML folder, a
        GeoPackage table; not GPX's ``route_points``/``track_points``, which repeat the
        routes' and tracks' vertices); a name: that layer; an index: that one of the layers
        with geometry (``0``: the first).
    where
        An attribute filter in OGR SQL (``"building IS NOT NULL"``).
    max_features
        Read at most this many features of each layer.

    Raises
    ------
    InputError
        No such file; a folder or file GDAL does not read (with what is wrong: empty, not JSON,
        not UTF-8, not KML...); a geometry that cannot be decoded; a coordinate system pyproj
        does not know; a layer without a coordinate system whose coordinates are not lon/lat.
    """
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    file = Path(path)
    if not file.exists():
        raise InputError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on what it repaired
            # the layers with geometry: a GeoPackage's attribute tables and styles are left out
            names = [str(n) for n, kind in pyogrio.list_layers(file) if kind is not None]
            if isinstance(layer, str):
                if layer not in names:
                    raise InputError(path, f"no layer {layer!r} with geometry in the file "
                                           f"(it has {', '.join(map(repr, names)) or 'none'})")
                names = [layer]
            elif isinstance(layer, int):
                names = names[layer:layer + 1]
            driver = str(pyogrio.read_info(file, layer=names[0])["driver"]) if names else ""
            if layer is None:
                names = [n for n in names if n not in _DERIVED_LAYERS.get(driver, ())]
            kind = "placemark" if driver in _KML_DRIVERS else "feature"
            layers: list[Layer] = []
            count = 0
            for name in names:
                meta, fids, wkb, values = pyogrio.raw.read(
                    file, layer=name, where=where, max_features=max_features, force_2d=True,
                    return_fids=True, datetime_as_string=True)
                read = _layer(path, name, meta, fids, wkb, values, kind, count)
                count += len(read.features)
                layers.append(read)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    if file.is_dir() and not layers:
        raise InputError(path, "is a folder, not a file")
    return VectorFile(str(file), driver, layers)


def _layer(source: Source, name: str, meta: dict, fids: np.ndarray | None, wkb: np.ndarray,
           values: list[np.ndarray], kind: str, start: int) -> Layer:
    fields = tuple(str(f) for f in meta.get("fields", ()))
    crs = meta.get("crs") or None
    declared = [str(d) for d in meta.get("dtypes", ())] or ["object"] * len(fields)
    columns = [_column(v, d) for v, d in zip(values, declared, strict=True)]
    rows = [{f: columns[j][i] for j, f in enumerate(fields)} for i in range(len(wkb))]
    labels = [_label(kind, start + i + 1, attrs.get("name", attrs.get("Name")))
              for i, attrs in enumerate(rows)]
    geoms = _to_wgs84(source, name, _decode(source, wkb, labels), crs)
    features = [Feature(labels[i], geoms[i], rows[i], int(fids[i]) if fids is not None else i)
                for i in range(len(rows))]
    return Layer(name, crs, fields, features)


def _label(kind: str, index: int, name: object) -> str:
    label = f"{kind} {index}"
    if isinstance(name, str) and name.strip():
        label += f" {name.strip()!r}"
    return label


_GEOS_PROBLEMS = {  # what GEOS says about WKB it will not take, and what that usually means
    "point array must contain 0 or >1 elements": "a line needs at least 2 positions",
    "Points of LinearRing do not form a closed linestring":
        "a polygon ring that cannot be closed (NaN coordinates?)",
}


def _decode(source: Source, wkb: np.ndarray, labels: list[str]) -> np.ndarray:
    """Shapely geometries from GDAL's WKB; rings GDAL left open are closed (``fix``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        geoms = shapely.from_wkb(wkb, on_invalid="fix")
    given = np.array([b is not None for b in wkb], dtype=bool)
    bad = np.flatnonzero(shapely.is_missing(geoms) & given)
    if bad.size:
        i = int(bad[0])
        try:
            shapely.from_wkb(wkb[i])
            problem = "cannot be decoded"
        except shapely.errors.GEOSException as exc:
            text = " ".join(str(exc).split()).partition(": ")[2] or str(exc)
            problem = _GEOS_PROBLEMS.get(text, text)
        raise InputError(source, f"{labels[i]}: unreadable geometry: {problem}")
    return geoms


def _to_wgs84(source: Source, layer: str, geoms: np.ndarray, crs: str | None) -> np.ndarray:
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    present = geoms[~shapely.is_missing(geoms)]
    if not crs:
        west, south, east, north = shapely.total_bounds(present)
        lonlat = max(abs(west), abs(east)) <= 180 and max(abs(south), abs(north)) <= 90
        if present.size and not lonlat:
            raise InputError(source, f"layer {layer!r}: no coordinate system and coordinates are "
                                   "not lon/lat (a Shapefile without its .prj?)")
        return geoms
    try:
        declared = CRS.from_user_input(crs)
    except CRSError:
        raise InputError(source, f"layer {layer!r}: unknown coordinate system {crs[:60]!r}") \
            from None
    if is_wgs84(crs) or not present.size:
        return geoms
    tf = Transformer.from_crs(declared, 4326, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


def _column(values: np.ndarray, declared: str) -> list[object]:
    """A field's values as JSON-able Python values. pyogrio hands an integer or boolean field
    with nulls over as floats with NaN: they are turned back into ``int``/``bool``."""
    out = [_jsonable(v) for v in values]
    if declared == "bool":
        return [v if v is None else bool(v) for v in out]
    if declared.startswith(("int", "uint")):
        return [int(v) if isinstance(v, float) else v for v in out]
    return out


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _unreadable(source: Source, exc: Exception) -> InputError:
    """What is wrong with a file GDAL cannot open, in a few words."""
    file = Path(source)
    gdal = (str(exc).splitlines() or [type(exc).__name__])[0]
    for shown in (f"'{file}'", str(file), str(source)):
        gdal = gdal.replace(shown, "the file")
    if "not recognized as being in a supported file format" in gdal:
        gdal = "GDAL does not recognise the format"
    gdal = re.sub(r"^ERROR parsing kml (layer \S+ from )?the file ?:", "XML error: ", gdal)
    gdal = re.sub(r"^Failed to read GeoJSON data;\s*(Layer schema generation failed\.;\s*)?", "",
                  gdal)
    if file.is_dir():
        return InputError(source, "is a folder, not a file")
    try:
        with file.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES + 1)
    except OSError as e:
        return InputError(source, f"cannot read the file ({e.strerror or e})")
    if not head.strip():
        return InputError(source, "empty file")
    suffix = file.suffix.lower()
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if suffix == ".kmz":
        return InputError(source, _not_kmz(file, head, gdal))
    if suffix == ".kml":
        return InputError(source, f"not KML ({gdal})")
    if suffix in (".geojson", ".json") or text[:1] in (b"{", b"["):
        return InputError(source, _not_geojson(head, gdal))
    if text[:1] == b"<":
        return InputError(source, f"not KML ({gdal})")
    return InputError(source, f"not a vector file GDAL reads ({gdal}): use GeoJSON, KML/KMZ, "
                            "GeoPackage or a Shapefile")


def _not_geojson(head: bytes, gdal: str) -> str:
    if len(head) <= _SNIFF_BYTES:
        try:
            json.loads(head.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return "not JSON (the file is not UTF-8 text)"
        except json.JSONDecodeError as e:
            return f"not JSON (line {e.lineno}, column {e.colno}: {e.msg})"
    return f"not GeoJSON ({gdal})"


def _not_kmz(file: Path, head: bytes, gdal: str) -> str:
    if not head.startswith(b"PK\x03\x04"):
        return "not a KMZ file (not a zip archive)"
    if gdal.startswith("XML error"):
        return f"not KML ({gdal})"
    try:
        with zipfile.ZipFile(file) as archive:
            if not any(n.lower().endswith(".kml") for n in archive.namelist()):
                return "not a KMZ file (the zip holds no .kml file)"
    except (zipfile.BadZipFile, OSError) as e:
        return f"not a KMZ file (damaged zip archive: {e})"
    return f"not a KMZ file ({gdal})"
