"""Orthomosaics: a georeferenced GeoTIFF (OpenDroneMap, WebODM, commercial tools) as input.

An orthomosaic has no camera: each pixel already sits on the ground through the raster's
affine transform, north-up. Large ones are never read whole: every footprint (or detector
window) is read as its own window (rasterio ``boundless`` reads), and the map's overlay is
a decimated read.

- With footprints, each is cut from the ortho directly at the raster's resolution and graded
  (one view per building, weight 1).
- Without, the detector runs window by window (windows of :data:`WINDOW_M` metres with
  :data:`OVERLAP_M` of overlap) and boxes become ground polygons through the transform;
  duplicates across windows are merged on the ground like views of several photos.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon, box

from survey.core.damage import DamageClass
from survey.core.errors import InputError

WINDOW_M = 400.0
OVERLAP_M = 40.0
OVERLAY_PX = 1600
_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Ortho:
    """An orthomosaic: path, size, ground resolution, extent, CRS and affine transform."""

    path: Path
    width: int
    height: int
    gsd_cm: float
    footprint: Polygon
    """Raster extent in lon/lat."""
    crs_wkt: str = "EPSG:4326"
    transform: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    """The raster's affine ``(a, b, c, d, e, f)``: x = a·col + b·row + c, y = d·col + e·row + f."""

    def _dataset(self):
        import rasterio

        return rasterio.open(self.path)


@functools.lru_cache(maxsize=8)
def _transformer(source: str, target: str):
    # building a pyproj transformer costs ~10-40 ms: once per raster, not once per footprint
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def is_orthomosaic(path: str | PathLike[str]) -> bool:
    """Whether a file is a georeferenced GeoTIFF (a CRS and a real transform)."""
    file = Path(path)
    if file.suffix.lower() not in _SUFFIXES:
        return False
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(file) as src:
            return src.crs is not None and not src.transform.is_identity
    except (RasterioIOError, OSError):
        return False


def open_ortho(path: str | PathLike[str]) -> Ortho:
    """Open an orthomosaic and measure its ground resolution.

    Raises
    ------
    InputError
        Unreadable, not georeferenced, rotated, or without three colour bands.
    """
    import rasterio
    from pyproj import CRS
    from rasterio.errors import RasterioIOError

    file = Path(path)
    try:
        with rasterio.open(file) as src:
            if src.crs is None or src.transform.is_identity:
                raise InputError(file, "not georeferenced (no CRS or transform)")
            if src.transform.b != 0 or src.transform.d != 0:
                raise InputError(file, "rotated rasters are not supported (warp it north-up)")
            if src.count < 3:
                raise InputError(file, f"{src.count} band(s); an orthomosaic needs RGB")
            crs = CRS.from_user_input(src.crs.to_wkt())
            width, height, transform, bounds = src.width, src.height, src.transform, src.bounds
    except RasterioIOError as exc:
        raise InputError(file, f"not a readable GeoTIFF ({exc})") from None
    to_ll = _transformer(crs.to_wkt(), "EPSG:4326")
    xs = np.linspace(bounds.left, bounds.right, 9)
    ys = np.linspace(bounds.bottom, bounds.top, 9)
    ring = ([(x, bounds.top) for x in xs] + [(bounds.right, y) for y in ys[::-1]] +
            [(x, bounds.bottom) for x in xs[::-1]] + [(bounds.left, y) for y in ys])
    lon, lat = to_ll.transform(*np.array(ring).T)
    outline = Polygon(np.column_stack([lon, lat]))
    px_x, px_y = abs(transform.a), abs(transform.e)
    if crs.is_geographic:
        lat0 = math.radians(float(np.mean(lat)))
        px_x *= 111_320.0 * math.cos(lat0)
        px_y *= 110_540.0
    else:
        px_x *= crs.axis_info[0].unit_conversion_factor
        px_y *= crs.axis_info[0].unit_conversion_factor
    return Ortho(file, width, height, float(math.sqrt(px_x * px_y) * 100.0), outline,
                 crs.to_wkt(), tuple(transform[:6]))


