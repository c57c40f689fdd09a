"""KML 2.2 of a whole plan, for Google Earth and phones.

A Folder per sortie holds the flight path (a 3D LineString, altitudes relative to the ground,
built from the mission items: climb at home, the waypoints, return home) and the photo points;
further Folders hold the fence (exclusion zones red) and the rally points; home is a Placemark.
Every Placemark carries ``kind`` (and ``sortie``, ``index``) in its ExtendedData, so the file
reads back without relying on names. The tree is built with ``xml.etree``, which escapes text.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from missions.plan.export.waypoints import exact_decimal
from missions.plan.items import Cmd
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


def write_kml(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write the plan as one KML 2.2 document (atomically).

    Parameters
    ----------
    plan
        The plan: sorties (route and photos), fence, rally points, home.
    path
        Output ``.kml`` file.
    """
    root = ET.Element("kml", xmlns=KML_NS)
    doc = ET.SubElement(root, "Document")
    _text(doc, "name", f"Survey plan ({plan.mode.value}, {len(plan.sorties)} sorties)")
    _text(doc, "description", "\n".join([
        f"{plan.altitude_m:g} m above home, {plan.gsd_cm:.2f} cm/px, camera {plan.camera.name}",
        *plan.notes,
    ]))
    for name, (line, fill, width) in _AREA_STYLES.items():
        style = ET.SubElement(doc, "Style", id=name)
        line_style = ET.SubElement(style, "LineStyle")
        _text(line_style, "color", line)
        _text(line_style, "width", f"{width:g}")
        poly = ET.SubElement(style, "PolyStyle")
        _text(poly, "color", fill or "00000000")
        _text(poly, "fill", "1" if fill else "0")
    for name, (color, scale) in _POINT_STYLES.items():
        icon = ET.SubElement(ET.SubElement(doc, "Style", id=name), "IconStyle")
        _text(icon, "color", color)
        _text(icon, "scale", f"{scale:g}")
    _point(doc, "Home", {"kind": "home"}, [(plan.home_lon_deg, plan.home_lat_deg, 0.0)], "home")
    for sortie in plan.sorties:
        _sortie_folder(doc, plan, sortie)
    fence = _folder(doc, "Fence")
    for i, zone in enumerate(plan.fence, start=1):
        kind = "inclusion" if zone.inclusion else "exclusion"
        pm = _placemark(fence, f"Fence {i} ({kind})", {"kind": "fence", "index": str(i),
                                                        "inclusion": str(zone.inclusion).lower()},
                        kind)
        ring = [(lon, lat, 0.0) for lat, lon in zone.outline()]
        boundary = ET.SubElement(ET.SubElement(pm, "Polygon"), "outerBoundaryIs")
        _text(ET.SubElement(boundary, "LinearRing"), "coordinates",
              _coords([*ring, ring[0]], alt=False))
    rally = _folder(doc, "Rally points")
    for i, r in enumerate(plan.rally, start=1):
        _point(rally, f"Rally {i}", {"kind": "rally", "index": str(i)},
               [(r.lon_deg, r.lat_deg, r.alt_m)], "rally")
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    atomic_write_text(path, text + "\n")


def _sortie_folder(doc: ET.Element, plan: Plan, sortie: Sortie) -> None:
    n = sortie.number
    folder = _folder(doc, f"Sortie {n}")
    about = (f"{sortie.distance_m / 1000:.2f} km, {sortie.time_s / 60:.1f} min, "
             f"{len(sortie.photos)} photos, {sortie.lines} lines")
    pm = _placemark(folder, f"Sortie {n} route", {"kind": "route", "sortie": str(n)}, "route",
                    about)
    line = ET.SubElement(pm, "LineString")
    _text(line, "altitudeMode", "relativeToGround")
    _text(line, "coordinates", _coords(route_coords(plan, sortie)))
    photos = _folder(folder, f"Sortie {n} photos")
    for i, photo in enumerate(sortie.photos, start=1):
        lon, lat = plan.frame.to_geo(photo.x_m, photo.y_m)
        _point(photos, f"Photo {n}.{i}",
               {"kind": "photo", "sortie": str(n), "index": str(i),
                "heading_deg": f"{photo.heading_deg:g}"},
               [(float(lon), float(lat), plan.altitude_m)], "photo")


def _folder(parent: ET.Element, name: str) -> ET.Element:
    folder = ET.SubElement(parent, "Folder")
    _text(folder, "name", name)
    return folder


def _placemark(parent: ET.Element, name: str, data: dict[str, str], style: str,
               description: str | None = None) -> ET.Element:
    pm = ET.SubElement(parent, "Placemark")  # children in the order the KML schema wants
    _text(pm, "name", name)
    if description is not None:
        _text(pm, "description", description)
    _text(pm, "styleUrl", f"#{style}")
    ext = ET.SubElement(pm, "ExtendedData")
    for key, value in data.items():
        _text(ET.SubElement(ext, "Data", name=key), "value", value)
    return pm


def _point(parent: ET.Element, name: str, data: dict[str, str],
           coords: list[tuple[float, float, float]], style: str) -> None:
    point = ET.SubElement(_placemark(parent, name, data, style), "Point")
    _text(point, "altitudeMode", "relativeToGround")
    _text(point, "coordinates", _coords(coords))


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


def _coords(points: Iterable[tuple[float, float, float]], *, alt: bool = True) -> str:
    d = exact_decimal
    return " ".join(f"{d(lon)},{d(lat)},{d(a)}" if alt else f"{d(lon)},{d(lat)}"
                    for lon, lat, a in points)


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
