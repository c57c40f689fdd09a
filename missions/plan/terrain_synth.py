"""Synthetic DEMs for tests and examples: a river valley in a metric CRS, and writing a GeoTIFF.

>>> from survey.core.frame import LocalFrame
>>> frame = LocalFrame(36.0, 140.0)
>>> dem = synthetic_valley(frame, size_m=1000.0, depth_m=50.0, along_slope=0.0,
...                        river_depth_m=0.0)
>>> dem.crs.to_epsg()
32654
>>> lon, lat = frame.to_geo([0.0, 400.0], [0.0, 0.0])  # the valley floor, the plateau
>>> [round(float(h), 1) for h in dem.height_at(lon, lat)]
[100.0, 150.0]
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from mapping.dem import Dem
from survey.core.frame import LocalFrame

__all__ = ["synthetic_valley", "utm_crs", "write_geotiff"]


def utm_crs(lat_deg: float, lon_deg: float) -> CRS:
    """The WGS 84 UTM zone CRS of a point (EPSG 326xx north, 327xx south).

    >>> utm_crs(36.0, 140.0).to_epsg(), utm_crs(-33.9, 18.4).to_epsg()
    (32654, 32734)
    """
    zone = min(int((lon_deg + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat_deg >= 0 else 32700) + zone)


def synthetic_valley(centre: LocalFrame | tuple[float, float], size_m: float = 2000.0,
                     depth_m: float = 60.0, *, half_width_m: float | None = None,
                     floor_width_m: float = 60.0, shape: Literal["V", "U"] = "V",
                     along_slope: float = 0.01, axis_deg: float = 0.0,
                     river_depth_m: float = 1.5, base_m: float = 100.0, pixel_m: float = 5.0,
                     crs: CRS | str | int | None = None,
                     source: str | PathLike[str] = "<synthetic valley>") -> Dem:
    """A square DEM of a valley through ``centre``: a flat floor with a river channel, sloped
    sides up to a rim, flat plateaus beyond, the whole tilted gently along the valley.

    Heights, with ``a`` the distance along the valley axis from the centre (towards
    ``axis_deg``) and ``c`` the distance across it::

        base_m + along_slope × a + depth_m × side(u) − river
        u = clip((|c| − floor_width_m / 2) / (half_width_m − floor_width_m / 2), 0, 1)
        side(u) = u (V) or u² (U: a flat floor steepening to the rim)

    and the river a parabolic channel ``river_depth_m`` deep, a third of the floor wide.

    Parameters
    ----------
    centre
        The valley's centre: a frame (its origin) or (lat, lon) degrees.
    size_m
        Side of the raster, metres, centred on ``centre``.
    depth_m
        Rim above the floor (0: a plane, flat with ``along_slope=0``).
    half_width_m
        From the axis to the rim; default ``size_m / 4``.
    floor_width_m, shape, river_depth_m
        The floor's width, the sides' profile, the river channel's depth.
    along_slope
        Rise per metre along the axis (towards ``axis_deg``, degrees clockwise from north).
    base_m, pixel_m
        Height of the floor's middle at the centre (before the river), pixel side in metres.
    crs
        A projected CRS in metres (a UTM zone, a JGD2011 plane: ``6677`` …); default the UTM
        zone of the centre. Distances are measured in it.
    """
    lat0, lon0 = (centre.lat0_deg, centre.lon0_deg) if isinstance(centre, LocalFrame) else centre
    target = utm_crs(lat0, lon0) if crs is None else CRS.from_user_input(crs)
    e0, n0 = Transformer.from_crs(4326, target, always_xy=True).transform(lon0, lat0)
    n = max(round(size_m / pixel_m), 2)
    half = n * pixel_m / 2.0
    offsets = -half + pixel_m * (np.arange(n) + 0.5)
    east, north = np.meshgrid(offsets, -offsets)  # row 0 at the top (north)
    axis = np.radians(axis_deg)
    along = east * np.sin(axis) + north * np.cos(axis)
    across = np.abs(east * np.cos(axis) - north * np.sin(axis))
    rim = size_m / 4.0 if half_width_m is None else half_width_m
    floor = floor_width_m / 2.0
    u = np.clip((across - floor) / max(rim - floor, 1e-9), 0.0, 1.0)
    side = u if shape == "V" else u**2
    channel = floor / 3.0
    river = river_depth_m * np.clip(1.0 - (across / max(channel, 1e-9)) ** 2, 0.0, 1.0)
    heights = base_m + along_slope * along + depth_m * side - river
    transform = Affine(pixel_m, 0.0, e0 - half, 0.0, -pixel_m, n0 + half)
    return Dem(heights, transform, target, source)


def write_geotiff(dem: Dem, path: str | PathLike[str], nodata: float = -9999.0) -> Path:
    """Write a DEM as a single-band float32 GeoTIFF (NaN as ``nodata``) that
    :func:`mapping.dem.open_dem` reads back."""
    file = Path(path)
    rows, cols = dem.heights.shape
    with rasterio.open(file, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs=dem.crs.to_wkt(), transform=dem.transform,
                       nodata=nodata, compress="deflate") as dst:
        dst.write(np.where(np.isfinite(dem.heights), dem.heights, nodata).astype("float32"), 1)
    return file
