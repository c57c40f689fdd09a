"""The HQ bundle (`mapping.share.write_bundle`, as `survey share` writes it) of an analysed
synthetic survey: every file readable by what HQ opens it with, counts that agree with the
store, and hostile photo names and titles escaped."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pyogrio
import pytest
from pyogrio.raw import read
from shapely.geometry import shape

from mapping.mapview import survey_map_html
from mapping.share import write_bundle
from mapping.store import open_store
from mapping.webmap import find_remote_references
from survey.core.errors import InputError
from survey.pipelines.analyze import AnalyzeConfig, analyze
from tests.mapping.conftest import ColourModel, synthetic_survey

HOSTILE = "DJI_<script>alert(1)<_script>.JPG"  # sees buildings A and D
TITLE = 'Flood <b>"&"</b> survey'
KML = "{http://www.opengis.net/kml/2.2}"
NAMES = {"damage_map.html", "objects.geojson", "survey.gpkg", "objects.kml", "objects.kmz",
         "objects.csv", "summary.csv", "README.txt"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(survey folder, bundle zip) of the default synthetic survey, one photo named HOSTILE."""
    root = tmp_path_factory.mktemp("share")
    names = ["DJI_0001.JPG", HOSTILE, "DJI_0003.JPG", "DJI_0004.JPG", "DJI_0005.JPG"]
    survey = synthetic_survey(root / "photos", names=names)
    analyze(AnalyzeConfig(photos=survey.photos, out_dir=root / "survey",
                          model=ColourModel(), weights="fake.pt"))  # type: ignore[arg-type]
    with open_store(root / "survey") as store:
        html = survey_map_html(store, offline=True, title=TITLE)
        out = root / "out" / "hq.zip"
        out.parent.mkdir()
        written = write_bundle(store, out, map_html=html, title=TITLE)
    assert set(written) == NAMES
    return root / "survey", out


def _read(zip_path: Path, name: str) -> bytes:
    with zipfile.ZipFile(zip_path) as z:
        return z.read(name)


def _objects(survey: Path) -> list:
    with open_store(survey) as store:
        return store.objects()


def test_bundle_is_a_whole_zip_with_nothing_left_beside_it(bundle: tuple[Path, Path]) -> None:
    _, out = bundle
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        assert set(z.namelist()) == NAMES
    assert [p.name for p in out.parent.iterdir()] == ["hq.zip"]


