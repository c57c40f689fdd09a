"""What disaster HQ gets: the survey's damage objects in the formats HQs open.

- ``objects.geojson`` — web maps, QGIS, any GIS;
- ``survey.gpkg`` — GeoPackage (HOT's default) with layers ``objects`` and ``footprints``;
- ``objects.kml`` / ``objects.kmz`` — Google Earth and phones (one folder per damage class);
- ``objects.csv`` — one row per object (lat/lon), and ``summary.csv`` — objects by severity
  with the FEMA category, area surveyed, photos and time span;
- ``damage_map.html`` — the offline map (built by :mod:`mapping.mapview`).

Every file is written into a staging folder and the zip appears by rename, whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping

from mapping.kml import KML_COLOURS, kml_document, kml_text
from mapping.reviews import (
    NOT_BUILDING,
    REVIEW_FIELDS,
    current_reviews,
    object_target,
    review_fields,
)
from mapping.share_buildings import (
    buildings_csv,
    buildings_geojson,
    buildings_kml,
    buildings_summary_csv,
    write_buildings_layer,
)
from mapping.store import ObjectRow, ReviewRow, Store
from survey.core.damage import DamageClass
from survey.core.errors import InputError
from survey.core.files import check_replaceable, replace_output
from survey.core.frame import LocalFrame


@dataclass(frozen=True, slots=True)
class SurveyFacts:
    """Totals for the summary."""

    photos_ok: int
    photos_without_pose: int
    photos_failed: int
    area_surveyed_m2: float
    first_photo: str | None
    last_photo: str | None


OBJECT_FIELDS = ("id", "damage", "fema", "confidence", "area_m2", "lat", "lon", "photos",
                 "photo_names", *REVIEW_FIELDS)
_TEXT_FIELDS = ("damage", "fema", "photo_names", *REVIEW_FIELDS)
Reviews = Mapping[str, ReviewRow]


def object_properties(i: int, obj: ObjectRow, review: ReviewRow | None = None) -> dict:
    """An object's attributes, keyed by :data:`OBJECT_FIELDS`; with HQ's ``review`` the
    damage is the reviewer's and the model's grade is kept beside it."""
    damage = damage_of(obj, review)
    return {
        "id": i, "damage": damage.label, "fema": damage.fema_name,
        "confidence": round(obj.confidence, 3), "area_m2": round(obj.area_m2, 1),
        "lat": round(obj.lat, 7), "lon": round(obj.lon, 7),
        "photos": len(obj.photos), "photo_names": "; ".join(obj.photos),
        **review_fields(review, obj.damage.label),
    }


def damage_of(obj: ObjectRow, review: ReviewRow | None) -> DamageClass:
    """The reviewer's grade when there is a review, else the model's."""
    return obj.damage if review is None else DamageClass.from_label(review.grade)


def numbered(objects: Sequence[ObjectRow], reviews: Reviews | None = None
             ) -> list[tuple[int, ObjectRow, ReviewRow | None]]:
    """The objects with their survey numbers and reviews; those HQ said are not buildings
    are left out (the others keep the survey's numbers)."""
    out = []
    for i, o in enumerate(objects, start=1):
        review = (reviews or {}).get(object_target(i))
        if review is None or review.grade != NOT_BUILDING:
            out.append((i, o, review))
    return out


def objects_geojson(objects: Sequence[ObjectRow], reviews: Reviews | None = None) -> dict:
    """A FeatureCollection of the objects' ground polygons (lon/lat, RFC 7946)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(o.ground),
         "properties": object_properties(i, o, r)}
        for i, o, r in numbered(objects, reviews)]}


def survey_facts(store: Store) -> SurveyFacts:
    """Photo counts, surveyed area (union of the footprints) and time span."""
    rows = store.photos()
    footprints = [foot for _, foot in store.photo_footprints()]
    area = 0.0
    if footprints:
        union = shapely.union_all(footprints)
        area = float(LocalFrame.around(union).geom_to_local(union).area)
    times = sorted(r["taken"] for r in rows if r["taken"])
    status = Counter(r["status"] for r in rows)
    return SurveyFacts(status["ok"], status["no-pose"], status["error"], area,
                       times[0] if times else None, times[-1] if times else None)


def summary_csv(objects: Sequence[ObjectRow], facts: SurveyFacts,
                reviews: Reviews | None = None) -> str:
    """Objects by severity (with FEMA category, the reviewed grade where HQ reviewed one),
    then the survey's totals and how many HQ reviewed."""
    kept = numbered(objects, reviews)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["damage", "fema_category", "objects", "area_m2"])
    for grade in sorted(DamageClass, reverse=True):
        these = [o for _, o, r in kept if damage_of(o, r) == grade]
        w.writerow([grade.label, grade.fema_name, len(these),
                    round(sum(o.area_m2 for o in these), 1)])
    w.writerow([])
    w.writerow(["total_objects", len(kept)])
    reviewed = sum(1 for i in range(1, len(objects) + 1) if object_target(i) in (reviews or {}))
    w.writerow(["objects_reviewed", reviewed])
    w.writerow(["objects_not_buildings_by_review", len(objects) - len(kept)])
    w.writerow(["area_surveyed_m2", round(facts.area_surveyed_m2, 1)])
    w.writerow(["photos_analyzed", facts.photos_ok])
    w.writerow(["photos_without_pose", facts.photos_without_pose])
    w.writerow(["photos_failed", facts.photos_failed])
    w.writerow(["first_photo_time", facts.first_photo or ""])
    w.writerow(["last_photo_time", facts.last_photo or ""])
    return out.getvalue()


