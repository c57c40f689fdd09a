"""Reading and checking the planner's input files (missions.plan.inputs, read through GDAL by
survey.core.vector)."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from missions.plan.inputs import Poi, Zone, parse_latlon, read_area, read_pois, read_zones
from survey.core.errors import InputError
from survey.core.frame import LocalFrame

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "joso"
KML22 = "http://www.opengis.net/kml/2.2"

# a ~900 m x 1100 m square near Jōsō, and a hole inside it
SQUARE = [[139.99, 36.07], [140.0, 36.07], [140.0, 36.08], [139.99, 36.08], [139.99, 36.07]]
HOLE = [[139.994, 36.074], [139.994, 36.076], [139.996, 36.076], [139.996, 36.074],
        [139.994, 36.074]]
BOWTIE = [[139.99, 36.07], [140.0, 36.08], [140.0, 36.07], [139.99, 36.08], [139.99, 36.07]]
UTM = [[402000.0, 3992000.0], [403000.0, 3992000.0], [403000.0, 3993000.0], [402000.0, 3992000.0]]


def shifted(ring: list[list[float]], dlon: float) -> list[list[float]]:
    return [[x + dlon, y] for x, y in ring]


def polygon(*rings: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


def point(lon: float = 139.995, lat: float = 36.075) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def line(*coords: list[float]) -> dict:
    return {"type": "LineString", "coordinates": list(coords)}


def feature(geometry: dict | None, **props: object) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def fc(*features: dict, **extra: object) -> dict:
    return {"type": "FeatureCollection", "features": list(features), **extra}


def kml(body: str, ns: str | None = KML22) -> str:
    xmlns = f' xmlns="{ns}"' if ns else ""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<kml{xmlns}><Document>{body}</Document></kml>'


def kml_coords(ring: list[list[float]]) -> str:
    return " ".join(f"{x},{y},0" for x, y in ring)


def kml_polygon(shell: list[list[float]], *holes: list[list[float]]) -> str:
    inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{kml_coords(h)}</coordinates>"
                    "</LinearRing></innerBoundaryIs>" for h in holes)
    return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{kml_coords(shell)}"
            f"</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>")


def placemark(geometry: str, name: str = "", **data: object) -> str:
    ext = "".join(f'<Data name="{k}"><value>{v}</value></Data>' for k, v in data.items())
    name_el = f"<name>{name}</name>" if name else ""
    ext_el = f"<ExtendedData>{ext}</ExtendedData>" if ext else ""
    return f"<Placemark>{name_el}{ext_el}{geometry}</Placemark>"


def kmz_bytes(members: dict[str, str]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


def write(tmp_path: Path, name: str, content: str | bytes | dict | None) -> Path:
    """``content``: dict → JSON, str → UTF-8 text, bytes as they are, None → nothing written."""
    path = tmp_path / name
    if isinstance(content, dict):
        path.write_text(json.dumps(content), encoding="utf-8")
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    return path


def local_area_m2(geom: shapely.Geometry) -> float:
    return LocalFrame.around(geom).geom_to_local(geom).area


# --- bad inputs -------------------------------------------------------------------------------

AREA_BAD = [
    ("missing", "area.geojson", None, "file not found"),
    ("empty-file", "area.geojson", "  \n", "empty file"),
    ("not-json", "area.geojson", '{"type": "Polygon",', "not JSON (line 1"),
    ("not-utf8", "area.geojson", b'{"name": "\xff\xfe"}', "not JSON (the file is not UTF-8"),
    ("json-list", "area.geojson", "[1, 2]", "not GeoJSON"),
    ("topojson", "area.json", {"type": "Topology", "objects": {}},
     "not GeoJSON (Failed to read TopoJSON data"),
    ("fc-without-features", "area.geojson", {"type": "FeatureCollection"},
     "not GeoJSON (Invalid FeatureCollection object. Missing 'features' member"),
    ("not-a-feature", "area.geojson", fc(polygon(SQUARE)), "no polygon in the file"),  # skipped
    ("unknown-geometry", "area.geojson", {"type": "Feature", "properties": {},
                                          "geometry": {"type": "Circle", "coordinates": []}},
     "no polygon in the file"),  # GDAL reads it as a feature without geometry
    ("no-coordinates", "area.geojson", {"type": "Polygon"},
     "not GeoJSON (Invalid Polygon object. Missing 'coordinates' member"),
    ("bad-position", "area.geojson", polygon([["a", 36.0], [140.0, 36.0], [140.0, 36.1]]),
     "invalid 'x' coordinate"),
    ("not-kml", "area.kml", '<svg xmlns="http://www.w3.org/2000/svg"/>',
     "not KML (XML error: Invalid root element"),
    ("broken-xml", "area.kml", "<kml><Document>", "not KML (XML error: no element found"),
    ("json-in-kml", "area.kml", json.dumps(polygon(SQUARE)), "not KML (XML error"),
    ("bad-kml-coordinates", "area.kml",
     kml(placemark("<Polygon><outerBoundaryIs><LinearRing><coordinates>1,2 abc 3,4"
                   "</coordinates></LinearRing></outerBoundaryIs></Polygon>", "Field")),
     "placemark 1 'Field': polygon ring with only 2 corners"),
    ("not-kmz", "area.kmz", "just text", "not a KMZ file (not a zip archive)"),
    ("kmz-without-kml", "area.kmz", kmz_bytes({"readme.txt": "hi"}), "holds no .kml file"),
    ("unknown-content", "area.txt", "hello", "not a vector file GDAL reads"),
    ("unknown-xml", "area.xml", "<svg/>", "not KML (GDAL does not recognise the format)"),
    ("no-polygon", "area.geojson", fc(feature(point()), feature(line(SQUARE[0], SQUARE[1]))),
     "no polygon in the file"),
    ("no-features", "area.geojson", fc(), "no polygon in the file"),
    ("kml-no-polygon", "area.kml", kml(placemark("<Point><coordinates>139.99,36.07"
                                                 "</coordinates></Point>")),
     "no polygon in the file"),
    ("kml-no-placemark", "area.kml", kml(""), "no polygon in the file"),
    ("empty-polygon", "area.geojson", polygon(), "feature 1: empty polygon"),
    ("empty-ring", "area.geojson", feature(polygon([]), name="Town"),
     "feature 1 'Town': empty polygon"),
    ("two-corner-ring", "area.geojson", polygon([[139.99, 36.07], [140.0, 36.08], [139.99, 36.07]]),
     "polygon ring with only 2 corners"),
    ("self-intersection", "area.geojson", fc(feature(polygon(BOWTIE), name="Bow")),
     "feature 1 'Bow': invalid polygon: self-intersection at lon 139.995000, lat 36.075000"),
    ("kml-self-intersection", "area.kml", kml(placemark(kml_polygon(BOWTIE), "Bow")),
     "placemark 1 'Bow': invalid polygon: self-intersection at lon 139.995000"),
    ("hole-outside-shell", "area.geojson", polygon(SQUARE, shifted(HOLE, 0.05)),
     "invalid polygon: hole lies outside shell"),
    ("projected", "area.geojson", polygon(UTM),
     "coordinate (402000, 3992000) is out of range for lon/lat degrees"),
    ("lat-too-big", "area.geojson", polygon([[139.99, 95.0], [140.0, 95.0], [140.0, 96.0]]),
     "coordinate (139.99, 95) is out of range"),
    ("nan", "area.geojson", '{"type": "Polygon", "coordinates": '
                            '[[[NaN, 36.0], [140.0, 36.0], [140.0, 36.1]]]}',
     "feature 1: unreadable geometry: a polygon ring that cannot be closed (NaN coordinates?)"),
    ("kml-infinity", "area.kml",
     kml(placemark(kml_polygon([[139.99, 36.07], [140.0, 36.07], [140.0, float("inf")]]),
                   "Field")),
     "placemark 1 'Field': coordinate (140, inf) is not a finite number"),
    ("kml-projected", "area.kml", kml(placemark(kml_polygon(UTM))),
     "placemark 1: coordinate (402000, 3992000) is out of range"),
    ("crs-jgd2011", "area.geojson",
     fc(feature(polygon(UTM)), crs={"type": "name",
                                    "properties": {"name": "urn:ogc:def:crs:EPSG::6677"}}),
     "declares the CRS EPSG:6677, not WGS84 lon/lat: reproject it to WGS84"),
    ("crs-web-mercator", "area.geojson",
     fc(feature(polygon(SQUARE)), crs={"type": "name", "properties": {"name": "EPSG:3857"}}),
     "declares the CRS EPSG:3857"),
]


@pytest.mark.parametrize(("filename", "content", "problem"),
                         [c[1:] for c in AREA_BAD], ids=[c[0] for c in AREA_BAD])
def test_read_area_rejects(tmp_path: Path, filename: str, content: object, problem: str) -> None:
    path = write(tmp_path, filename, content)
    with pytest.raises(InputError) as err:
        read_area(path)
    assert err.value.source == str(path)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in err.value.problem


def test_read_area_rejects_a_folder(tmp_path: Path) -> None:
    (tmp_path / "area.geojson").mkdir()
    with pytest.raises(InputError, match=r"area\.geojson: is a folder"):
        read_area(tmp_path / "area.geojson")


ZONES_BAD = [
    ("point-without-radius", fc(feature(point(), name="Mast", height_m=60)),
     "feature 1 'Mast': a Point zone needs a radius_m property"),
    ("line-without-radius", fc(feature(line(SQUARE[0], SQUARE[1]), name="Power line")),
     "a LineString zone needs a radius_m property"),
    ("multipoint-without-radius",
     fc(feature({"type": "MultiPoint", "coordinates": [SQUARE[0], SQUARE[1]]})),
     "feature 1: a Point zone needs a radius_m"),
    ("negative-height", fc(feature(polygon(SQUARE), name="Pit", height_m=-3)),
     "feature 1 'Pit': negative height_m (-3 m)"),
    ("negative-height-alias", fc(feature(polygon(SQUARE), height=-0.5)),
     "negative height (-0.5 m)"),
    ("height-not-a-number", fc(feature(polygon(SQUARE), height_m="tall")),
     "height_m must be a number of metres, got 'tall'"),
    ("height-bool", fc(feature(polygon(SQUARE), height_m=True)), "height_m must be a number"),
    ("height-list", fc(feature(polygon(SQUARE), height_m=[10])), "height_m must be a number"),
    ("zero-radius", fc(feature(point(), radius_m=0)), "zero radius_m (0 m)"),
    ("negative-radius", fc(feature(point(), radius_m=-5)), "negative radius_m (-5 m)"),
    ("radius-on-polygon", fc(feature(polygon(SQUARE), radius_m=10)),
     "radius_m applies to points and lines only"),
    ("no-geometry", fc(feature(None, name="Ghost")), "feature 1 'Ghost': the zone has no geometry"),
    ("self-intersection", fc(feature(polygon(SQUARE)), feature(polygon(BOWTIE))),
     "feature 2: invalid polygon: self-intersection"),
    ("empty-polygon", fc(feature(polygon(), height_m=5)), "feature 1: empty polygon"),
    ("projected-point", fc(feature(point(402000.0, 3992000.0), radius_m=10)),
     "out of range for lon/lat degrees"),
    ("nan-point", fc(feature(point(math.nan, 36.0), name="Pump", radius_m=5)),
     "feature 1 'Pump': coordinate (nan, 36) is not a finite number"),
    ("not-json", "{", "not JSON"),
]


@pytest.mark.parametrize(("content", "problem"), [c[1:] for c in ZONES_BAD],
                         ids=[c[0] for c in ZONES_BAD])
def test_read_zones_rejects(tmp_path: Path, content: object, problem: str) -> None:
    path = write(tmp_path, "zones.geojson", content)
    with pytest.raises(InputError) as err:
        read_zones(path)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in err.value.problem


def test_read_zones_rejects_negative_kml_height(tmp_path: Path) -> None:
    path = write(tmp_path, "zones.kml",
                 kml(placemark(kml_polygon(SQUARE), "Pond", height_m="-2")))
    with pytest.raises(InputError, match=r"zones\.kml: placemark 1 'Pond': negative height_m"):
        read_zones(path)


POIS_BAD = [
    ("nothing", fc(), "no point or line in the file"),
    ("zero-length-line", fc(feature(line(SQUARE[0], SQUARE[0]), name="Dot")),
     "feature 1 'Dot': the line has zero length"),
    ("one-position-line", fc(feature(line(SQUARE[0]))),
     "feature 1: unreadable geometry: a line needs at least 2 positions"),
    ("no-geometry", fc(feature(point()), feature(None)), "feature 2: the point of interest has no"),
    ("out-of-range", fc(feature(point(36.07, 139.99))),
     "coordinate (36.07, 139.99) is out of range"),
    ("bowtie-ring", fc(feature(polygon(BOWTIE))), "invalid polygon: self-intersection"),
]


@pytest.mark.parametrize(("content", "problem"), [c[1:] for c in POIS_BAD],
                         ids=[c[0] for c in POIS_BAD])
def test_read_pois_rejects(tmp_path: Path, content: object, problem: str) -> None:
    path = write(tmp_path, "pois.geojson", content)
    with pytest.raises(InputError) as err:
        read_pois(path)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in err.value.problem


@pytest.mark.parametrize(("text", "problem"), [
    ("36.07", "expected LAT,LON in decimal degrees"),
    ("36.07,139.9,12", "expected LAT,LON"),
    ("north,east", "expected LAT,LON"),
    ("", "expected LAT,LON"),
    ("36.07;139.9", "expected LAT,LON"),
    ("nan,139.9", "must be finite"),
    ("36,inf", "must be finite"),
    ("90.0001,0", "latitude 90.0001 is out of range"),
    ("-91,0", "latitude -91 is out of range"),
    ("0,180.5", "longitude 180.5 is out of range"),
    ("139.988,36.073,", "expected LAT,LON"),
])
def test_parse_latlon_rejects(text: str, problem: str) -> None:
    with pytest.raises(InputError) as err:
        parse_latlon(text)
    assert err.value.params == ("home",)
    assert problem in err.value.problem


def test_parse_latlon_names_its_parameter() -> None:
    with pytest.raises(InputError, match=r"^rally: latitude"):
        parse_latlon("139.988,36.073", param="rally")


@pytest.mark.parametrize(("text", "expected"), [
    ("36.073,139.988", (36.073, 139.988)),
    (" -33.8568 , 151.2153 ", (-33.8568, 151.2153)),
    ("90,-180", (90.0, -180.0)),
    ("-90,180", (-90.0, 180.0)),
    ("0,0", (0.0, 0.0)),
])
def test_parse_latlon(text: str, expected: tuple[float, float]) -> None:
    assert parse_latlon(text) == expected


# --- good areas -------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    polygon(SQUARE),
    feature(polygon(SQUARE), name="Town"),
    fc(feature(polygon(SQUARE))),
    fc(feature(point()), feature(polygon(SQUARE)), feature(None)),  # non-polygons ignored
    {"type": "GeometryCollection", "geometries": [point(), polygon(SQUARE)]},
    polygon(SQUARE[:-1]),  # ring left open
    polygon([[x, y, 12.5] for x, y in SQUARE]),  # heights dropped
    fc(feature(polygon(SQUARE)), crs={"type": "name",
                                      "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}),
    polygon(SQUARE) | {"crs": {"type": "name", "properties": {"name": "EPSG:4326"}}},
    polygon(SQUARE) | {"crs": {"type": "name",
                               "properties": {"name": "http://www.opengis.net/def/crs/EPSG/0/4326"}}},
], ids=["geometry", "feature", "collection", "mixed", "geometry-collection", "open-ring",
        "3d", "crs84", "epsg4326", "epsg4326-uri"])
def test_read_area_geojson_forms(tmp_path: Path, content: dict) -> None:
    area = read_area(write(tmp_path, "area.geojson", content))
    assert isinstance(area, Polygon)
    assert area.equals(Polygon(SQUARE))
    assert not area.has_z


def test_read_area_keeps_holes(tmp_path: Path) -> None:
    area = read_area(write(tmp_path, "area.geojson", polygon(SQUARE, HOLE)))
    assert isinstance(area, Polygon)
    assert len(area.interiors) == 1
    assert not area.contains(Point(139.995, 36.075))
    assert area.contains(Point(139.991, 36.071))
    assert area.area == pytest.approx(Polygon(SQUARE).area - Polygon(HOLE).area)


def test_read_area_unions_overlapping_features(tmp_path: Path) -> None:
    content = fc(feature(polygon(SQUARE)), feature(polygon(shifted(SQUARE, 0.005))))
    area = read_area(write(tmp_path, "area.geojson", content))
    assert isinstance(area, Polygon)
    assert area.bounds == pytest.approx((139.99, 36.07, 140.005, 36.08))
    assert area.area == pytest.approx(1.5 * Polygon(SQUARE).area)


@pytest.mark.parametrize("content", [
    fc(feature(polygon(SQUARE)), feature(polygon(shifted(SQUARE, 0.02)))),
    {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.02)]]},
], ids=["two-features", "multipolygon"])
def test_read_area_disjoint_parts_are_a_multipolygon(tmp_path: Path, content: dict) -> None:
    area = read_area(write(tmp_path, "area.geojson", content))
    assert isinstance(area, MultiPolygon)
    assert len(area.geoms) == 2
    assert area.area == pytest.approx(2 * Polygon(SQUARE).area)


def test_read_area_accepts_bom_and_sniffs_unknown_extensions(tmp_path: Path) -> None:
    text = json.dumps(polygon(SQUARE))
    path = write(tmp_path, "area.geojson", "\ufeff" + text)
    assert read_area(path).equals(Polygon(SQUARE))
    assert read_area(write(tmp_path, "area.txt", text)).equals(Polygon(SQUARE))
    assert read_area(write(tmp_path, "area.xml", kml(placemark(kml_polygon(SQUARE))))).equals(
        Polygon(SQUARE))


@pytest.mark.parametrize("ns", [KML22, "http://earth.google.com/kml/2.1", None])
def test_read_area_kml(tmp_path: Path, ns: str | None) -> None:
    body = (f"<Folder><name>survey</name><Folder>{placemark(kml_polygon(SQUARE, HOLE), 'Town')}"
            "</Folder></Folder>")
    area = read_area(write(tmp_path, "area.kml", kml(body, ns)))
    assert isinstance(area, Polygon)
    assert area.equals(Polygon(SQUARE, [HOLE]))


def test_read_area_kml_multigeometry_and_extensions(tmp_path: Path) -> None:
    far = shifted(SQUARE, 0.02)
    multi = f"<MultiGeometry>{kml_polygon(SQUARE)}<Point><coordinates>139.99,36.07</coordinates>" \
            f"</Point>{kml_polygon(far)}</MultiGeometry>"
    track = ('<gx:Track xmlns:gx="http://www.google.com/kml/ext/2.2">'
             "<gx:coord>139.99 36.07 0</gx:coord><gx:coord>139.991 36.07 0</gx:coord>"
             "</gx:Track>")
    body = placemark(multi, "Two fields") + placemark(track, "A track")
    area = read_area(write(tmp_path, "area.kml", kml(body)))
    assert isinstance(area, MultiPolygon)
    assert area.equals(MultiPolygon([Polygon(SQUARE), Polygon(far)]))


def test_read_area_kml_tolerates_loose_coordinate_text(tmp_path: Path) -> None:
    coords = "\n   ".join(f"{x}, {y}" for x, y in SQUARE)  # spaces after commas, newlines
    body = placemark(f"<Polygon><outerBoundaryIs><LinearRing><coordinates>\n   {coords}\n"
                     "</coordinates></LinearRing></outerBoundaryIs></Polygon>")
    assert read_area(write(tmp_path, "area.kml", kml(body))).equals(Polygon(SQUARE))


@pytest.mark.parametrize("member", ["doc.kml", "files/area.kml"])
def test_read_area_kmz(tmp_path: Path, member: str) -> None:
    data = kmz_bytes({"images/icon.png": "not really a png",
                      member: kml(placemark(kml_polygon(SQUARE, HOLE)))})
    area = read_area(write(tmp_path, "area.kmz", data))
    assert area.equals(Polygon(SQUARE, [HOLE]))


def test_read_area_kmz_reads_the_first_kml_in_the_archive(tmp_path: Path) -> None:
    """OGC KML 2.2: the root file is the first .kml in the archive (by convention doc.kml)."""
    data = kmz_bytes({"doc.kml": kml(placemark(kml_polygon(SQUARE))),
                      "b.kml": kml(placemark(kml_polygon(shifted(SQUARE, 0.02))))})
    assert read_area(write(tmp_path, "area.kmz", data)).equals(Polygon(SQUARE))


def test_read_area_reports_bad_kml_inside_kmz(tmp_path: Path) -> None:
    path = write(tmp_path, "area.kmz", kmz_bytes({"doc.kml": "<kml><Document>"}))
    with pytest.raises(InputError, match=r"area\.kmz: not KML \(XML error"):
        read_area(path)


# --- good zones -------------------------------------------------------------------------------

def test_read_zones_polygons_with_and_without_height(tmp_path: Path) -> None:
    west = shifted(SQUARE, -0.02)
    content = fc(feature(polygon(SQUARE), name="Warehouse", height_m=12),
                 feature(polygon(west), name="Heliport"),
                 feature(polygon(shifted(SQUARE, 0.02)), height=8.5),
                 feature(polygon(shifted(SQUARE, 0.04)), name="School", height_m=None),
                 feature(polygon(shifted(SQUARE, 0.06)), height_m="15", height=99))
    zones = read_zones(write(tmp_path, "zones.geojson", content))
    assert [(z.name, z.height_m) for z in zones] == [
        ("Warehouse", 12.0), ("Heliport", None), ("feature 3", 8.5), ("School", None),
        ("feature 5", 15.0)]
    assert all(isinstance(z, Zone) and isinstance(z.geometry, Polygon) for z in zones)
    assert zones[1].geometry.equals(Polygon(west))
    with pytest.raises(AttributeError):
        zones[0].height_m = 3.0  # type: ignore[misc]


def test_read_zones_empty_file_is_no_zones(tmp_path: Path) -> None:
    assert read_zones(write(tmp_path, "zones.geojson", fc())) == []


def test_read_zones_splits_multipolygons(tmp_path: Path) -> None:
    geom = {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted(SQUARE, 0.02)]]}
    zones = read_zones(write(tmp_path, "zones.geojson", fc(feature(geom, name="Ponds"))))
    assert [(z.name, z.height_m) for z in zones] == [("Ponds", None), ("Ponds", None)]
    assert zones[1].geometry.equals(Polygon(shifted(SQUARE, 0.02)))


@pytest.mark.parametrize("radius_m", [5.0, 50.0, 300.0])
def test_read_zones_point_with_radius_is_a_circle_around_it(tmp_path: Path,
                                                            radius_m: float) -> None:
    content = fc(feature(point(139.995, 36.075), name="Mast", height_m=60, radius_m=radius_m))
    (zone,) = read_zones(write(tmp_path, "zones.geojson", content))
    assert (zone.name, zone.height_m) == ("Mast", 60.0)
    frame = LocalFrame(36.075, 139.995)
    circle = frame.geom_to_local(zone.geometry)
    centre = Point(0.0, 0.0)
    # the polygon holds the whole true circle and is not much bigger than it
    assert circle.exterior.distance(centre) >= radius_m * (1 - 1e-6)
    assert shapely.hausdorff_distance(circle.exterior, centre) <= radius_m * 1.003
    assert circle.area == pytest.approx(math.pi * radius_m**2, rel=0.005)


def test_read_zones_line_with_radius_is_a_corridor(tmp_path: Path) -> None:
    start, end = [139.99, 36.075], [140.0, 36.075]
    content = fc(feature(line(start, end), name="Power line", height_m=40, radius_m="20"))
    (zone,) = read_zones(write(tmp_path, "zones.geojson", content))
    frame = LocalFrame(36.075, 139.995)
    corridor = frame.geom_to_local(zone.geometry)
    length_m = frame.geom_to_local(LineString([start, end])).length
    assert corridor.area == pytest.approx(length_m * 40 + math.pi * 20**2, rel=0.01)
    assert corridor.contains(frame.geom_to_local(LineString([start, end])))
    assert zone.height_m == 40.0


def test_read_zones_kml_extended_data(tmp_path: Path) -> None:
    schema = ('<Schema name="s" id="s"><SimpleField name="height_m" type="float"/>'
              '<SimpleField name="radius_m" type="float"/></Schema>'
              '<Placemark><name>Tower</name><ExtendedData><SchemaData schemaUrl="#s">'
              '<SimpleData name="height_m">62</SimpleData><SimpleData name="radius_m">15'
              "</SimpleData></SchemaData></ExtendedData>"
              "<Point><coordinates>139.995,36.075,0</coordinates></Point></Placemark>")
    body = placemark(kml_polygon(SQUARE), "Hall", height_m=9) + schema + placemark(
        kml_polygon(shifted(SQUARE, 0.02)), "Heliport")
    zones = read_zones(write(tmp_path, "zones.kml", kml(body)))
    assert [(z.name, z.height_m) for z in zones] == [("Hall", 9.0), ("Tower", 62.0),
                                                     ("Heliport", None)]
    assert zones[1].geometry.contains(Point(139.995, 36.075))


# --- good points of interest ------------------------------------------------------------------

def test_read_pois_points_lines_and_rings(tmp_path: Path) -> None:
    levee = line([139.987, 36.08], [139.988, 36.073], [139.988, 36.065])
    content = fc(feature(point(139.988, 36.073), name="Breach"),
                 feature(levee, name="Levee crest"),
                 feature(polygon(SQUARE, HOLE), name="Ring levee"),
                 feature({"type": "MultiPoint", "coordinates": [SQUARE[0], SQUARE[2]]}))
    pois = read_pois(write(tmp_path, "pois.geojson", content))
    assert [p.name for p in pois] == ["Breach", "Levee crest", "Ring levee", "feature 4",
                                      "feature 4"]
    assert all(isinstance(p, Poi) for p in pois)
    assert pois[0].geometry.equals(Point(139.988, 36.073))
    assert pois[1].geometry.equals(LineString(levee["coordinates"]))
    ring = pois[2].geometry
    assert isinstance(ring, LineString) and ring.is_closed
    assert ring.equals(LineString(SQUARE))
    assert pois[4].geometry.equals(Point(SQUARE[2]))


def test_read_pois_kml(tmp_path: Path) -> None:
    body = (placemark("<Point><coordinates>139.988,36.073,0</coordinates></Point>", "Breach")
            + placemark("<LineString><coordinates>139.987,36.08 139.988,36.073</coordinates>"
                        "</LineString>", "Levee"))
    pois = read_pois(write(tmp_path, "pois.kml", kml(body)))
    assert [(p.name, p.geometry.geom_type) for p in pois] == [("Breach", "Point"),
                                                              ("Levee", "LineString")]


# --- the bundled example ----------------------------------------------------------------------

BREACH = Point(139.988, 36.073)


def test_example_area() -> None:
    area = read_area(EXAMPLE / "area.geojson")
    assert isinstance(area, Polygon) and area.is_valid
    assert len(area.interiors) == 1
    assert read_area(EXAMPLE / "area.kml").equals(area)
    frame = LocalFrame(BREACH.y, BREACH.x)
    local = frame.geom_to_local(area)
    assert 0.6e6 <= local.area <= 1.0e6
    assert local.area < 0.9 * local.convex_hull.area  # concave
    assert local.distance(Point(0, 0)) < 150  # next to the breach
    assert local.bounds[0] > 0  # east of it: the left bank, the side that flooded


def test_example_zones() -> None:
    area = read_area(EXAMPLE / "area.geojson")
    hole = Polygon(area.interiors[0])
    zones = read_zones(EXAMPLE / "zones.geojson")
    by_name = {z.name: z for z in zones}
    assert len(by_name) == len(zones) == 5
    assert any(z.height_m is None for z in zones)
    tall = [z for z in zones if z.height_m is not None and z.height_m >= 50]
    low = [z for z in zones if z.height_m is not None and 8 <= z.height_m <= 15]
    assert len(tall) == 1 and 55 <= tall[0].height_m <= 70
    assert 2 <= len(low) <= 3
    for z in [*tall, *low]:
        assert area.contains(z.geometry), z.name
    for i, z in enumerate(zones):
        assert not z.geometry.intersects(hole), z.name
        assert not any(z.geometry.intersects(o.geometry) for o in zones[i + 1:]), z.name


def test_example_pois() -> None:
    pois = read_pois(EXAMPLE / "pois.geojson")
    points = [p for p in pois if isinstance(p.geometry, Point)]
    lines = [p for p in pois if isinstance(p.geometry, LineString)]
    assert 3 <= len(points) <= 5 and 1 <= len(lines) <= 2
    assert any(p.geometry.distance(BREACH) < 1e-4 for p in points)
    assert any("levee" in p.name.lower() and p.geometry.distance(BREACH) < 1e-4 for p in lines)
