"""KML and KMZ reading for the planner's input files, and the pieces the GeoJSON reader shares.

A file becomes a list of :class:`SourceFeature`: a geometry in lon/lat degrees, its properties
(KML ``<name>`` and ``<ExtendedData>`` values, as strings) and a label that says where it sits in
the file. What the features *mean* (area, zones, points of interest) and the range and validity
checks live in :mod:`missions.plan.inputs`.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from os import PathLike

from shapely.geometry import GeometryCollection, LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from survey.core.errors import InputError

_KMZ_MAX_BYTES = 64 * 1024 * 1024
_GEOMETRY_TAGS = ("Point", "LineString", "LinearRing", "Polygon", "MultiGeometry")

Source = str | PathLike[str]
Position = tuple[float, float]


@dataclass(frozen=True)
class SourceFeature:
    """One feature as read from an input file, before any check of what it means.

    Attributes
    ----------
    label
        Where the feature is in the file, for messages: ``feature 3 'Hospital'``.
    geometry
        Lon/lat degrees; ``None`` for a feature without geometry. Multi-part geometries are
        GeometryCollections, so that an empty or broken part still reaches the checks.
    properties
        The feature's properties (GeoJSON values as parsed; KML values as strings).
    """

    label: str
    geometry: BaseGeometry | None
    properties: dict[str, object] = field(default_factory=dict)


def feature_label(kind: str, index: int | None, name: object) -> str:
    """``feature 3 'Hospital'``; the index is left out when ``None``, the name when empty."""
    label = kind if index is None else f"{kind} {index}"
    if isinstance(name, str) and name.strip():
        label += f" {name.strip()!r}"
    return label


def position(source: Source, label: str, lon: float, lat: float) -> Position:
    """``(lon, lat)``; raises :class:`InputError` for NaN or infinity (ranges are checked later)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputError(source, f"{label}: coordinate ({lon:g}, {lat:g}) is not a finite number")
    return lon, lat


def polygon_from_rings(source: Source, label: str, rings: list[list[Position]]) -> Polygon:
    """A polygon from its shell and holes; no rings (or an empty shell) gives an empty polygon.

    Rings may be given closed or open. Raises :class:`InputError` for a ring with fewer than
    three corners; validity (self-intersection, holes outside the shell) is checked later.
    """
    if not rings or not rings[0]:
        return Polygon()
    closed: list[list[Position]] = []
    for ring in rings:
        corners = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
        if len(corners) < 3:
            raise InputError(source, f"{label}: polygon ring with only {len(corners)} corners "
                                     "(needs at least 3)")
        closed.append(corners)
    return Polygon(closed[0], closed[1:])


def line_from_positions(source: Source, label: str, positions: list[Position]) -> LineString:
    """A line through ``positions``; raises :class:`InputError` with fewer than 2 of them."""
    if len(positions) < 2:
        raise InputError(source, f"{label}: a line needs at least 2 positions, "
                                 f"got {len(positions)}")
    return LineString(positions)


def read_kmz(source: Source, data: bytes) -> list[SourceFeature]:
    """The placemarks of a KMZ (a zip holding ``doc.kml`` or another ``.kml`` file).

    Raises
    ------
    InputError
        Not a zip archive, no ``.kml`` inside, a damaged or oversized member, or bad KML.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(source, "not a KMZ file (not a zip archive)") from None
    with archive:
        names = sorted((n for n in archive.namelist() if n.lower().endswith(".kml")),
                       key=lambda n: (n.lower() != "doc.kml", n.count("/"), n))
        if not names:
            raise InputError(source, "not a KMZ file (the zip holds no .kml file)")
        if archive.getinfo(names[0]).file_size > _KMZ_MAX_BYTES:
            raise InputError(source, f"{names[0]} in the KMZ is larger than 64 MiB")
        try:
            kml = archive.read(names[0])
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise InputError(source, f"damaged KMZ file ({e})") from None
    return read_kml(source, kml)


def read_kml(source: Source, data: bytes) -> list[SourceFeature]:
    """The placemarks of a KML document, in document order (folders at any depth).

    Elements are matched in the namespace of the root ``<kml>`` element (KML 2.2, the older
    Google Earth namespaces, or none); extension elements such as ``gx:Track`` are skipped.

    Raises
    ------
    InputError
        Not XML, not a ``<kml>`` root, or unreadable coordinates.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise InputError(source, f"not KML (XML error: {e})") from None
    ns, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "kml":
        raise InputError(source, f"not KML (the root element is <{local}>, expected <kml>)")
    reader = _KmlReader(source, ns)
    return [reader.placemark(pm, i) for i, pm in enumerate(root.iter(reader.q("Placemark")), 1)]


