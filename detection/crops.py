"""Building crops: what the per-building damage assessor sees, cut the same way everywhere.

A crop is a square window around a building's outline (its pixel bounds grown by
:attr:`CropSpec.context` on each side, at least :attr:`CropSpec.min_side_m` across), read at
the image's own resolution, brought to the assessor's ground sample distance (area
averaging, so a 2 cm/px drone photo looks like the 45 cm/px imagery the assessor learnt
from), then resized to :attr:`CropSpec.size_px`. xBD tiles, drone photos and orthomosaics all
go through :func:`cut_crop`, so training and use see the same thing.

:func:`write_crop_dataset` turns xBD folders into an ultralytics classification dataset
(``train|val|test/<class>/*.jpg``) with one crop per labelled building and ``background``
crops of places where no building is (roads, lawns, water, trees), so that the assessor can
say "not a building". Tiles are split whole, stratified by disaster; the dataset card lists
the tiles of every split.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from detection.model import PAD_VALUE
from survey.core.damage import DamageClass
from survey.core.errors import InputError

BACKGROUND = "background"
"""The assessor's class for a crop that shows no building."""


@dataclass(frozen=True, slots=True)
class CropSpec:
    """How a building crop is cut.

    Attributes
    ----------
    size_px
        Side of the square crop handed to the assessor, pixels.
    context
        Fraction of the building's larger side added on each side (surroundings: debris,
        water, scorch marks).
    min_side_m
        The crop is at least this wide on the ground, metres.
    gsd_cm
        The assessor's ground sample distance, cm/px: crops of finer imagery are averaged
        down to it first.
    pre
        The assessor also sees the same window in pre-disaster imagery: each dataset crop
        is a pair (post on the left, pre on the right, grey when no pre image exists) and
        the network takes six channels (see :func:`pair_crop`).
    """

    size_px: int = 64
    context: float = 0.25
    min_side_m: float = 12.0
    gsd_cm: float = 45.0
    pre: bool = False

    def to_dict(self) -> dict[str, float]:
        out = {"size_px": self.size_px, "context": self.context,
               "min_side_m": self.min_side_m, "gsd_cm": self.gsd_cm}
        if self.pre:  # post-only recipes keep the card they always had
            out["pre"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict) -> CropSpec:
        return cls(size_px=int(data["size_px"]), context=float(data["context"]),
                   min_side_m=float(data["min_side_m"]), gsd_cm=float(data["gsd_cm"]),
                   pre=bool(data.get("pre", False)))


def crop_window(bounds_px: Sequence[float], image_gsd_cm: float,
                spec: CropSpec) -> tuple[float, float, float]:
    """The square window ``(x0, y0, side)`` (pixels) a building's bounds are cut with.

    Examples
    --------
    >>> crop_window((100, 100, 140, 120), 45.0, CropSpec())  # 40 px wide, grown by a quarter
    (90.0, 80.0, 60.0)
    >>> crop_window((0, 0, 10, 10), 45.0, CropSpec())[2]  # small: at least 12 m across
    26.666666666666668
    """
    x0, y0, x1, y1 = (float(v) for v in bounds_px)
    side = max(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * spec.context),
               spec.min_side_m * 100.0 / image_gsd_cm)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return cx - side / 2.0, cy - side / 2.0, side