def read_window(src: object, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """BGR uint8 pixels of a window of an open raster (grey outside it)."""
    from rasterio.windows import Window

    from detection.model import PAD_VALUE

    data = src.read([1, 2, 3], window=Window(x0, y0, w, h),  # type: ignore[attr-defined]
                    boundless=True, fill_value=PAD_VALUE)
    return _bgr8(data)


def _bgr8(data: np.ndarray) -> np.ndarray:
    image = np.moveaxis(data, 0, -1)[..., ::-1]
    if image.dtype != np.uint8:
        top = float(np.nanmax(image)) or 1.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def lonlat_to_pixel(ortho: Ortho, lonlat: np.ndarray) -> np.ndarray:
    """Raster pixel coordinates (col, row) of lon/lat points."""
    x, y = _transformer("EPSG:4326", ortho.crs_wkt).transform(lonlat[:, 0], lonlat[:, 1])
    x, y = np.asarray(x), np.asarray(y)
    a, b, c, d, e, f = ortho.transform
    det = a * e - b * d
    return np.column_stack([(e * (x - c) - b * (y - f)) / det,
                            (a * (y - f) - d * (x - c)) / det])


def pixel_to_lonlat(ortho: Ortho, uv: np.ndarray) -> np.ndarray:
    """Lon/lat of raster pixel coordinates (col, row)."""
    a, b, c, d, e, f = ortho.transform
    x = a * uv[:, 0] + b * uv[:, 1] + c
    y = d * uv[:, 0] + e * uv[:, 1] + f
    lon, lat = _transformer(ortho.crs_wkt, "EPSG:4326").transform(x, y)
    return np.column_stack([lon, lat])


def ortho_overlay(ortho: Ortho) -> tuple[bytes, list[float], bytes]:
    """A decimated, north-up WebP of the ortho for the map, its (S, W, N, E), and a
    thumbnail JPEG."""
    import cv2
    from rasterio.enums import Resampling

    from mapping.overlay import north_up_overlay

    scale = max(ortho.width, ortho.height) / OVERLAY_PX
    out_w, out_h = (max(1, round(ortho.width / max(scale, 1.0))),
                    max(1, round(ortho.height / max(scale, 1.0))))
    with ortho._dataset() as src:
        data = src.read([1, 2, 3], out_shape=(3, out_h, out_w),
                        resampling=Resampling.average)
    image = _bgr8(data)
    corners = pixel_to_lonlat(ortho, np.array([[0, 0], [ortho.width, 0],
                                               [ortho.width, ortho.height], [0, ortho.height]],
                                              dtype=float))
    overlay = north_up_overlay(image, corners, max_px=OVERLAY_PX, webp_quality=75)
    small = cv2.resize(image, (min(480, out_w), max(1, round(out_h * min(480, out_w) / out_w))),
                       interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return overlay.image, list(overlay.bounds), bytes(jpeg) if ok else b""


def footprint_crop(ortho: Ortho, src: object, polygon: object, spec: object
                   ) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """The assessor's crop of one footprint (lon/lat ``polygon``) cut from an open ortho
    (``src``: its rasterio dataset) and the footprint's pixel bounds, or ``None`` when less
    than :data:`mapping.buildings.MIN_VISIBLE` of it lies inside the raster."""
    from detection.crops import crop_window, cut_crop
    from mapping.buildings import MIN_VISIBLE, _outline_lonlat

    uv = lonlat_to_pixel(ortho, _outline_lonlat(polygon))
    outline = Polygon(uv).buffer(0)
    if outline.is_empty or outline.area < 1.0:
        return None
    if outline.intersection(box(0, 0, ortho.width, ortho.height)).area / outline.area \
            < MIN_VISIBLE:
        return None
    bounds = tuple(float(v) for v in outline.bounds)
    x0, y0, side = crop_window(bounds, ortho.gsd_cm, spec)  # type: ignore[arg-type]
    ix0, iy0, n_px = math.floor(x0), math.floor(y0), math.ceil(side) + 2
    window = read_window(src, ix0, iy0, n_px, n_px)
    local = (bounds[0] - ix0, bounds[1] - iy0, bounds[2] - ix0, bounds[3] - iy0)
    return cut_crop(window, local, ortho.gsd_cm, spec), bounds  # type: ignore[arg-type,return-value]


def ortho_views(ortho: Ortho, index: object, assessor: object,
                on_building: Callable[[int, int], None] | None = None,
                pre: Callable[[int], np.ndarray | None] | None = None) -> list:
    """One :class:`~mapping.store.ViewRow` per footprint inside the ortho (``building_id``:
    its index in ``index`` + 1); ``pre`` gives a footprint's pre-disaster crop by index."""
    from mapping.store import ViewRow

    spec = assessor.spec  # type: ignore[attr-defined]
    candidates = index.under(ortho.footprint)  # type: ignore[attr-defined]
    picked, crops, befores = [], [], []
    footprints = index.footprints  # type: ignore[attr-defined]
    with ortho._dataset() as src:
        for n, i in enumerate(candidates):
            cut = footprint_crop(ortho, src, footprints[int(i)].polygon, spec)
            if cut is None:
                continue
            crops.append(cut[0])
            befores.append(pre(int(i)) if pre else None)
            picked.append((int(i), cut[1]))
            if on_building:
                on_building(n + 1, len(candidates))
    probs = assessor.predict(crops, befores)  # type: ignore[attr-defined]
    return [ViewRow(i + 1, tuple(round(float(v), 5) for v in p), 1.0, round(ortho.gsd_cm, 2),
                    0.0, b) for (i, b), p in zip(picked, probs, strict=True)]


def ortho_windows(ortho: Ortho) -> list[tuple[int, int, int, int]]:
    """Detector windows ``(x0, y0, w, h)`` covering the raster with overlap.

    >>> o = Ortho(Path("o.tif"), 5000, 3000, 10.0, Polygon())
    >>> len(ortho_windows(o)), ortho_windows(o)[0]
    (2, (0, 0, 4000, 3000))
    """
    size = max(1, round(WINDOW_M * 100.0 / ortho.gsd_cm))
    step = max(1, size - round(OVERLAP_M * 100.0 / ortho.gsd_cm))
    out = []
    for y in range(0, max(1, ortho.height - size + step), step):
        for x in range(0, max(1, ortho.width - size + step), step):
            out.append((x, y, min(size, ortho.width - x), min(size, ortho.height - y)))
    return out


def ortho_detections(ortho: Ortho, model: object, conf: float, assessor: object | None
                     ) -> list:
    """Detector boxes of the whole ortho as :class:`~mapping.store.DetectionRow` (ground
    polygons through the raster transform), window by window."""
    from detection.assessor import regrade
    from detection.detector import detect_photo
    from mapping.store import DetectionRow

    rows = []
    for x0, y0, w, h in ortho_windows(ortho):
        with ortho._dataset() as src:  # one window in memory at a time
            image = read_window(src, x0, y0, w, h)
        found = detect_photo(image, model, photo_gsd_cm=ortho.gsd_cm, conf=conf)  # type: ignore[arg-type]
        names = model.class_names  # type: ignore[attr-defined]
        keep = list(range(len(found.boxes)))
        grades = [names.get(int(c), str(int(c))) for c in found.classes]
        scores = [float(s) for s in found.scores]
        if assessor is not None:
            keep, grades, scores = regrade(image, found.boxes, ortho.gsd_cm, assessor)  # type: ignore[arg-type]
        for k, grade, score in zip(keep, grades, scores, strict=True):
            bx0, by0, bx1, by1 = (float(v) for v in found.boxes[k])
            corners = np.array([[bx0 + x0, by0 + y0], [bx1 + x0, by0 + y0],
                                [bx1 + x0, by1 + y0], [bx0 + x0, by1 + y0]])
            polygon = Polygon(pixel_to_lonlat(ortho, corners))
            area = (bx1 - bx0) * (by1 - by0) * (ortho.gsd_cm / 100.0) ** 2
            centre = polygon.centroid
            edge = min(bx0, by0, w - bx1, h - by1) / (0.5 * min(w, h))
            rows.append(DetectionRow(
                box_xyxy=(round(bx0 + x0, 2), round(by0 + y0, 2), round(bx1 + x0, 2),
                          round(by1 + y0, 2)),
                damage=DamageClass.from_label(grade), confidence=round(score, 4),
                ground=polygon,
                area_m2=float(area), lon=centre.x, lat=centre.y,
                centrality=float(max(0.0, min(1.0, edge)))))
    return rows
