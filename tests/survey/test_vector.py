"""survey.core.vector: one reader for every vector file (GDAL through pyogrio), WGS84 out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box

from survey.core.errors import InputError
from survey.core.vector import is_wgs84, read_vector

LON0, LAT0 = 139.99, 36.07


def write(path: Path, geoms: list[shapely.Geometry], fields: dict[str, np.ndarray], *,
          layer: str | None = None, crs: str = "EPSG:4326", driver: str = "GPKG") -> Path:
    from pyogrio.raw import write as ogr_write

    ogr_write(str(path), np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
              list(fields.values()), list(fields), driver=driver, geometry_type="Unknown",
              crs=crs, layer=layer, append=path.exists())
    return path


@pytest.mark.parametrize(("crs", "expected"), [
    ("EPSG:4326", True), ("OGC:CRS84", True), ("EPSG:4979", True),
    ("EPSG:6668", False), ("EPSG:6677", False), ("EPSG:3857", False), (None, False)])
def test_is_wgs84(crs: str | None, expected: bool) -> None:
    assert is_wgs84(crs) is expected


def test_attributes_are_jsonable(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [LON0, LAT0]},
         "properties": {"name": "Hall", "n": 3, "h": 1.5, "ok": True, "when": "2024-01-01T10:00:00",
                        "tags": [1, 2]}},
        {"type": "Feature", "id": 9, "geometry": None, "properties": {"name": None}}]}))
    vector = read_vector(path)
    assert vector.driver == "GeoJSON"
    a, b = vector.features
    assert (a.label, a.fid, b.label, b.fid, b.geometry) == ("feature 1 'Hall'", 7, "feature 2", 9,
                                                            None)
    assert a.attrs["n"] == 3 and a.attrs["h"] == 1.5 and a.attrs["ok"] is True
    assert isinstance(a.attrs["when"], str) and a.attrs["when"].startswith("2024-01-01")
    assert b.attrs["h"] is None and b.attrs["n"] is None  # nulls, not NaN
    json.dumps([a.attrs, b.attrs])


def test_every_layer_reprojected_or_one_by_name_or_index(tmp_path: Path) -> None:
    from pyproj import Transformer

    tf = Transformer.from_crs(4326, 6677, always_xy=True)
    house = box(LON0, LAT0, LON0 + 1e-3, LAT0 + 1e-3)
    local = shapely.transform(house, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))
    path = write(tmp_path / "two.gpkg", [local], {"name": np.array(["A"], dtype=object)},
                 layer="jgd", crs="EPSG:6677")
    write(path, [Point(LON0, LAT0)], {"name": np.array(["B"], dtype=object)}, layer="wgs")
    vector = read_vector(path)
    assert [(layer.name, layer.crs) for layer in vector.layers] == [("jgd", "EPSG:6677"),
                                                                    ("wgs", "EPSG:4326")]
    assert [f.label for f in vector.features] == ["feature 1 'A'", "feature 2 'B'"]
    got = vector.features[0].geometry
    assert got is not None and got.symmetric_difference(house).area < 1e-9 * house.area
    assert [f.attrs["name"] for f in read_vector(path, layer="wgs").features] == ["B"]
    assert [f.attrs["name"] for f in read_vector(path, layer=1).features] == ["B"]
    with pytest.raises(InputError, match=r"no layer 'roads' with geometry in the file \(it has "
                                         r"'jgd', 'wgs'\)"):
        read_vector(path, layer="roads")


def test_kml_features_are_placemarks(tmp_path: Path) -> None:
    path = tmp_path / "a.kml"
    path.write_text('<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>'
                    f"<name>Mast</name><Point><coordinates>{LON0},{LAT0},30</coordinates>"
                    "</Point></Placemark></Document></kml>", encoding="utf-8")
    (feature,) = read_vector(path).features
    assert feature.label == "placemark 1 'Mast'"
    assert feature.geometry is not None and not feature.geometry.has_z  # heights dropped


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("a.geojson", "", "empty file"),
    ("a.geojson", '{"type": ', "not JSON (line 1, column 10"),
    ("a.gpkg", "not a database", "not a vector file GDAL reads"),
    ("a.kml", "<kml><Document>", "not KML (XML error"),
    ("a.kmz", "text", "not a KMZ file (not a zip archive)"),
    ("a.geojson", '{"type": "Point", "coordinates": [1]}', "not GeoJSON"),
])
def test_unreadable_files_are_one_line(tmp_path: Path, name: str, content: str,
                                       problem: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_vector(path)
    assert err.value.source == str(path)
    assert problem in err.value.problem and "\n" not in str(err.value)
    assert str(path) not in err.value.problem  # GDAL's own mention of the path is left out


def test_missing_file_and_plain_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_vector(tmp_path / "none.gpkg")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_vector(tmp_path)