def cut_crop(image: np.ndarray, bounds_px: Sequence[float], image_gsd_cm: float,
             spec: CropSpec) -> np.ndarray:
    """The assessor's ``(size_px, size_px, 3)`` crop of a building in ``image``.

    ``bounds_px`` is the building's ``(x0, y0, x1, y1)`` in image pixels. Parts of the
    window outside the image are grey.

    Raises
    ------
    ValueError
        Bounds that are not finite, or a non-positive GSD.
    """
    if not (image_gsd_cm > 0 and math.isfinite(image_gsd_cm)):
        raise ValueError(f"image GSD must be positive, got {image_gsd_cm}")
    if not all(math.isfinite(float(v)) for v in bounds_px):
        raise ValueError(f"bounds must be finite, got {tuple(bounds_px)}")
    x0, y0, side = crop_window(bounds_px, image_gsd_cm, spec)
    ix0, iy0 = math.floor(x0), math.floor(y0)
    n = max(1, math.ceil(x0 + side) - ix0)
    height, width = image.shape[:2]
    window: np.ndarray = np.full((n, n, 3), PAD_VALUE, dtype=np.uint8)
    sx0, sy0 = max(ix0, 0), max(iy0, 0)
    sx1, sy1 = min(ix0 + n, width), min(iy0 + n, height)
    if sx1 > sx0 and sy1 > sy0:
        window[sy0 - iy0:sy1 - iy0, sx0 - ix0:sx1 - ix0] = image[sy0:sy1, sx0:sx1, :3]
    # to the assessor's GSD first (averaging), then to its input size
    at_gsd = max(1, round(n * image_gsd_cm / spec.gsd_cm))
    if at_gsd < n:
        window = cv2.resize(window, (at_gsd, at_gsd), interpolation=cv2.INTER_AREA)
    m = window.shape[0]
    interp = cv2.INTER_AREA if m > spec.size_px else cv2.INTER_LINEAR
    return cv2.resize(window, (spec.size_px, spec.size_px), interpolation=interp)


def no_pre(spec: CropSpec) -> np.ndarray:
    """The pre-disaster half of a pair when there is no pre image: uniform grey."""
    return np.full((spec.size_px, spec.size_px, 3), PAD_VALUE, dtype=np.uint8)


def pair_crop(post: np.ndarray, pre: np.ndarray | None, spec: CropSpec) -> np.ndarray:
    """A dataset pair: the post crop on the left, the pre crop (or :func:`no_pre`) on the
    right, ``(size_px, 2·size_px, 3)``."""
    return np.concatenate([post, no_pre(spec) if pre is None else pre], axis=1)