def objects_csv(objects: Sequence[ObjectRow], reviews: Reviews | None = None) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=OBJECT_FIELDS, lineterminator="\n")
    w.writeheader()
    for i, o, r in numbered(objects, reviews):
        w.writerow(object_properties(i, o, r))
    return out.getvalue()


def objects_kml(objects: Sequence[ObjectRow], title: str,
                reviews: Reviews | None = None) -> str:
    """KML 2.2: a folder per damage class, polygons styled by severity (XML-escaped)."""
    kml, doc = kml_document(title, {c.label: KML_COLOURS[c] for c in DamageClass})
    kept = numbered(objects, reviews)
    for grade in sorted(DamageClass, reverse=True):
        label = grade.label
        folder = ET.SubElement(doc, "Folder")
        ET.SubElement(folder, "name").text = f"{label} ({grade.fema_name})"
        for i, o, r in kept:
            if damage_of(o, r) != grade:
                continue
            pm = ET.SubElement(folder, "Placemark")
            ET.SubElement(pm, "name").text = f"#{i} {label}"
            ET.SubElement(pm, "styleUrl").text = f"#{label}"
            ext = ET.SubElement(pm, "ExtendedData")
            for key, value in object_properties(i, o, r).items():
                ET.SubElement(ET.SubElement(ext, "Data", name=key), "value").text = str(value)
            shape = ET.SubElement(ET.SubElement(ET.SubElement(
                pm, "Polygon"), "outerBoundaryIs"), "LinearRing")
            ring = o.ground.exterior.coords
            ET.SubElement(shape, "coordinates").text = " ".join(
                f"{x:.7f},{y:.7f},0" for x, y in ring)
    return kml_text(kml)


def write_gpkg(path: Path, objects: Sequence[ObjectRow], store: Store,
               reviews: Reviews | None = None) -> None:
    """A GeoPackage with the objects and the photo footprints (EPSG:4326)."""
    from pyogrio.raw import write

    kept = numbered(objects, reviews)
    props = [object_properties(i, o, r) for i, o, r in kept]
    fields = list(OBJECT_FIELDS)
    columns = [np.array([p[f] for p in props], dtype=object if f in _TEXT_FIELDS else None)
               for f in fields]
    geoms = np.array([shapely.to_wkb(o.ground) for _, o, _ in kept], dtype=object)
    write(str(path), geoms, columns, fields, layer="objects", driver="GPKG",
          geometry_type="Polygon", crs="EPSG:4326")
    rows = [r for r, _ in store.photo_footprints()]
    feet = [foot for _, foot in store.photo_footprints()]
    foot_fields = ["name", "gsd_cm", "taken"]
    foot_cols = [np.array([r["name"] for r in rows], dtype=object),
                 np.array([r["gsd_cm"] for r in rows], dtype=float),
                 np.array([r["taken"] or "" for r in rows], dtype=object)]
    foot_geoms = np.array([shapely.to_wkb(foot) for foot in feet], dtype=object)
    write(str(path), foot_geoms, foot_cols, foot_fields, layer="footprints", driver="GPKG",
          geometry_type="Polygon", crs="EPSG:4326", append=True)


