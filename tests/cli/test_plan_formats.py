"""`survey plan` on the formats GDAL reads beyond GeoJSON: the Jōsō example handed over as
GeoPackages in JGD2011 / Japan Plane Rectangular CS IX (EPSG:6677), as Japanese city data is,
plans like the GeoJSON it was made from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from typer.testing import CliRunner

from survey.cli.main import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "joso"
ENV = {"COLUMNS": "120", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb", "FORCE_COLOR": None,
       "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
PLAN = ("--gsd", "2.0", "--overlap", "80/70")


def to_gpkg(geojson: Path, gpkg: Path, layer: str, crs: str = "EPSG:6677") -> Path:
    """The features of ``geojson`` as a GeoPackage layer in ``crs`` (fields: name, height_m,
    radius_m; a missing number is NULL)."""
    from pyogrio.raw import write

    features = json.loads(geojson.read_text(encoding="utf-8"))["features"]
    tf = Transformer.from_crs(4326, crs, always_xy=True)
    geoms = [shapely.transform(shape(f["geometry"]), lambda xy: np.column_stack(
        tf.transform(xy[:, 0], xy[:, 1]))) for f in features]

    def column(key: str) -> np.ndarray:
        values = [f["properties"].get(key) for f in features]
        if key == "name":
            return np.array(values, dtype=object)
        return np.array([np.nan if v is None else float(v) for v in values])

    fields = ["name", "height_m", "radius_m"]
    write(str(gpkg), np.array([shapely.to_wkb(g) for g in geoms], dtype=object),
          [column(k) for k in fields], fields, driver="GPKG", geometry_type="Unknown", crs=crs,
          layer=layer, append=gpkg.exists())
    return gpkg


def plan(tmp_path: Path, name: str, *args: object) -> dict:
    out = tmp_path / name
    result = CliRunner().invoke(app, ["plan", *map(str, args), *PLAN, "-o", str(out)], env=ENV)
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def geojson_summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return plan(tmp_path_factory.mktemp("geojson"), "out", EXAMPLE / "area.geojson",
                "--obstacles", EXAMPLE / "zones.geojson")


def test_geopackage_area_and_zones_in_jgd2011_plan_like_the_geojson(
        tmp_path: Path, geojson_summary: dict) -> None:
    area = to_gpkg(EXAMPLE / "area.geojson", tmp_path / "area.gpkg", "area")
    zones = to_gpkg(EXAMPLE / "zones.geojson", tmp_path / "zones.gpkg", "zones")
    s = plan(tmp_path, "gpkg", area, "--obstacles", zones)
    ref = geojson_summary
    assert s["area_m2"] == pytest.approx(ref["area_m2"], rel=1e-6)
    assert s["fence_zones"] == ref["fence_zones"] == 3  # inclusion, landing zone, tower
    assert s["totals"]["sorties"] == ref["totals"]["sorties"]
    # A sortie is filled to within a second of its battery budget: the millimetres a
    # reprojection moves can send a line to the next sortie, which re-flies one piece more.
    assert s["totals"]["photos"] == pytest.approx(ref["totals"]["photos"], rel=0.02)
    assert s["totals"]["distance_m"] == pytest.approx(ref["totals"]["distance_m"], rel=0.005)
    assert (s["home"]["lat_deg"], s["home"]["lon_deg"]) == pytest.approx(
        (ref["home"]["lat_deg"], ref["home"]["lon_deg"]), abs=1e-6)


def test_a_shapefile_area_plans(tmp_path: Path, geojson_summary: dict) -> None:
    from pyogrio.raw import write

    features = json.loads((EXAMPLE / "area.geojson").read_text(encoding="utf-8"))["features"]
    wkb = np.array([shapely.to_wkb(shape(f["geometry"])) for f in features], dtype=object)
    shp = tmp_path / "area.shp"
    write(str(shp), wkb, [np.array(["area"], dtype=object)], ["name"], driver="ESRI Shapefile",
          geometry_type="Polygon", crs="EPSG:4326")
    s = plan(tmp_path, "shp", shp, "--obstacles", EXAMPLE / "zones.geojson")
    assert s["area_m2"] == pytest.approx(geojson_summary["area_m2"], rel=1e-6)
