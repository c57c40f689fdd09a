from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import Point, box

from mapping.dem import Dem, open_dem
from survey.core.errors import InputError

LAT, LON = 35.0, 140.5


def _write(path: Path, heights: np.ndarray, transform: Affine, crs: str | None,
           nodata: float | None = None) -> Path:
    rows, cols = heights.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(heights.astype("float32"), 1)
    return path


def _utm_plane(path: Path, nodata_patch: bool = False) -> tuple[Path, float, float]:
    """100 + 0.1 × (easting - e0) on a 200 × 200 grid of 2 m pixels, UTM 54N."""
    to_utm = Transformer.from_crs(4326, 32654, always_xy=True)
    e0, n0 = to_utm.transform(LON, LAT)
    xs = e0 - 200 + 2.0 * (np.arange(200) + 0.5)
    heights = np.tile(100.0 + 0.1 * (xs - e0), (200, 1))
    if nodata_patch:
        heights[:20, :20] = -9999.0
    _write(path, heights, Affine(2.0, 0, e0 - 200, 0, -2.0, n0 + 200), "EPSG:32654", -9999.0)
    return path, e0, n0


def test_heights_bilinear_in_a_projected_crs(tmp_path):
    path, e0, n0 = _utm_plane(tmp_path / "plane.tif", nodata_patch=True)
    dem = open_dem(path)
    to_geo = Transformer.from_crs(32654, 4326, always_xy=True)
    east = e0 + np.array([0.0, 37.3, -150.9, 123.4])
    lon, lat = to_geo.transform(east, np.full(4, n0 + 11.0))
    np.testing.assert_allclose(dem.height_at(lon, lat), 100 + 0.1 * (east - e0), atol=1e-4)
    outside = to_geo.transform(e0 + 250.0, n0)
    assert np.isnan(dem.height_at(*outside))
    corner = to_geo.transform(e0 - 190.0, n0 + 190.0)  # in the nodata patch
    assert np.isnan(dem.height_at(*corner))
    edge = to_geo.transform(e0 + 199.5, n0)  # past the last pixel centre: the edge value
    assert dem.height_at(*edge) == pytest.approx(100 + 0.1 * 199.0, abs=1e-3)
    assert dem.height_at(LON, LAT).shape == ()


def test_bounds_and_covers(tmp_path):
    path, e0, n0 = _utm_plane(tmp_path / "plane.tif", nodata_patch=True)
    dem = open_dem(path)
    assert dem.bounds == pytest.approx((e0 - 200, n0 - 200, e0 + 200, n0 + 200))
    minlon, minlat, maxlon, maxlat = dem.bounds_lonlat
    assert minlon < LON < maxlon and minlat < LAT < maxlat
    assert dem.outline_lonlat().contains(Point(LON, LAT))
    assert dem.covers(Point(LON, LAT).buffer(0.001))  # about 100 m
    assert not dem.covers(Point(LON, LAT).buffer(0.003))  # past the edges
    assert not dem.covers(box(minlon, minlat, LON, LAT))  # reaches the nodata patch


def test_geographic_dem(tmp_path):
    # 0.001° pixels, height = 1000 × (lat - 35) + 10 × (lon - 140): a plane in degrees.
    lons = 140.0 + 0.001 * (np.arange(100) + 0.5)
    lats = 35.1 - 0.001 * (np.arange(100) + 0.5)
    heights = 1000 * (lats[:, None] - 35.0) + 10 * (lons[None, :] - 140.0)
    path = _write(tmp_path / "geo.tif", heights, Affine(0.001, 0, 140.0, 0, -0.001, 35.1),
                  "EPSG:4326")
    dem = open_dem(path)
    lon, lat = np.array([140.0123, 140.0871]), np.array([35.0456, 35.0077])
    np.testing.assert_allclose(dem.height_at(lon, lat),
                               1000 * (lat - 35.0) + 10 * (lon - 140.0), atol=1e-4)
    assert dem.bounds_lonlat == pytest.approx((140.0, 35.0, 140.1, 35.1))


def test_dem_from_an_array():
    dem = Dem(np.array([[1.0, 2.0], [3.0, 4.0]]), Affine(1, 0, 0, 0, -1, 2), 32654)
    lon, lat = Transformer.from_crs(32654, 4326, always_xy=True).transform(1.0, 1.0)
    assert dem.height_at(lon, lat) == pytest.approx(2.5)


def test_open_dem_errors(tmp_path):
    with pytest.raises(InputError, match=r"absent\.tif: no such DEM file"):
        open_dem(tmp_path / "absent.tif")
    text = tmp_path / "notes.tif"
    text.write_text("no raster here\n")
    with pytest.raises(InputError, match=r"notes\.tif: not a readable raster"):
        open_dem(text)
    bare = _write(tmp_path / "nocrs.tif", np.zeros((4, 4)), Affine(1, 0, 0, 0, -1, 4), None)
    with pytest.raises(InputError, match=r"nocrs\.tif: DEM has no coordinate reference system"):
        open_dem(bare)
