"""A generated disaster area at a real place: top-down imagery plus the truth of every building.

Georeferencing
--------------
A :class:`Scene` holds its image and an affine map from *pixel* coordinates to metres in a
:class:`survey.core.frame.LocalFrame` (east ``x``, north ``y``). Pixel coordinates are continuous:
``(col, row) = (0, 0)`` is the top-left corner of the top-left pixel, whose centre is
``(0.5, 0.5)`` (GDAL's convention). A generated scene is north-up (``x = x0 + gsd * col``,
``y = y0 - gsd * row``); a scene made from a satellite tile (``sitl.xbd_scene``) may carry any
affine (rotation, shear).

Files
-----
:func:`write_scene` writes ``scene.tif`` (GeoTIFF, EPSG:4326; its transform is the least-squares
pixel → lon/lat affine, exact to millimetres for a scene of a few kilometres; the local frame's
centre and GSD are kept as tags), ``truth.geojson`` (buildings: ``id``, ``damage``) and
``context.geojson`` (roads and water, ``kind``). :func:`read_scene` reads that back, or any
image beside a ``*.bounds.json`` with ``south``/``west``/``north``/``east``.

Damage classes follow xBD's scale: ``intact`` (clean roof), ``minor`` (missing patches, blue
tarps), ``major`` (part of the roof collapsed, debris spilling out), ``destroyed`` (a debris
field, no roof shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon

from survey.core.damage import DamageClass
from survey.core.frame import LocalFrame

Affine6 = tuple[float, float, float, float, float, float]
"""``(a, b, c, d, e, f)`` of an affine map ``x = a*col + b*row + c``, ``y = d*col + e*row + f``."""

NEUTRAL_GROUND_BGR: tuple[int, int, int] = (88, 112, 104)
"""Colour of the ground outside a scene (a dull green-grey)."""

SCENE_TIF = "scene.tif"
TRUTH_GEOJSON = "truth.geojson"
CONTEXT_GEOJSON = "context.geojson"


@dataclass
class Building:
    """One building of a scene and its damage level.

    ``truth.geojson`` holds ``damage`` as its :attr:`~survey.core.damage.DamageClass.label`
    (``"intact"``, ...); :mod:`sitl.world.scene_io` converts at read and write.
    """

    id: int
    polygon_lonlat: Polygon
    damage: DamageClass


@dataclass
class Scene:
    """A top-down image of an area, georeferenced, with its buildings' truth.

    Parameters
    ----------
    image
        ``(H, W, 3)`` BGR ``uint8``.
    frame
        The local metric frame the affine maps into.
    affine
        ``(a, b, c, d, e, f)``: ``x = a*col + b*row + c``, ``y = d*col + e*row + f`` (metres,
        continuous pixel coordinates, see the module docstring).
    buildings
        The buildings with their damage.
    roads, water
        Lon/lat polygons, kept for reference.
    georef_residual_m
        RMS residual of the fit the affine came from (``None`` when it is exact by construction).
    """

    image: np.ndarray
    frame: LocalFrame
    affine: Affine6
    buildings: list[Building] = field(default_factory=list)
    roads: list[Polygon] = field(default_factory=list)
    water: list[Polygon] = field(default_factory=list)
    georef_residual_m: float | None = None

    # ------------------------------------------------------------------ geometry
    @property
    def width_px(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height_px(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def gsd_m(self) -> float:
        """Ground sample distance, metres per pixel (square root of the affine's area scale)."""
        a, b, _, d, e, _ = self.affine
        return math.sqrt(abs(a * e - b * d))

    def affine_matrix(self) -> np.ndarray:
        """The 3×3 matrix mapping ``[col, row, 1]`` to ``[x, y, 1]``."""
        a, b, c, d, e, f = self.affine
        return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])

    def pixel_to_local(self, col, row):
        """Continuous pixel coordinates to local metres ``(x east, y north)``."""
        a, b, c, d, e, f = self.affine
        col, row = np.asarray(col, dtype=float), np.asarray(row, dtype=float)
        return a * col + b * row + c, d * col + e * row + f

    def local_to_pixel(self, x, y):
        """Local metres to continuous pixel coordinates ``(col, row)``."""
        inv = np.linalg.inv(self.affine_matrix())
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return inv[0, 0] * x + inv[0, 1] * y + inv[0, 2], inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]

    def pixel_to_lonlat(self, col, row):
        """Continuous pixel coordinates to ``(lon, lat)`` degrees."""
        return self.frame.to_geo(*self.pixel_to_local(col, row))

    def lonlat_to_pixel(self, lon, lat):
        """``(lon, lat)`` degrees to continuous pixel coordinates ``(col, row)``."""
        return self.local_to_pixel(*self.frame.to_local(lon, lat))

    def corners_lonlat(self) -> np.ndarray:
        """Lon/lat of the image corners (top-left, top-right, bottom-right, bottom-left), (4, 2)."""
        w, h = self.width_px, self.height_px
        lon, lat = self.pixel_to_lonlat(np.array([0, w, w, 0.0]), np.array([0, 0, h, float(h)]))
        return np.column_stack([lon, lat])

    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` degrees of the image's corners."""
        c = self.corners_lonlat()
        return (float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()),
                float(c[:, 1].max()))

    def footprint_lonlat(self) -> Polygon:
        """The image's outline as a lon/lat polygon."""
        return Polygon(self.corners_lonlat())

    def building_local(self, b: Building) -> Polygon:
        """A building's polygon in local metres."""
        return self.frame.geom_to_local(b.polygon_lonlat)

    def building_pixels(self, b: Building) -> Polygon:
        """A building's polygon in continuous pixel coordinates."""
        return shapely.transform(self.building_local(b), self._local_to_pixel_xy)

    def _local_to_pixel_xy(self, xy: np.ndarray) -> np.ndarray:
        c, r = self.local_to_pixel(xy[:, 0], xy[:, 1])
        return np.column_stack([c, r])

    def geotransform_lonlat(self, grid: int = 5) -> tuple[Affine6, float]:
        """Least-squares pixel → lon/lat affine ``(a, b, c, d, e, f)`` and its max error, degrees.

        ``lon = a*col + b*row + c``, ``lat = d*col + e*row + f`` (rasterio's ``Affine`` order).
        """
        cols, rows = np.meshgrid(np.linspace(0, self.width_px, grid),
                                 np.linspace(0, self.height_px, grid))
        lon, lat = self.pixel_to_lonlat(cols.ravel(), rows.ravel())
        coef, err = fit_affine(np.column_stack([cols.ravel(), rows.ravel()]),
                               np.column_stack([lon, lat]))
        return coef, err


def fit_affine(src: np.ndarray, dst: np.ndarray) -> tuple[Affine6, float]:
    """Least-squares affine ``dst ≈ A @ [src, 1]``; returns ``(a, b, c, d, e, f)`` and RMS error.

    Parameters
    ----------
    src, dst
        ``(N, 2)`` point pairs, ``N >= 3`` and not all on one line.
    """
    src = np.asarray(src, dtype=float)
    dst = np.asarray(dst, dtype=float)
    m = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(m, dst, rcond=None)
    resid = m @ coef - dst
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    (a, d), (b, e), (c, f) = coef
    return (float(a), float(b), float(c), float(d), float(e), float(f)), rms
