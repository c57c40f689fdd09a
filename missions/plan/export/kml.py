"""KML 2.2 of a whole plan, for Google Earth and phones.

A Folder per sortie holds the flight path (a 3D LineString, altitudes relative to the ground,
built from the mission items: climb at home, the waypoints, return home) and the photo points;
further Folders hold the fence (exclusion zones red) and the rally points; home is a Placemark.
Every Placemark carries ``kind`` (and ``sortie``, ``index``) in its ExtendedData, so the file
reads back without relying on names. The text is written as strings (text and attributes
escaped), not as an element tree, which is too slow for the photos of a large plan; it is read
back with ``xml.etree``. Numbers are exact (the shortest decimal that reads back as the same
double).
"""

from __future__ import annotations

import functools
import os
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from missions.plan.export.waypoints import exact_decimal
from missions.plan.items import Cmd, FenceZone
from missions.plan.model import Plan, Sortie
from survey.core.errors import InputError
from survey.core.files import atomic_write_text

KML_NS = "http://www.opengis.net/kml/2.2"

# KML colours are aabbggrr. Lines and polygons: (line colour, fill colour or None, width).
_AREA_STYLES = {
    "route": ("ff00ffff", None, 3.0),  # yellow
    "inclusion": ("ff00ff00", None, 2.0),  # green outline
    "exclusion": ("ff0000ff", "660000ff", 2.0),  # red outline, translucent red fill
}
# Points: (icon colour, scale).
_POINT_STYLES = {"photo": ("ffffffff", 0.5), "rally": ("ffff8800", 1.0), "home": ("ff00ffff", 1.2)}


def route_coords(plan: Plan, sortie: Sortie) -> list[tuple[float, float, float]]:
    """The sortie's flight path as ``(lon_deg, lat_deg, alt_m above home)`` from its items.

    Starts on the ground at home; a take-off climbs at home; waypoints and landings with a
    position are flown to; return-to-launch flies home at the current altitude and descends.
    """
    home = (plan.home_lon_deg, plan.home_lat_deg)
    pts: list[tuple[float, float, float]] = [(*home, 0.0)]
    for it in sortie.items:
        if it.command == Cmd.NAV_TAKEOFF:
            pts.append((*home, it.alt_m))
        elif it.command == Cmd.NAV_WAYPOINT:
            pts.append((it.lon_deg, it.lat_deg, it.alt_m))
        elif it.command == Cmd.NAV_LAND:
            placed = (it.lat_deg, it.lon_deg) != (0.0, 0.0)  # 0, 0: land where it is
            lon, lat = (it.lon_deg, it.lat_deg) if placed else pts[-1][:2]
            pts += [(lon, lat, pts[-1][2]), (lon, lat, 0.0)]
        elif it.command == Cmd.NAV_RETURN_TO_LAUNCH:
            pts += [(*home, pts[-1][2]), (*home, 0.0)]
    return pts


@functools.lru_cache(maxsize=1024)
def fence_outline(zone: FenceZone) -> tuple[tuple[float, float], ...]:
    """``zone.outline()``, remembered: a circle's needs a projection of its own (tens of
    milliseconds to set up), and the KML and the GeoJSON of a plan both draw it."""
    return tuple(zone.outline())


