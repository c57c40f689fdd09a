"""The planner's inputs in the formats GDAL reads beyond GeoJSON and KML: GeoPackage (any CRS,
several layers), Shapefile, GPX; KML folders; and the GeoJSON GDAL takes that the old hand
parser refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from missions.plan.inputs import read_area, read_pois, read_zones
from survey.core.errors import InputError

SQUARE = [(139.99, 36.07), (140.0, 36.07), (140.0, 36.08), (139.99, 36.08), (139.99, 36.07)]
EAST = [(x + 0.02, y) for x, y in SQUARE]
KML22 = "http://www.opengis.net/kml/2.2"


def projected(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    tf = Transformer.from_crs(4326, crs, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1])))


def write_layer(path: Path, geoms: list[shapely.Geometry], *, crs: str = "EPSG:4326",
                layer: str | None = None, driver: str = "GPKG",
                **fields: Sequence[object]) -> Path:
    """``geoms`` (lon/lat) as a layer in ``crs``; ``fields``: name → one value per feature
    (numbers as floats, ``None`` as NULL)."""
    from pyogrio.raw import write

    wkb = np.array([shapely.to_wkb(projected(g, crs) if crs != "EPSG:4326" else g)
                    for g in geoms], dtype=object)
    columns = [np.array([np.nan if x is None else x for x in v],
                        dtype=object if any(isinstance(x, str) for x in v) else float)
               for v in fields.values()]
    write(str(path), wkb, columns, list(fields), driver=driver, geometry_type="Unknown",
          crs=crs, layer=layer, append=path.exists())
    return path


def test_geopackage_area_in_jgd2011_is_brought_to_lonlat(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "area.gpkg", [Polygon(SQUARE)], crs="EPSG:6677",
                       name=["Town"])
    area = read_area(path)
    assert isinstance(area, Polygon)
    assert area.symmetric_difference(Polygon(SQUARE)).area < 1e-9 * Polygon(SQUARE).area


def test_geopackage_zones_every_layer_in_order_with_numbers_and_nulls(tmp_path: Path) -> None:
    path = tmp_path / "zones.gpkg"
    write_layer(path, [Polygon(SQUARE), Point(139.995, 36.075)], crs="EPSG:6677",
                layer="buildings", name=["Hall", "Mast"], height_m=[9, 60], radius_m=[None, 15])
    write_layer(path, [Polygon(EAST)], layer="heliports", name=["Heliport"], height_m=[None])
    zones = read_zones(path)
    assert [(z.name, z.height_m) for z in zones] == [("Hall", 9.0), ("Mast", 60.0),
                                                     ("Heliport", None)]
    assert zones[1].geometry.contains(Point(139.995, 36.075))
    assert zones[2].geometry.equals_exact(Polygon(EAST), 1e-9)


def test_geopackage_labels_count_across_layers(tmp_path: Path) -> None:
    path = tmp_path / "zones.gpkg"
    write_layer(path, [Polygon(SQUARE)], layer="a", name=["Hall"])
    write_layer(path, [Polygon(EAST)], layer="b", name=["Pit"], height_m=[-2])
    with pytest.raises(InputError, match=r"zones\.gpkg: feature 2 'Pit': negative height_m"):
        read_zones(path)


def test_geopackage_tables_without_geometry_are_skipped(tmp_path: Path) -> None:
    from pyogrio.raw import write

    path = write_layer(tmp_path / "area.gpkg", [Polygon(SQUARE)], layer="area", name=["Town"])
    write(str(path), None, [np.array(["x"], dtype=object)], ["style"], driver="GPKG",
          layer="layer_styles", append=True)
    assert read_area(path).equals(Polygon(SQUARE))


def test_shapefile_zones_and_one_without_its_prj(tmp_path: Path) -> None:
    path = write_layer(tmp_path / "zones.shp", [Polygon(SQUARE)], crs="EPSG:6677",
                       driver="ESRI Shapefile", name=["Hall"], height_m=[12])
    (zone,) = read_zones(path)
    assert (zone.name, zone.height_m) == ("Hall", 12.0)
    assert zone.geometry.symmetric_difference(Polygon(SQUARE)).area < 1e-9
    path.with_suffix(".prj").unlink()
    with pytest.raises(InputError, match=r"no coordinate system and coordinates are not lon/lat"):
        read_zones(path)


def test_gpx_route_as_patrol_line(tmp_path: Path) -> None:
    gpx = ('<?xml version="1.0"?><gpx version="1.1" creator="t" '
           'xmlns="http://www.topografix.com/GPX/1/1"><rte><name>Levee</name>'
           '<rtept lat="36.08" lon="139.987"/><rtept lat="36.073" lon="139.988"/></rte></gpx>')
    path = tmp_path / "pois.gpx"
    path.write_text(gpx, encoding="utf-8")
    (poi,) = read_pois(path)
    assert poi.name == "Levee"
    assert poi.geometry.equals(shapely.LineString([(139.987, 36.08), (139.988, 36.073)]))


def test_kml_folders_are_read_and_numbered_through(tmp_path: Path) -> None:
    def pm(name: str, ring: list[tuple[float, float]], height: str | None = None) -> str:
        coords = " ".join(f"{x},{y}" for x, y in ring)
        data = (f'<ExtendedData><Data name="height_m"><value>{height}</value></Data>'
                "</ExtendedData>" if height is not None else "")
        return (f"<Placemark><name>{name}</name>{data}<Polygon><outerBoundaryIs><LinearRing>"
                f"<coordinates>{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon>"
                "</Placemark>")
    body = (f"<Folder><name>Buildings</name>{pm('Hall', SQUARE, '9')}</Folder>"
            f"<Folder><name>Pits</name>{pm('Pit', EAST, '-2')}</Folder>")
    path = tmp_path / "zones.kml"
    path.write_text(f'<kml xmlns="{KML22}"><Document>{body}</Document></kml>', encoding="utf-8")
    with pytest.raises(InputError, match=r"placemark 2 'Pit': negative height_m"):
        read_zones(path)
    path.write_text(path.read_text(encoding="utf-8").replace("-2", "4"), encoding="utf-8")
    assert [(z.name, z.height_m) for z in read_zones(path)] == [("Hall", 9.0), ("Pit", 4.0)]


@pytest.mark.parametrize("content", [
    {"type": "Feature", "properties": [1], "geometry": {"type": "Polygon",
                                                        "coordinates": [SQUARE]}},
    {"type": "Polygon", "coordinates": [SQUARE],
     "crs": {"type": "link", "properties": {"href": "x.prj"}}},  # a link GDAL cannot follow
    {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                           "coordinates": [SQUARE]},
         "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}}]},  # not at the top
], ids=["properties-not-an-object", "crs-link", "crs-on-a-feature"])
def test_geojson_forms_gdal_reads_as_lonlat(tmp_path: Path, content: dict) -> None:
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(content), encoding="utf-8")
    assert read_area(path).equals(Polygon(SQUARE))


def test_a_folder_gdal_cannot_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "shapes").mkdir()
    (tmp_path / "shapes" / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(InputError, match=r"shapes: is a folder, not a file"):
        read_area(tmp_path / "shapes")
