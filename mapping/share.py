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
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping

from mapping.kml import KML_COLOURS, kml_document, kml_text
from mapping.share_buildings import (
    buildings_csv,
    buildings_geojson,
    buildings_kml,
    buildings_summary_csv,
    write_buildings_layer,
)
from mapping.store import ObjectRow, Store
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
                 "photo_names")
_TEXT_FIELDS = ("damage", "fema", "photo_names")


def object_properties(i: int, obj: ObjectRow) -> dict:
    """An object's attributes, keyed by :data:`OBJECT_FIELDS`."""
    return {
        "id": i, "damage": obj.damage.label, "fema": obj.damage.fema_name,
        "confidence": round(obj.confidence, 3), "area_m2": round(obj.area_m2, 1),
        "lat": round(obj.lat, 7), "lon": round(obj.lon, 7),
        "photos": len(obj.photos), "photo_names": "; ".join(obj.photos),
    }


def objects_geojson(objects: Sequence[ObjectRow]) -> dict:
    """A FeatureCollection of the objects' ground polygons (lon/lat, RFC 7946)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(o.ground),
         "properties": object_properties(i, o)}
        for i, o in enumerate(objects, start=1)]}


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


def summary_csv(objects: Sequence[ObjectRow], facts: SurveyFacts) -> str:
    """Objects by severity (with FEMA category), then the survey's totals."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["damage", "fema_category", "objects", "area_m2"])
    for grade in sorted(DamageClass, reverse=True):
        these = [o for o in objects if o.damage == grade]
        w.writerow([grade.label, grade.fema_name, len(these),
                    round(sum(o.area_m2 for o in these), 1)])
    w.writerow([])
    w.writerow(["total_objects", len(objects)])
    w.writerow(["area_surveyed_m2", round(facts.area_surveyed_m2, 1)])
    w.writerow(["photos_analyzed", facts.photos_ok])
    w.writerow(["photos_without_pose", facts.photos_without_pose])
    w.writerow(["photos_failed", facts.photos_failed])
    w.writerow(["first_photo_time", facts.first_photo or ""])
    w.writerow(["last_photo_time", facts.last_photo or ""])
    return out.getvalue()


def objects_csv(objects: Sequence[ObjectRow]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=OBJECT_FIELDS, lineterminator="\n")
    w.writeheader()
    for i, o in enumerate(objects, start=1):
        w.writerow(object_properties(i, o))
    return out.getvalue()


def objects_kml(objects: Sequence[ObjectRow], title: str) -> str:
    """KML 2.2: a folder per damage class, polygons styled by severity (XML-escaped)."""
    kml, doc = kml_document(title, {c.label: KML_COLOURS[c] for c in DamageClass})
    for grade in sorted(DamageClass, reverse=True):
        label = grade.label
        folder = ET.SubElement(doc, "Folder")
        ET.SubElement(folder, "name").text = f"{label} ({grade.fema_name})"
        for i, o in enumerate(objects, start=1):
            if o.damage != grade:
                continue
            pm = ET.SubElement(folder, "Placemark")
            ET.SubElement(pm, "name").text = f"#{i} {label}"
            ET.SubElement(pm, "styleUrl").text = f"#{label}"
            ext = ET.SubElement(pm, "ExtendedData")
            for key, value in object_properties(i, o).items():
                ET.SubElement(ET.SubElement(ext, "Data", name=key), "value").text = str(value)
            shape = ET.SubElement(ET.SubElement(ET.SubElement(
                pm, "Polygon"), "outerBoundaryIs"), "LinearRing")
            ring = o.ground.exterior.coords
            ET.SubElement(shape, "coordinates").text = " ".join(
                f"{x:.7f},{y:.7f},0" for x, y in ring)
    return kml_text(kml)


def write_gpkg(path: Path, objects: Sequence[ObjectRow], store: Store) -> None:
    """A GeoPackage with the objects and the photo footprints (EPSG:4326)."""
    from pyogrio.raw import write

    props = [object_properties(i, o) for i, o in enumerate(objects, start=1)]
    fields = list(OBJECT_FIELDS)
    columns = [np.array([p[f] for p in props], dtype=object if f in _TEXT_FIELDS else None)
               for f in fields]
    geoms = np.array([shapely.to_wkb(o.ground) for o in objects], dtype=object)
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
    facts = survey_facts(store)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("damage_map.html", map_html)
            z.writestr("objects.geojson", json.dumps(objects_geojson(objects)))
            kml = objects_kml(objects, title)
            z.writestr("objects.kml", kml)
            kmz = io.BytesIO()
            with zipfile.ZipFile(kmz, "w", compression=zipfile.ZIP_DEFLATED) as inner:
                inner.writestr("doc.kml", kml)
            z.writestr("objects.kmz", kmz.getvalue())
            z.writestr("objects.csv", objects_csv(objects))
            z.writestr("summary.csv", summary_csv(objects, facts))
            buildings = store.buildings()
            if buildings:
                z.writestr("buildings.geojson", json.dumps(buildings_geojson(buildings),
                                                           ensure_ascii=False))
                z.writestr("buildings.kml", buildings_kml(buildings, title))
                z.writestr("buildings.csv", buildings_csv(buildings))
                z.writestr("buildings_summary.csv", buildings_summary_csv(buildings))
            gpkg = target.with_name(f".{target.stem}.tmp.gpkg")
            try:
                gpkg.unlink(missing_ok=True)
                write_gpkg(gpkg, objects, store)
                if buildings:
                    write_buildings_layer(str(gpkg), buildings)
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
