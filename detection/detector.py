"""Tiled detection on a full photo: resample to the model's GSD, tile, predict, merge, map back.

Ties the three tiling parts together (:mod:`detection.tiling` windows, a
:class:`detection.model.TileModel` per tile, :func:`detection.merge.merge_tiles`) with the
scale step of :mod:`detection.gsd`. Boxes come back in the original photo's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detection.gsd import boxes_to_original, resample, resample_factor
from detection.merge import Detections, merge_tiles
from detection.model import TileModel
from detection.tiling import tile_windows


@dataclass(frozen=True, eq=False, slots=True)
class PhotoDetections:
    """Detections of one photo and how they were found.

    Attributes
    ----------
    detections
        Boxes in the original photo's pixels, best score first.
    scale
        Factor the photo was resampled by before tiling (1.0 when not resampled).
    gsd_cm
        GSD the model saw, cm/px (the model's when the photo's was known), or ``None``.
    tiles
        Number of tiles predicted.
    """

    detections: Detections
    scale: float
    gsd_cm: float | None
    tiles: int


def detect_photo_full(
    image: np.ndarray,
    model: TileModel,
    *,
    photo_gsd_cm: float | None = None,
    tile_px: int | None = None,
    overlap: float = 0.2,
    conf: float = 0.25,
) -> PhotoDetections:
    """:func:`detect_photo`, also telling the scale, GSD and tile count used."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (h, w, 3), got {image.shape}")
    tile = model.imgsz if tile_px is None else tile_px
    if not 1 <= tile <= model.imgsz:
        raise ValueError(f"tile_px must be in 1..{model.imgsz} (the model's image size; larger "
                         f"tiles would be shrunk, changing the scale), got {tile}")
    height, width = image.shape[:2]
    work, scale_x, scale_y, gsd = image, 1.0, 1.0, photo_gsd_cm
    if photo_gsd_cm is not None and model.gsd_cm is not None:
        resampled = resample(image, resample_factor(photo_gsd_cm, model.gsd_cm))
        work, scale_x, scale_y = resampled.image, resampled.scale_x, resampled.scale_y
        gsd = model.gsd_cm
    windows = tile_windows(work.shape[1], work.shape[0], tile_px=tile, overlap=overlap)
    crops = [work[w.y0:w.y1, w.x0:w.x1] for w in windows]
    per_tile = model.predict(crops, conf=conf)
    if len(per_tile) != len(windows):
        raise RuntimeError(f"model returned {len(per_tile)} results for {len(windows)} tiles")
    merged = merge_tiles(list(zip(windows, per_tile, strict=True)))
    boxes = boxes_to_original(merged.boxes, scale_x=scale_x, scale_y=scale_y)
    found = Detections(boxes, merged.scores, merged.classes).clip(width, height)
    return PhotoDetections(found, scale_x, gsd, len(windows))


def detect_photo(
    image: np.ndarray,
    model: TileModel,
    *,
    photo_gsd_cm: float | None = None,
    tile_px: int | None = None,
    overlap: float = 0.2,
    conf: float = 0.25,
) -> Detections:
    """Damage detections in a full photo, in its original pixels.

    1. When the photo's GSD and the model's are both known, the photo is resampled to the
       model's GSD (:func:`detection.gsd.resample`).
    2. It is cut into ``tile_px`` tiles overlapping by ``overlap``
       (:func:`detection.tiling.tile_windows`).
    3. The model predicts each tile (in batches, as the model is configured).
    4. Tile boxes are shifted to the image and merged (:func:`detection.merge.merge_tiles`),
       then mapped back to the original pixels (:func:`detection.gsd.boxes_to_original`).

    Parameters
    ----------
    image
        ``(h, w, 3)`` BGR uint8 photo (as :func:`detection.images.load_image` gives).
    model
        The detector (:func:`detection.model.load_model`, or anything with its interface).
    photo_gsd_cm
        The photo's ground sample distance, cm/px, when known.
    tile_px
        Tile side on the resampled photo (default and maximum: the model's image size).
    overlap
        Share of a tile neighbouring tiles overlap, ``[0, 1)``.
    conf
        Minimum confidence.

    Raises
    ------
    ValueError
        For a bad image shape, tile size, overlap, GSD or confidence.
    """
    return detect_photo_full(image, model, photo_gsd_cm=photo_gsd_cm, tile_px=tile_px,
                             overlap=overlap, conf=conf).detections
