"""Per-building exports for HQ: every footprint with its grade, probabilities, views and the
municipality's own id and attributes.

- ``buildings.geojson``, GeoPackage layer ``buildings``, ``buildings.csv`` (one row each);
- ``buildings.kml`` (a folder per grade, ``not_seen`` grey);
- ``buildings_summary.csv``: footprints per grade (FEMA category), then per grade for each
  attribute that groups buildings (a district, a use: 2–50 distinct values that repeat).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from shapely.geometry import mapping

from detection.assessor import GRADES
from mapping.kml import KML_COLOURS, NOT_SEEN_COLOUR, kml_document, kml_text
from mapping.reviews import NOT_BUILDING, REVIEW_FIELDS, building_target, review_fields
from mapping.store import BuildingRow, ReviewRow
from survey.core.damage import DamageClass

NOT_SEEN = "not_seen"
GRADE_ORDER = (*(c.label for c in reversed(DamageClass)), NOT_SEEN)
"""destroyed, major, minor, intact, not_seen: the order of every table (then not_building,
when HQ's review called a footprint so: :func:`grade_order`)."""
BASE_FIELDS = ("building_id", "grade", "fema", "status", "confidence",
               *(f"p_{g}" for g in GRADES), "views", "photo_names", "area_m2", "lat", "lon",
               *REVIEW_FIELDS)
"""Our columns; ``p_<grade>`` for each of the assessor's grades (the classes, then background)."""
_MAX_GROUPS = 50


Reviews = Mapping[str, ReviewRow]


def model_grade_of(b: BuildingRow) -> str:
    """The grade the model gave the building, or ``not_seen``."""
    return NOT_SEEN if b.grade is None else b.grade.label


def grade_of(b: BuildingRow, reviews: Reviews | None = None) -> str:
    """The building's grade: HQ's reviewed one when there is one, else the model's (or
    ``not_seen``)."""
    review = (reviews or {}).get(building_target(b.key))
    return model_grade_of(b) if review is None else review.grade


def grade_order(buildings: Sequence[BuildingRow], reviews: Reviews | None = None
                ) -> tuple[str, ...]:
    """:data:`GRADE_ORDER`, and ``not_building`` after it when a review gave that grade."""
    rejected = any(grade_of(b, reviews) == NOT_BUILDING for b in buildings)
    return (*GRADE_ORDER, NOT_BUILDING) if rejected else GRADE_ORDER


def _fema(grade: str) -> str:
    return DamageClass.from_label(grade).fema_name if grade not in (NOT_SEEN, NOT_BUILDING) \
        else ""


def attribute_names(buildings: Sequence[BuildingRow]) -> list[str]:
    """Attribute keys of the footprints, in first-seen order (never clashing with ours)."""
    names: dict[str, None] = {}
    for b in buildings:
        for key in b.attrs:
            names.setdefault(key if key not in BASE_FIELDS else f"attr_{key}", None)
    return list(names)


def building_properties(b: BuildingRow, reviews: Reviews | None = None) -> dict[str, object]:
    """Our fields (:data:`BASE_FIELDS`) then the footprint's own attributes."""
    p = b.probabilities
    grade = grade_of(b, reviews)
    props: dict[str, object] = {
        "building_id": b.key, "grade": grade, "fema": _fema(grade),
        "status": b.status,
        "confidence": round(b.confidence, 3) if b.confidence is not None else None,
        **{f"p_{g}": (round(p[g], 4) if g in p else None)
           for g in GRADES},
        "views": len(b.views), "photo_names": "; ".join(b.views),
        "area_m2": round(b.area_m2, 1), "lat": round(b.lat, 7), "lon": round(b.lon, 7),
        **review_fields((reviews or {}).get(building_target(b.key)), model_grade_of(b)),
    }
    for key, value in b.attrs.items():
        props[key if key not in BASE_FIELDS else f"attr_{key}"] = value
    return props


def buildings_geojson(buildings: Sequence[BuildingRow], reviews: Reviews | None = None) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": b.key, "geometry": mapping(b.ground),
         "properties": building_properties(b, reviews)} for b in buildings]}


def buildings_csv(buildings: Sequence[BuildingRow], reviews: Reviews | None = None) -> str:
    out = io.StringIO()
    fields = [*BASE_FIELDS, *attribute_names(buildings)]
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for b in buildings:
        w.writerow(building_properties(b, reviews))
    return out.getvalue()


