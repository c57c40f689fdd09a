"""Reading an xBD (xView2) label file: each building's polygon, damage class and uid.

An xBD label file (``labels/<tile>_post_disaster.json``) holds every building twice:
``features.xy[i]`` (WKT in the tile's pixel coordinates, with ``properties.subtype`` and
``properties.uid``) and ``features.lng_lat[i]`` (the same polygon in WGS84, the same ``uid``),
plus a ``metadata`` object (image name, size, disaster, ...). :func:`read_xbd_labels` is the one
reader of that format: the dataset converter (:mod:`detection.xbd`) and the xBD scene
(:mod:`sitl.world.xbd_scene`) both start from what it returns.

A building whose subtype is in :data:`~survey.core.damage.XBD_DROPPED_SUBTYPES`
(``un-classified``) is kept with ``damage=None``: it carries no damage level, but its polygon
still georeferences the tile and measures its GSD. Converters drop it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon

from survey.core.damage import XBD_DROPPED_SUBTYPES, DamageClass
from survey.core.errors import InputError


@dataclass(frozen=True, slots=True)
class XbdBuildingLabel:
    """One building of an xBD label file.

    Attributes
    ----------
    uid
        ``properties.uid`` (the feature's index, as text, when it has none).
    polygon_px
        The ``features.xy`` polygon, continuous pixel coordinates of the tile (the largest part
        of a multipolygon).
    damage
        The class of ``properties.subtype``; ``None`` for ``un-classified``.
    polygon_lonlat
        The ``features.lng_lat`` polygon of the same ``uid`` (lon/lat degrees), ``None`` when the
        file has none for it.
    """

    uid: str
    polygon_px: Polygon
    damage: DamageClass | None
    polygon_lonlat: Polygon | None = None


@dataclass(frozen=True, slots=True)
class XbdLabels:
    """An xBD label file, read.

    Attributes
    ----------
    source
        Where it was read from (a path, or the name given to :func:`parse_xbd_labels`).
    metadata
        The ``metadata`` object, ``None`` when the file has none.
    buildings
        Every ``features.xy`` building in file order, ``un-classified`` ones included.
    """

    source: str
    metadata: Mapping[str, Any] | None
    buildings: tuple[XbdBuildingLabel, ...]

    @property
    def unclassified(self) -> int:
        """How many buildings carry no damage class (``un-classified``)."""
        return sum(b.damage is None for b in self.buildings)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _polygon(source: str, where: str, wkt: object) -> Polygon:
    if not isinstance(wkt, str):
        raise InputError(source, f"{where}: bad WKT polygon (no wkt string)")
    try:
        geom = shapely.from_wkt(wkt)
    except (ShapelyError, TypeError, ValueError) as exc:
        raise InputError(source, f"{where}: bad WKT polygon ({_one_line(exc)})") from None
    if geom is None or geom.is_empty:
        raise InputError(source, f"{where}: empty polygon")
    if isinstance(geom, MultiPolygon):
        geom = max(geom.geoms, key=lambda g: g.area)
    if not isinstance(geom, Polygon):
        raise InputError(source, f"{where}: a {geom.geom_type}, expected a polygon")
    return geom


def _damage(source: str, where: str, subtype: object) -> DamageClass | None:
    if isinstance(subtype, str) and subtype in XBD_DROPPED_SUBTYPES:
        return None
    try:
        return DamageClass.from_xbd_subtype(str(subtype))
    except ValueError as exc:
        raise InputError(source, f"{where}: {exc}") from None


def _uid(feature: Mapping[str, Any], index: int) -> str:
    props = feature.get("properties")
    uid = props.get("uid") if isinstance(props, dict) else None
    return str(uid) if uid is not None else str(index)


def _lonlat_by_uid(source: str, features: Mapping[str, Any]) -> dict[str, Polygon]:
    entries = features.get("lng_lat")
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise InputError(source, "not an xBD label file (features.lng_lat is not a list)")
    out: dict[str, Polygon] = {}
    for index, feature in enumerate(entries):
        where = f"features.lng_lat[{index}]"
        if not isinstance(feature, dict):
            raise InputError(source, f"{where} is not an object")
        out[_uid(feature, index)] = _polygon(source, where, feature.get("wkt"))
    return out


def parse_xbd_labels(data: object, *, source: str | PathLike[str]) -> XbdLabels:
    """The buildings and metadata of an xBD label document already parsed from JSON.

    Parameters
    ----------
    data
        The JSON document.
    source
        The file it came from, named in errors.

    Raises
    ------
    InputError
        Not an object, no ``features.xy`` list, a feature without ``properties``, an unknown
        damage subtype, a WKT that is not a non-empty polygon. One line, naming ``source``.

    Examples
    --------
    >>> doc = {"features": {"xy": [
    ...     {"properties": {"subtype": "destroyed", "uid": "a"},
    ...      "wkt": "POLYGON ((0 0, 4 0, 4 2, 0 2, 0 0))"},
    ...     {"properties": {"subtype": "un-classified", "uid": "b"},
    ...      "wkt": "POLYGON ((5 5, 6 5, 6 6, 5 5))"}]}}
    >>> labels = parse_xbd_labels(doc, source="t.json")
    >>> [(b.uid, b.damage, b.polygon_px.bounds) for b in labels.buildings]
    [('a', <DamageClass.DESTROYED: 3>, (0.0, 0.0, 4.0, 2.0)), ('b', None, (5.0, 5.0, 6.0, 6.0))]
    >>> labels.unclassified, labels.metadata
    (1, None)
    >>> parse_xbd_labels({"metadata": {}}, source="t.json")
    Traceback (most recent call last):
    ...
    survey.core.errors.InputError: t.json: not an xBD label file (no features.xy list)
    """
    where_from = str(source)
    if not isinstance(data, dict):
        raise InputError(where_from, "not an xBD label file (top level is not an object)")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError(where_from, "not an xBD label file (metadata is not an object)")
    features = data.get("features")
    if not isinstance(features, dict) or not isinstance(features.get("xy"), list):
        raise InputError(where_from, "not an xBD label file (no features.xy list)")
    lonlat = _lonlat_by_uid(where_from, features)
    buildings = []
    for index, feature in enumerate(features["xy"]):
        where = f"features.xy[{index}]"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
            raise InputError(where_from, f"{where} has no properties")
        damage = _damage(where_from, where, feature["properties"].get("subtype"))
        polygon = _polygon(where_from, where, feature.get("wkt"))
        uid = _uid(feature, index)
        buildings.append(XbdBuildingLabel(uid, polygon, damage, lonlat.get(uid)))
    return XbdLabels(where_from, metadata, tuple(buildings))


def read_xbd_labels(path: str | PathLike[str]) -> XbdLabels:
    """Read an xBD label file (``*_post_disaster.json``): see :func:`parse_xbd_labels`.

    Raises
    ------
    InputError
        The file is missing or not JSON, or anything :func:`parse_xbd_labels` refuses.
    """
    p = Path(path)
    try:
        with p.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise InputError(p, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(p, f"not a readable JSON file ({_one_line(exc)})") from None
    return parse_xbd_labels(data, source=p)