@dataclass(frozen=True)
class _KmlReader:
    source: Source
    ns: str
    geometry_tags: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "geometry_tags", frozenset(self.q(t) for t in _GEOMETRY_TAGS))

    def q(self, name: str) -> str:
        """``name`` in the document's KML namespace, as ElementTree spells tags."""
        return f"{{{self.ns}}}{name}" if self.ns else name

    def placemark(self, pm: ET.Element, index: int) -> SourceFeature:
        props: dict[str, object] = {}
        name = pm.findtext(self.q("name"))
        if name and name.strip():
            props["name"] = name.strip()
        props.update(self.extended_data(pm))
        label = feature_label("placemark", index, props.get("name"))
        parts = [self.geometry(el, label) for el in pm if el.tag in self.geometry_tags]
        if not parts:
            return SourceFeature(label, None, props)
        geometry = parts[0] if len(parts) == 1 else GeometryCollection(parts)
        return SourceFeature(label, geometry, props)

    def extended_data(self, pm: ET.Element) -> dict[str, object]:
        """``<Data name=..><value>`` and ``<SchemaData><SimpleData name=..>`` as strings."""
        out: dict[str, object] = {}
        ext = pm.find(self.q("ExtendedData"))
        if ext is None:
            return out
        for data in ext.iter(self.q("Data")):
            if data.get("name"):
                out[data.get("name", "")] = (data.findtext(self.q("value")) or "").strip()
        for simple in ext.iter(self.q("SimpleData")):
            if simple.get("name"):
                out[simple.get("name", "")] = (simple.text or "").strip()
        return out

    def geometry(self, el: ET.Element, label: str) -> BaseGeometry:
        tag = el.tag.rpartition("}")[2]
        if tag == "MultiGeometry":
            return GeometryCollection(
                [self.geometry(c, label) for c in el if c.tag in self.geometry_tags])
        if tag == "Polygon":
            outer = el.find(f"{self.q('outerBoundaryIs')}/{self.q('LinearRing')}")
            rings = [] if outer is None else [self.coordinates(outer, label)]
            for inner in el.iterfind(f"{self.q('innerBoundaryIs')}/{self.q('LinearRing')}"):
                rings.append(self.coordinates(inner, label))
            return polygon_from_rings(self.source, label, rings)
        positions = self.coordinates(el, label)
        if tag == "Point":
            if len(positions) != 1:
                raise InputError(self.source, f"{label}: a Point needs exactly 1 position, "
                                              f"got {len(positions)}")
            return Point(positions[0])
        return line_from_positions(self.source, label, positions)  # LineString, LinearRing

    def coordinates(self, el: ET.Element, label: str) -> list[Position]:
        """``lon,lat[,alt]`` tuples separated by whitespace (altitudes are dropped)."""
        text = re.sub(r"\s*,\s*", ",", el.findtext(self.q("coordinates")) or "")
        positions: list[Position] = []
        for token in text.split():
            try:
                values = [float(v) for v in token.split(",")]
            except ValueError:
                values = []
            if not 2 <= len(values) <= 3:
                raise InputError(self.source, f"{label}: bad KML coordinates {token!r} "
                                              "(expected lon,lat[,alt])")
            positions.append(position(self.source, label, values[0], values[1]))
        return positions