def grouping_attributes(buildings: Sequence[BuildingRow]) -> list[str]:
    """Attributes that group buildings: text values, 2–50 distinct, each on average on
    at least two buildings (a district or a use, not an address)."""
    out = []
    for key in {k: None for b in buildings for k in b.attrs}:
        values = [b.attrs.get(key) for b in buildings if isinstance(b.attrs.get(key), str)]
        distinct = set(values)
        if 2 <= len(distinct) <= _MAX_GROUPS and len(values) >= 2 * len(distinct):
            out.append(key)
    return out


def buildings_summary_csv(buildings: Sequence[BuildingRow], reviews: Reviews | None = None
                          ) -> str:
    """Buildings per grade (HQ's reviewed grade where there is one), then per grade within
    each grouping attribute."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["grade", "fema_category", "buildings", "area_m2"])
    order = grade_order(buildings, reviews)
    for g in order:
        these = [b for b in buildings if grade_of(b, reviews) == g]
        w.writerow([g, _fema(g), len(these), round(sum(b.area_m2 for b in these), 1)])
    w.writerow(["total", "", len(buildings), round(sum(b.area_m2 for b in buildings), 1)])
    for key in grouping_attributes(buildings):
        w.writerow([])
        w.writerow([key, *order, "total"])
        counts: dict[str, Counter[str]] = {}
        for b in buildings:
            value = b.attrs.get(key)
            counts.setdefault(str(value) if value is not None else "",
                              Counter())[grade_of(b, reviews)] += 1
        for value in sorted(counts):
            c = counts[value]
            w.writerow([value, *(c[g] for g in order), sum(c.values())])
    return out.getvalue()


def buildings_kml(buildings: Sequence[BuildingRow], title: str,
                  reviews: Reviews | None = None) -> str:
    """KML 2.2: a folder per grade (``not_seen`` last), attributes as ExtendedData."""
    kml, doc = kml_document(title, {**{c.label: KML_COLOURS[c] for c in DamageClass},
                                    NOT_SEEN: NOT_SEEN_COLOUR, NOT_BUILDING: NOT_SEEN_COLOUR})
    for g in grade_order(buildings, reviews):
        folder = ET.SubElement(doc, "Folder")
        ET.SubElement(folder, "name").text = f"{g} ({_fema(g)})" if _fema(g) else g
        for b in buildings:
            if grade_of(b, reviews) != g:
                continue
            pm = ET.SubElement(folder, "Placemark")
            ET.SubElement(pm, "name").text = f"{b.key} {g}"
            ET.SubElement(pm, "styleUrl").text = f"#{g}"
            ext = ET.SubElement(pm, "ExtendedData")
            for key, value in building_properties(b, reviews).items():
                ET.SubElement(ET.SubElement(ext, "Data", name=key), "value").text = (
                    "" if value is None else str(value))
            multi = ET.SubElement(pm, "MultiGeometry")
            for part in shapely.get_parts(b.ground):
                ring = ET.SubElement(ET.SubElement(ET.SubElement(
                    multi, "Polygon"), "outerBoundaryIs"), "LinearRing")
                ET.SubElement(ring, "coordinates").text = " ".join(
                    f"{x:.7f},{y:.7f},0" for x, y in part.exterior.coords)
    return kml_text(kml)


def write_buildings_layer(path: str, buildings: Sequence[BuildingRow],
                          reviews: Reviews | None = None) -> None:
    """Append a ``buildings`` layer (MultiPolygon, EPSG:4326) to a GeoPackage."""
    from pyogrio.raw import write

    props = [building_properties(b, reviews) for b in buildings]
    fields = [*BASE_FIELDS, *attribute_names(buildings)]
    columns = []
    for f in fields:
        values = [p.get(f) for p in props]
        if all((isinstance(v, int | float) and not isinstance(v, bool)) or v is None
               for v in values) and any(v is not None for v in values):
            columns.append(np.array([np.nan if v is None else v for v in values], dtype=float))
        else:
            columns.append(np.array(["" if v is None else (v if isinstance(v, str) else
                                     json.dumps(v)) for v in values], dtype=object))
    geoms = np.array([shapely.to_wkb(shapely.multipolygons(shapely.get_parts(b.ground)))
                      for b in buildings], dtype=object)
    write(path, geoms, columns, fields, layer="buildings", driver="GPKG",
          geometry_type="MultiPolygon", crs="EPSG:4326", append=True)