def split_pair(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(post, pre)`` halves of a pair image (:func:`pair_crop`).

    Raises
    ------
    ValueError
        An image that is not twice as wide as it is tall.
    """
    height, width = image.shape[:2]
    if width != 2 * height:
        raise ValueError(f"a pair crop is twice as wide as tall, got {width}×{height}")
    return image[:, :height], image[:, height:]


# --- the xBD crop dataset -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CropDataset:
    """What :func:`write_crop_dataset` wrote."""

    root: Path
    split_tiles: dict[str, tuple[str, ...]]
    counts: dict[str, dict[str, int]]
    """Split → class → crops."""
    gsd_cm: float


def tile_image(root: Path, folder: str, stem: str) -> Path:
    """The image of a tile under ``root/folder`` whatever its format (xBD ships PNG; copies
    are often JPEG)."""
    for suffix in (".png", ".jpg", ".jpeg", ".tif"):
        path = root / folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    raise InputError(root / folder, f"no image for {stem} (png, jpg or tif)")


def _background_boxes(boxes: np.ndarray, width: int, height: int, count: int,
                      rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """Up to ``count`` boxes of building size that overlap no (grown) building box."""
    if len(boxes):
        sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    else:
        sizes = np.array([20.0, 30.0, 40.0])
    grown = boxes.copy()
    if len(grown):
        pad = 0.5 * sizes[:, None]
        grown[:, :2] -= pad
        grown[:, 2:] += pad
    out: list[tuple[float, float, float, float]] = []
    for _ in range(count * 20):
        if len(out) >= count:
            break
        side = float(rng.choice(sizes))
        x0 = float(rng.uniform(0, max(1.0, width - side)))
        y0 = float(rng.uniform(0, max(1.0, height - side)))
        x1, y1 = x0 + side, y0 + side
        if len(grown) and np.any((grown[:, 0] < x1) & (grown[:, 2] > x0) &
                                 (grown[:, 1] < y1) & (grown[:, 3] > y0)):
            continue
        out.append((x0, y0, x1, y1))
    return out


def pre_tile_image(root: Path, tile_id: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A tile's pre-disaster image, or ``None`` when it has none.

    Raises
    ------
    InputError
        A pre image that cannot be read or is not the post image's size.
    """
    try:
        path = tile_image(root, "pre_images", f"{tile_id}_pre_disaster")
    except InputError:
        return None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.shape != shape:
        raise InputError(path, "unreadable, or not the size of the post-disaster image")
    return image


def write_crop_dataset(xbd_roots: Sequence[str | PathLike[str]], out_dir: str | PathLike[str],
                       *, spec: CropSpec | None = None, seed: int = 0,
                       background_fraction: float = 0.15,
                       fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                       progress: Callable[[int, int], None] | None = None) -> CropDataset:
    """Cut every labelled building of one or more xBD folders into a classification dataset.

    Writes ``out_dir/{train,val,test}/{class}/{tile}_{n}.jpg`` (classes: the damage labels
    and :data:`BACKGROUND`) and returns the split and the counts; the caller writes the card.
    The split is by tile, stratified by disaster, over the tiles of all folders together.
    Crops are cut at each tile's own measured GSD (see :func:`detection.xbd.read_label`).
    With ``spec.pre`` every crop is a pair (:func:`pair_crop`) with the same window of the
    tile's pre-disaster image (``pre_images/``, the same pixel grid in xBD), grey where a
    tile has none.

    Raises
    ------
    InputError
        A folder without labels, a tile without its image, a tile id in two folders.
    """
    from detection.xbd import XbdTile, find_post_labels, read_label, split_tiles

    spec = spec or CropSpec()
    out = Path(out_dir)
    tiles: list[XbdTile] = []
    where: dict[str, Path] = {}
    for root in map(Path, xbd_roots):
        for label_file in find_post_labels(root):
            tile = read_label(label_file)
            if tile.tile_id in where:
                raise InputError(label_file,
                                 f"tile {tile.tile_id} is also in {where[tile.tile_id]}")
            where[tile.tile_id] = root
            tiles.append(tile)
    split = split_tiles(tiles, fractions=fractions, seed=seed)
    split_of = {tid: name for name in ("train", "val", "test") for tid in split.of(name)}
    names = [c.label for c in DamageClass] + [BACKGROUND]
    counts = {s: dict.fromkeys(names, 0) for s in ("train", "val", "test")}
    for s in counts:
        for name in names:
            (out / s / name).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    gsds = []
    for i, tile in enumerate(tiles):
        root = where[tile.tile_id]
        image = cv2.imread(str(tile_image(root, "images", Path(tile.image_name).stem)),
                           cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(root / "images", f"unreadable image of {tile.tile_id}")
        pre_image = pre_tile_image(root, tile.tile_id, image.shape) if spec.pre else None
        s = split_of[tile.tile_id]
        gsd_cm = tile.gsd_m * 100.0
        gsds.append(gsd_cm)
        boxes = np.array([b.box_px for b in tile.buildings], dtype=float).reshape(-1, 4)
        items = [(b.box_px, b.damage.label) for b in tile.buildings]
        n_bg = max(2, round(background_fraction * len(items)))
        items += [(box, BACKGROUND) for box in _background_boxes(
            boxes, tile.width_px, tile.height_px, n_bg, rng)]
        for n, (box, label) in enumerate(items):
            crop = cut_crop(image, box, gsd_cm, spec)
            if spec.pre:
                crop = pair_crop(crop, None if pre_image is None else
                                 cut_crop(pre_image, box, gsd_cm, spec), spec)
            target = out / s / label / f"{tile.tile_id}_{n:04d}.jpg"
            if not cv2.imwrite(str(target), crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise InputError(target, "cannot be written")
            counts[s][label] += 1
        if progress:
            progress(i + 1, len(tiles))
    return CropDataset(root=out, split_tiles={s: split.of(s) for s in counts}, counts=counts,
                       gsd_cm=float(np.median(gsds)) if gsds else spec.gsd_cm)
