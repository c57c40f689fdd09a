"""A digital elevation model (GeoTIFF, any CRS) sampled at lon/lat points.

The first band is read whole into memory (survey-area DEMs are small); nodata becomes NaN.
Heights are in the DEM's own vertical datum (usually above sea level): give take-off
altitudes in the same datum.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.errors import RasterioIOError
from rasterio.transform import Affine
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from survey.core.errors import InputError


class Dem:
    """Heights of a raster DEM, bilinear between pixel centres, NaN outside or on nodata.

    Build with :func:`open_dem`, or directly from an array (row 0 at the top) with its affine
    transform and CRS.
    """

    def __init__(self, heights: np.ndarray, transform: Affine, crs: CRS | str | int,
                 source: str | PathLike[str] = "<dem>") -> None:
        self.heights = np.asarray(heights, dtype=np.float64)
        self.transform = transform
        self.crs = CRS.from_user_input(crs)
        self.source = Path(source)
        self._to_dem = Transformer.from_crs(4326, self.crs, always_xy=True)
        self._inverse = tuple((~transform)[:6])
        rows, cols = self.heights.shape
        a, b, c, d, e, f = tuple(transform[:6])
        corner_cols, corner_rows = np.array([0, cols, cols, 0]), np.array([0, 0, rows, rows])
        xs, ys = a * corner_cols + b * corner_rows + c, d * corner_cols + e * corner_rows + f
        self.bounds = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        """Raster extent in the DEM's CRS: (minx, miny, maxx, maxy)."""

    @property
    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """Raster extent in lon/lat: (min lon, min lat, max lon, max lat)."""
        return self._to_dem.transform_bounds(*self.bounds, direction="INVERSE", densify_pts=21)

    def height_at(self, lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
        """Heights (m) at lon/lat points, bilinear; NaN outside the raster or next to nodata."""
        x, y = self._to_dem.transform(np.asarray(lon, float), np.asarray(lat, float))
        a, b, c, d, e, f = self._inverse
        x, y = np.asarray(x), np.asarray(y)
        col, row = a * x + b * y + c, d * x + e * y + f
        return self._bilinear(row - 0.5, col - 0.5)

    def _bilinear(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        rows, cols = self.heights.shape
        inside = (r >= -0.5) & (r <= rows - 0.5) & (c >= -0.5) & (c <= cols - 0.5)
        r = np.clip(np.nan_to_num(r, nan=-1.0), 0.0, rows - 1.0)
        c = np.clip(np.nan_to_num(c, nan=-1.0), 0.0, cols - 1.0)
        r0 = np.minimum(np.floor(r).astype(int), max(rows - 2, 0))
        c0 = np.minimum(np.floor(c).astype(int), max(cols - 2, 0))
        r1, c1 = np.minimum(r0 + 1, rows - 1), np.minimum(c0 + 1, cols - 1)
        fr, fc = r - r0, c - c0
        h = self.heights
        top = h[r0, c0] * (1 - fc) + h[r0, c1] * fc
        bottom = h[r1, c0] * (1 - fc) + h[r1, c1] * fc
        return np.where(inside, top * (1 - fr) + bottom * fr, np.nan)

    def covers(self, polygon_lonlat: BaseGeometry) -> bool:
        """Whether the raster holds a height all along the outline of a lon/lat geometry.

        The outline is checked every 1e-4 degrees (about 10 m); nodata holes inside it are not.
        """
        coords = shapely.get_coordinates(shapely.segmentize(polygon_lonlat, 1e-4))
        return bool(np.all(np.isfinite(self.height_at(coords[:, 0], coords[:, 1]))))

    def outline_lonlat(self) -> Polygon:
        """The raster extent as a lon/lat polygon (edges densified)."""
        minx, miny, maxx, maxy = self.bounds
        outline = shapely.segmentize(box(minx, miny, maxx, maxy), (maxx - minx) / 20.0)
        return shapely.transform(outline, self._unproject)

    def _unproject(self, coords: np.ndarray) -> np.ndarray:
        return np.column_stack(
            self._to_dem.transform(coords[:, 0], coords[:, 1], direction="INVERSE"))


def open_dem(path: str | PathLike[str]) -> Dem:
    """Read a single-band elevation raster (GeoTIFF or anything GDAL reads) with its CRS.

    Raises
    ------
    InputError
        No such file, not a raster, or a raster without a CRS.
    """
    file = Path(path)
    if not file.is_file():
        raise InputError(file, "no such DEM file")
    try:
        with rasterio.open(file) as src:
            if src.crs is None:
                raise InputError(file, "DEM has no coordinate reference system")
            band = src.read(1, masked=True).astype(np.float64)
            return Dem(band.filled(np.nan), src.transform, CRS.from_wkt(src.crs.to_wkt()), file)
    except RasterioIOError as exc:
        raise InputError(file, f"not a readable raster ({str(exc).splitlines()[0]})") from None
