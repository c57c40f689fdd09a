"""Footprints from the formats municipalities hand over, through GDAL's drivers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from mapping.footprints import read_footprints
from survey.core.errors import InputError

LON0, LAT0 = 139.9933, 36.0712


def _houses() -> list[tuple[str, Polygon, dict]]:
    d = 0.0001
    return [(f"B{i}", box(LON0 + i * 3 * d, LAT0, LON0 + i * 3 * d + d, LAT0 + d),
             {"address": f"{i}-1 Jōsō", "district": "north" if i < 2 else "south"})
            for i in range(4)]


def _write_ogr(path: Path, driver: str, crs: str = "EPSG:4326", layer: str | None = None
               ) -> Path:
    from pyogrio.raw import write
    from pyproj import Transformer

    houses = _houses()
    geoms = [g for _, g, _ in houses]
    if crs != "EPSG:4326":
        tf = Transformer.from_crs(4326, crs, always_xy=True)
        geoms = [shapely.transform(g, lambda xy: np.column_stack(tf.transform(xy[:, 0],
                                                                              xy[:, 1])))
                 for g in geoms]
    fields = ["id", "address", "district"]
    cols = [np.array([h[0] for h in houses], dtype=object),
            np.array([h[2]["address"] for h in houses], dtype=object),
            np.array([h[2]["district"] for h in houses], dtype=object)]
    write(str(path), np.array([shapely.to_wkb(g) for g in geoms], dtype=object), cols, fields,
          driver=driver, geometry_type="Polygon", crs=crs, layer=layer)
    return path


@pytest.mark.parametrize(("name", "driver"), [("b.geojson", "GeoJSON"), ("b.gpkg", "GPKG"),
                                              ("b.shp", "ESRI Shapefile"), ("b.kml", "KML")])
def test_formats_keep_ids_and_attributes(tmp_path: Path, name: str, driver: str) -> None:
    path = _write_ogr(tmp_path / name, driver)
    got = read_footprints(path)
    if driver == "KML":  # KML keeps name/description only; ids come from the feature order
        assert len(got) == 4
    else:
        assert [f.key for f in got] == ["B0", "B1", "B2", "B3"]
        assert got[0].attrs["address"] == "0-1 Jōsō" and got[3].attrs["district"] == "south"
    for f, (_, truth, _) in zip(got, _houses(), strict=True):
        assert f.polygon.symmetric_difference(truth).area < 1e-6 * truth.area + 1e-14


def test_projected_crs_is_brought_to_lonlat(tmp_path: Path) -> None:
    # JGD2011 / Japan Plane Rectangular CS IX (Tokyo, Ibaraki): what Japanese city data uses
    path = _write_ogr(tmp_path / "b.gpkg", "GPKG", crs="EPSG:6677")
    got = read_footprints(path)
    for f, (_, truth, _) in zip(got, _houses(), strict=True):
        assert f.polygon.centroid.distance(truth.centroid) < 1e-7  # ~1 cm


def test_osm_extract_takes_only_buildings(tmp_path: Path) -> None:
    d = 0.0001
    nodes, ways = [], []
    n = 0
    for w, (tag, x) in enumerate([("yes", 0.0), (None, 3 * d), ("house", 6 * d)], start=1):
        refs = []
        for dx, dy in ((0, 0), (d, 0), (d, d), (0, d)):
            n += 1
            nodes.append(f'<node id="{n}" lat="{LAT0 + dy}" lon="{LON0 + x + dx}"/>')
            refs.append(n)
        tags = f'<tag k="building" v="{tag}"/><tag k="addr:street" v="Main"/>' if tag else \
            '<tag k="landuse" v="grass"/><tag k="area" v="yes"/>'
        ways.append(f'<way id="{100 + w}">' + "".join(f'<nd ref="{r}"/>' for r in
                                                      [*refs, refs[0]]) + tags + "</way>")
    osm = tmp_path / "town.osm"
    osm.write_text('<?xml version="1.0"?><osm version="0.6">' + "".join(nodes) + "".join(ways)
                   + "</osm>", encoding="utf-8")
    got = read_footprints(osm)
    assert len(got) == 2
    assert {f.attrs["building"] for f in got} == {"yes", "house"}
    assert {f.key for f in got} == {"101", "103"}  # the OSM way ids


def test_points_and_lines_are_not_footprints(tmp_path: Path) -> None:
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "p"}, "geometry": {
            "type": "Point", "coordinates": [LON0, LAT0]}},
        {"type": "Feature", "properties": {"id": "h"}, "geometry": shapely.geometry.mapping(
            box(LON0, LAT0, LON0 + 1e-4, LAT0 + 1e-4))}]}))
    assert [f.key for f in read_footprints(path)] == ["h"]


@pytest.mark.parametrize(("content", "problem"), [
    ("not json at all", r"not JSON \(line 1, column 1"),
    ('{"type": "FeatureCollection"}', "Missing 'features' member"),
    ('{"type": "FeatureCollection", "features": []}', "no building polygons"),
    ('{"type": "FeatureCollection", "features": ['
     '{"type": "Feature", "properties": {"id": 1}, "geometry": {"type": "Polygon", '
     '"coordinates": [[[0,0],[0,1e-4],[1e-4,1e-4],[0,0]]]}},'
     '{"type": "Feature", "properties": {"id": 1}, "geometry": {"type": "Polygon", '
     '"coordinates": [[[1,0],[1,1e-4],[1.0001,1e-4],[1,0]]]}}]}', "appears twice"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "b.geojson"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_footprints(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_footprints(tmp_path / "none.gpkg")