def write_kml(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write the plan as one KML 2.2 document (atomically).

    The text is built as strings, indented two spaces a level as ``ET.indent`` would: a large
    plan has tens of thousands of photo Placemarks, too many for an element tree.

    Parameters
    ----------
    plan
        The plan: sorties (route and photos), fence, rally points, home.
    path
        Output ``.kml`` file.
    """
    doc = _Writer()
    doc.open("kml", xmlns=KML_NS)
    doc.open("Document")
    doc.leaf("name", f"Survey plan ({plan.mode.value}, {len(plan.sorties)} sorties)")
    doc.leaf("description", "\n".join([
        f"{plan.altitude_m:g} m above home, {plan.gsd_cm:.2f} cm/px, camera {plan.camera.name}",
        *plan.notes,
    ]))
    for name, (line, fill, width) in _AREA_STYLES.items():
        doc.open("Style", id=name)
        doc.open("LineStyle")
        doc.leaf("color", line)
        doc.leaf("width", f"{width:g}")
        doc.close()
        doc.open("PolyStyle")
        doc.leaf("color", fill or "00000000")
        doc.leaf("fill", "1" if fill else "0")
        doc.close(2)
    for name, (color, scale) in _POINT_STYLES.items():
        doc.open("Style", id=name)
        doc.open("IconStyle")
        doc.leaf("color", color)
        doc.leaf("scale", f"{scale:g}")
        doc.close(2)
    _point(doc, "Home", {"kind": "home"}, (plan.home_lon_deg, plan.home_lat_deg, 0.0), "home")
    for sortie in plan.sorties:
        _sortie_folder(doc, plan, sortie)
    _folder(doc, "Fence")
    for i, zone in enumerate(plan.fence, start=1):
        kind = "inclusion" if zone.inclusion else "exclusion"
        _placemark(doc, f"Fence {i} ({kind})", {"kind": "fence", "index": str(i),
                                                "inclusion": str(zone.inclusion).lower()}, kind)
        ring = [(lon, lat, 0.0) for lat, lon in fence_outline(zone)]
        doc.open("Polygon")
        doc.open("outerBoundaryIs")
        doc.open("LinearRing")
        doc.leaf("coordinates", _coords([*ring, ring[0]], alt=False))
        doc.close(4)
    doc.close()
    _folder(doc, "Rally points")
    for i, r in enumerate(plan.rally, start=1):
        _point(doc, f"Rally {i}", {"kind": "rally", "index": str(i)},
               (r.lon_deg, r.lat_deg, r.alt_m), "rally")
    doc.close(3)
    atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + doc.text() + "\n")


class _Writer:
    """XML text built line by line, each element on its own line, two spaces a level deeper
    than its parent (the layout of ``ET.indent``); text and attribute values are escaped."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._open: list[str] = []

    @property
    def indent(self) -> str:
        return "  " * len(self._open)

    def open(self, tag: str, **attrs: str) -> None:
        """Start an element that has children."""
        self.lines.append(f"{self.indent}<{tag}{_attrs(attrs)}>")
        self._open.append(tag)

    def close(self, levels: int = 1) -> None:
        """End the innermost ``levels`` open elements."""
        for _ in range(levels):
            tag = self._open.pop()
            self.lines.append(f"{self.indent}</{tag}>")

    def leaf(self, tag: str, text: str, **attrs: str) -> None:
        """An element holding only text."""
        self.lines.append(f"{self.indent}<{tag}{_attrs(attrs)}>{escape(text)}</{tag}>")

    def template(self, text: str) -> str:
        """``text`` (lines of XML) indented to the current level, to fill in for :meth:`raw`."""
        return textwrap.indent(text, self.indent)

    def raw(self, text: str) -> None:
        """Lines of XML already built, escaped and indented."""
        self.lines.append(text)

    def text(self) -> str:
        if self._open:
            raise ValueError(f"unclosed elements: {self._open}")
        return "\n".join(self.lines)


def _attrs(attrs: dict[str, str]) -> str:
    return "".join(f" {key}={quoteattr(value)}" for key, value in attrs.items())


# A photo's Placemark (the layout of _placemark and _point), filled in per photo: tens of
# thousands of them in a large plan. The values are numbers, so nothing needs escaping.
_PHOTO = """\
<Placemark>
  <name>Photo {n}.{i}</name>
  <styleUrl>#photo</styleUrl>
  <ExtendedData>
    <Data name="kind">
      <value>photo</value>
    </Data>
    <Data name="sortie">
      <value>{n}</value>
    </Data>
    <Data name="index">
      <value>{i}</value>
    </Data>
    <Data name="heading_deg">
      <value>{heading:g}</value>
    </Data>
  </ExtendedData>
  <Point>
    <altitudeMode>relativeToGround</altitudeMode>
    <coordinates>{lon},{lat},{alt}</coordinates>
  </Point>
</Placemark>"""


def _sortie_folder(doc: _Writer, plan: Plan, sortie: Sortie) -> None:
    n = sortie.number
    _folder(doc, f"Sortie {n}")
    about = (f"{sortie.distance_m / 1000:.2f} km, {sortie.time_s / 60:.1f} min, "
             f"{len(sortie.photos)} photos, {sortie.lines} lines")
    _placemark(doc, f"Sortie {n} route", {"kind": "route", "sortie": str(n)}, "route", about)
    doc.open("LineString")
    doc.leaf("altitudeMode", "relativeToGround")
    doc.leaf("coordinates", _coords(route_coords(plan, sortie)))
    doc.close(2)
    _folder(doc, f"Sortie {n} photos")
    if sortie.photos:
        xy = np.array([(p.x_m, p.y_m) for p in sortie.photos])
        lon, lat = plan.frame.to_geo(xy[:, 0], xy[:, 1])  # all photos in one transform
        alt, photo_xml = _decimal(plan.altitude_m), doc.template(_PHOTO)
        doc.raw("\n".join(
            photo_xml.format(n=n, i=i, heading=photo.heading_deg, lon=_decimal(x),
                             lat=_decimal(y), alt=alt)
            for i, (photo, x, y) in enumerate(zip(sortie.photos, lon.tolist(), lat.tolist(),
                                                  strict=True), start=1)))
    doc.close(2)


def _folder(doc: _Writer, name: str) -> None:
    """Open a Folder (the caller closes it)."""
    doc.open("Folder")
    doc.leaf("name", name)


def _placemark(doc: _Writer, name: str, data: dict[str, str], style: str,
               description: str | None = None) -> None:
    """Open a Placemark with its name, style and data (the caller adds its geometry and closes
    it)."""
    doc.open("Placemark")  # children in the order the KML schema wants
    doc.leaf("name", name)
    if description is not None:
        doc.leaf("description", description)
    doc.leaf("styleUrl", f"#{style}")
    doc.open("ExtendedData")
    for key, value in data.items():
        doc.open("Data", name=key)
        doc.leaf("value", value)
        doc.close()
    doc.close()


def _point(doc: _Writer, name: str, data: dict[str, str], coords: tuple[float, float, float],
           style: str) -> None:
    _placemark(doc, name, data, style)
    doc.open("Point")
    doc.leaf("altitudeMode", "relativeToGround")
    doc.leaf("coordinates", _coords([coords]))
    doc.close(2)


def _coords(points: Iterable[tuple[float, float, float]], *, alt: bool = True) -> str:
    d = _decimal
    return " ".join(f"{d(lon)},{d(lat)},{d(a)}" if alt else f"{d(lon)},{d(lat)}"
                    for lon, lat, a in points)


def _decimal(x: float) -> str:
    """:func:`exact_decimal` of ``x``, quicker where ``repr`` has no exponent (most numbers)."""
    text = repr(float(x))
    if "e" in text or "n" in text:  # 1e-05, inf, nan
        return exact_decimal(x)
    return text.removesuffix(".0")


def read_kml_routes(path: str | os.PathLike[str]) -> dict[int, list[tuple[float, float, float]]]:
    """The route of each sortie in a KML written by :func:`write_kml`.

    Returns
    -------
    dict
        Sortie number → ``(lon_deg, lat_deg, alt_m)`` points, in sortie order.

    Raises
    ------
    InputError
        Not XML, not KML, or a route Placemark without a sortie number or readable coordinates.
    """
    try:
        root = ET.parse(path).getroot()
    except OSError as e:
        raise InputError(path, f"cannot read the KML file: {e.strerror or e}") from None
    except ET.ParseError as e:
        raise InputError(path, f"not an XML file: {e}") from None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{ns}kml":
        raise InputError(path, f"root element is <{root.tag.removeprefix(ns)}>, not <kml>")
    routes: dict[int, list[tuple[float, float, float]]] = {}
    for pm in root.iter(f"{ns}Placemark"):
        data = {d.get("name"): (d.findtext(f"{ns}value") or "").strip()
                for d in pm.iter(f"{ns}Data")}
        if data.get("kind") != "route":
            continue
        name = pm.findtext(f"{ns}name", "").strip() or "a route"
        try:
            number = int(data.get("sortie", ""))
        except ValueError:
            raise InputError(path, f"{name}: no sortie number in its ExtendedData") from None
        if number in routes:
            raise InputError(path, f"{name}: sortie {number} has two routes")
        text = pm.findtext(f"{ns}LineString/{ns}coordinates")
        if text is None:
            raise InputError(path, f"{name}: no <LineString><coordinates>")
        routes[number] = _parse_coords(path, name, text)
    return dict(sorted(routes.items()))


def _parse_coords(path: str | os.PathLike[str], name: str,
                  text: str) -> list[tuple[float, float, float]]:
    points = []
    for token in text.split():
        parts = token.split(",")
        try:
            values = [float(v) for v in parts]
        except ValueError:
            values = []
        if len(values) not in (2, 3):
            raise InputError(path, f"{name}: bad coordinate {token!r} (expected lon,lat[,alt])")
        points.append((values[0], values[1], values[2] if len(values) == 3 else 0.0))
    if len(points) < 2:
        raise InputError(path, f"{name}: a route needs 2 or more points, found {len(points)}")
    return points