def write_bundle(store: Store, out_zip: str | PathLike[str], *, map_html: str,
                 title: str) -> list[str]:
    """Write the HQ bundle zip; returns the names inside.

    Raises
    ------
    InputError
        The output folder does not exist or is not writable.
    """
    target = Path(out_zip)
    if not target.parent.is_dir():
        raise InputError(target, "output folder does not exist")
    check_replaceable(target)
    objects = store.objects()
    reviews = current_reviews(store)
    facts = survey_facts(store)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("damage_map.html", map_html)
            z.writestr("objects.geojson", json.dumps(objects_geojson(objects, reviews),
                                                     ensure_ascii=False))
            kml = objects_kml(objects, title, reviews)
            z.writestr("objects.kml", kml)
            kmz = io.BytesIO()
            with zipfile.ZipFile(kmz, "w", compression=zipfile.ZIP_DEFLATED) as inner:
                inner.writestr("doc.kml", kml)
            z.writestr("objects.kmz", kmz.getvalue())
            z.writestr("objects.csv", objects_csv(objects, reviews))
            z.writestr("summary.csv", summary_csv(objects, facts, reviews))
            buildings = store.buildings()
            if buildings:
                z.writestr("buildings.geojson", json.dumps(
                    buildings_geojson(buildings, reviews), ensure_ascii=False))
                z.writestr("buildings.kml", buildings_kml(buildings, title, reviews))
                z.writestr("buildings.csv", buildings_csv(buildings, reviews))
                z.writestr("buildings_summary.csv", buildings_summary_csv(buildings, reviews))
            gpkg = target.with_name(f".{target.stem}.tmp.gpkg")
            try:
                gpkg.unlink(missing_ok=True)
                write_gpkg(gpkg, objects, store, reviews)
                if buildings:
                    write_buildings_layer(str(gpkg), buildings, reviews)
                z.write(gpkg, "survey.gpkg")
            finally:
                gpkg.unlink(missing_ok=True)
            z.writestr("README.txt", _readme(title, facts, len(objects), len(buildings)))
            names = z.namelist()
        replace_output(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(target, f"cannot write the bundle ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return names


def _readme(title: str, facts: SurveyFacts, n_objects: int, n_buildings: int = 0) -> str:
    buildings = (
        "buildings.geojson/.kml/.csv  every footprint with its grade, probabilities, views\n"
        "                 and its own id and attributes; GeoPackage layer 'buildings'\n"
        "buildings_summary.csv  footprints per grade, and per grade by district/use\n"
        f"buildings: {n_buildings} (not_seen: no photo covered them)\n\n") if n_buildings else ""
    return (
        f"{title}\n\n" + buildings +
        "damage_map.html  open in any browser; works with no internet (photos are the base map)\n"
        "objects.geojson  damage objects (polygons, EPSG:4326) for QGIS or web maps\n"
        "survey.gpkg      GeoPackage: layers 'objects' and 'footprints' (QGIS, ArcGIS)\n"
        "objects.kmz/.kml Google Earth, phones\n"
        "objects.csv      one row per object with lat/lon; summary.csv: counts by severity\n\n"
        f"objects: {n_objects}; photos analysed: {facts.photos_ok}; area surveyed: "
        f"{facts.area_surveyed_m2 / 10_000:.2f} ha\n"
        "damage scale: xBD (intact/minor/major/destroyed) = FEMA affected/minor/major/destroyed\n"
    )