def test_map_is_offline(bundle: tuple[Path, Path]) -> None:
    _, out = bundle
    html = _read(out, "damage_map.html").decode("utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    assert find_remote_references(html) == []
    assert "leaflet" in html.lower() and "data:image/" in html  # inlined library, photos


def test_geojson_matches_the_store(bundle: tuple[Path, Path]) -> None:
    survey, out = bundle
    doc = json.loads(_read(out, "objects.geojson"))
    objects = _objects(survey)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(objects) == 4
    for f, o in zip(doc["features"], objects, strict=True):
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        geom = shape(f["geometry"])
        assert geom.is_valid
        assert abs(geom.centroid.x - o.lon) < 1e-6 and abs(geom.centroid.y - o.lat) < 1e-6
        ring = f["geometry"]["coordinates"][0]
        assert all(139 < x < 141 and 35 < y < 37 for x, y in ring)  # lon, lat order
        p = f["properties"]
        assert (p["damage"], p["photos"], p["photo_names"].split("; ")) == (
            o.damage.label, len(o.photos), list(o.photos))
    assert Counter(f["properties"]["damage"] for f in doc["features"]) == Counter(
        o.damage.label for o in objects)


def test_geopackage_has_objects_and_footprints(bundle: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    survey, out = bundle
    gpkg = tmp_path / "survey.gpkg"
    gpkg.write_bytes(_read(out, "survey.gpkg"))
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert layers == {"objects", "footprints"}
    objects = _objects(survey)
    info = pyogrio.read_info(gpkg, layer="objects")
    assert info["features"] == len(objects) and info["geometry_type"] == "Polygon"
    assert "EPSG:4326" in info["crs"]
    meta, _, geoms, fields = read(gpkg, layer="objects")
    names = list(meta["fields"])
    damage = list(fields[names.index("damage")])
    assert damage == [o.damage.label for o in objects] and len(geoms) == len(objects)
    assert HOSTILE in "".join(fields[names.index("photo_names")])
    feet = pyogrio.read_info(gpkg, layer="footprints")
    assert feet["features"] == 5
    meta, _, _, fields = read(gpkg, layer="footprints")
    assert HOSTILE in list(fields[list(meta["fields"]).index("name")])


def test_kml_and_kmz_have_one_placemark_per_object(bundle: tuple[Path, Path]) -> None:
    survey, out = bundle
    text = _read(out, "objects.kml").decode("utf-8")
    root = ET.fromstring(text)
    objects = _objects(survey)
    marks = root.findall(f".//{KML}Placemark")
    assert len(marks) == len(objects)
    by_damage = Counter(m.findtext(f"{KML}styleUrl") for m in marks)
    assert by_damage == Counter(f"#{o.damage.label}" for o in objects)
    for m in marks:
        coords = m.findtext(f".//{KML}coordinates").split()  # type: ignore[union-attr]
        assert len(coords) >= 4 and coords[0] == coords[-1]
    assert root.findtext(f"{KML}Document/{KML}name") == TITLE
    data = {d.get("name"): d.findtext(f"{KML}value") for d in root.iter(f"{KML}Data")}
    assert "photo_names" in data
    with zipfile.ZipFile(io.BytesIO(_read(out, "objects.kmz"))) as kmz:
        assert kmz.namelist() == ["doc.kml"]
        assert kmz.read("doc.kml").decode("utf-8") == text


def test_hostile_names_are_escaped(bundle: tuple[Path, Path]) -> None:
    _, out = bundle
    kml = _read(out, "objects.kml").decode("utf-8")
    assert "<script>" not in kml and "<b>" not in kml
    assert "&lt;script&gt;alert(1)" in kml
    root = ET.fromstring(kml)  # and it round-trips to the original text
    values = [v.text or "" for v in root.iter(f"{KML}value")]
    assert any(HOSTILE in v for v in values)
    html = _read(out, "damage_map.html").decode("utf-8")
    for raw in ("<script>alert(1)", "\\u003cscript\\u003ealert(1)", 'Flood <b>"&"</b>'):
        assert raw not in html
    assert "\\u0026lt;script\\u0026gt;alert(1)" in html  # HTML-escaped, then in JSON
    assert "<title>Flood &lt;b&gt;" in html


def test_summary_counts_match_the_store(bundle: tuple[Path, Path]) -> None:
    survey, out = bundle
    rows = list(csv.reader(io.StringIO(_read(out, "summary.csv").decode("utf-8"))))
    assert rows[0] == ["damage", "fema_category", "objects", "area_m2"]
    objects = _objects(survey)
    counts = Counter(o.damage.label for o in objects)
    by_class = {r[0]: r for r in rows[1:5]}
    assert list(by_class) == ["destroyed", "major", "minor", "intact"]
    for label, row in by_class.items():
        assert int(row[2]) == counts[label]
        assert float(row[3]) == pytest.approx(
            sum(o.area_m2 for o in objects if o.damage.label == label), abs=0.1)
    assert by_class["intact"][1] == "affected"
    totals = {r[0]: r[1] for r in rows[5:] if len(r) == 2}
    assert int(totals["total_objects"]) == len(objects)
    assert int(totals["photos_analyzed"]) == 5
    assert (totals["photos_without_pose"], totals["photos_failed"]) == ("0", "0")
    assert 4000 < float(totals["area_surveyed_m2"]) < 10000  # 5 photos of 68 × 50 m, 20 m apart
    assert totals["first_photo_time"] == "2024-05-01T10:00:00"
    assert totals["last_photo_time"] == "2024-05-01T10:00:16"
    listed = list(csv.DictReader(io.StringIO(_read(out, "objects.csv").decode("utf-8"))))
    assert [r["damage"] for r in listed] == [o.damage.label for o in objects]


def test_bundle_of_a_survey_without_objects(tmp_path: Path) -> None:
    survey = synthetic_survey(tmp_path / "photos", buildings=[],
                              centres=[(-10.0, 0.0), (10.0, 0.0)])
    analyze(AnalyzeConfig(photos=survey.photos, out_dir=tmp_path / "survey",
                          model=ColourModel(), weights="fake.pt"))  # type: ignore[arg-type]
    out = tmp_path / "hq.zip"
    with open_store(tmp_path / "survey") as store:
        assert store.objects() == []
        write_bundle(store, out, map_html=survey_map_html(store, title="t"), title="t")
    doc = json.loads(_read(out, "objects.geojson"))
    assert doc == {"type": "FeatureCollection", "features": []}
    gpkg = tmp_path / "survey.gpkg"
    gpkg.write_bytes(_read(out, "survey.gpkg"))
    assert pyogrio.read_info(gpkg, layer="objects")["features"] == 0
    assert pyogrio.read_info(gpkg, layer="footprints")["features"] == 2
    assert ET.fromstring(_read(out, "objects.kml")).findall(f".//{KML}Placemark") == []


def test_a_failed_bundle_leaves_nothing(bundle: tuple[Path, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import mapping.share as share

    survey, _ = bundle

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(share, "write_gpkg", boom)
    out = tmp_path / "hq.zip"
    with open_store(survey) as store, pytest.raises(InputError, match="No space left"):
        write_bundle(store, out, map_html="<html></html>", title="t")
    assert list(tmp_path.iterdir()) == []

