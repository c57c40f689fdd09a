"""xBD (xView2) post-disaster labels → a YOLO detection dataset.

xBD labels (``labels/<tile>_post_disaster.json``, read by
:func:`survey.core.xbd_labels.read_xbd_labels`) hold each building as a pixel-space WKT
polygon (``features.xy[i].wkt``) with its damage level in ``properties.subtype``, and the
tile's real ground sample distance measured from the same polygons in WGS84 (see
:func:`_gsd`: ``metadata.gsd`` is the multispectral one, ~4× coarser). Here each building becomes an
axis-aligned box of class :class:`survey.core.damage.DamageClass`; ``un-classified`` buildings
are dropped. Tiles are split into train/val/test as whole tiles (no tile in two splits).

xBD is CC BY-NC-SA 4.0: a dataset written here, and a model trained on it, inherit that.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from os import PathLike
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from shapely.geometry import Polygon

from detection.dataset import write_dataset_yaml
from detection.images import load_image
from survey.core.damage import DamageClass, class_names
from survey.core.errors import InputError
from survey.core.xbd_labels import XbdBuildingLabel, XbdLabels, read_xbd_labels

POST_SUFFIX = "_post_disaster"
SPLITS: tuple[str, ...] = ("train", "val", "test")
XBD_LICENSE = "CC BY-NC-SA 4.0"


class DatasetImageFormat(Enum):
    """How tile images are written into a YOLO dataset."""

    JPEG = "jpg"  # re-encoded at quality 92: ~24 MB for the 53 shared tiles
    PNG = "png"  # byte-for-byte copies of the xBD PNGs


@dataclass(frozen=True, slots=True)
class XbdBuilding:
    """One labelled building: its bounding box (xyxy pixels), damage class and xBD ``uid``."""

    box_px: tuple[float, float, float, float]
    damage: DamageClass
    uid: str


@dataclass(frozen=True, slots=True)
class XbdTile:
    """One post-disaster label file, read.

    Attributes
    ----------
    tile_id
        The image name without ``_post_disaster.png``, e.g. ``santa-rosa-wildfire_00000012``;
        pre- and post-disaster images of a place share it.
    disaster
        ``metadata.disaster``, e.g. ``santa-rosa-wildfire``.
    image_name
        ``metadata.img_name``: the file name under ``images/``.
    width_px, height_px
        Image size from the metadata.
    gsd_m
        Ground sample distance, metres per pixel.
    buildings
        The classified buildings.
    unclassified
        How many ``un-classified`` buildings were dropped.
    """

    tile_id: str
    disaster: str
    image_name: str
    width_px: int
    height_px: int
    gsd_m: float
    buildings: tuple[XbdBuilding, ...]
    unclassified: int


@dataclass(frozen=True, slots=True)
class TileSplit:
    """Tile ids of each split, each sorted; no id is in two splits."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def of(self, split: str) -> tuple[str, ...]:
        """The ids of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
        ids: tuple[str, ...] = getattr(self, split)
        return ids


@dataclass(frozen=True, slots=True)
class YoloDataset:
    """What :func:`write_yolo_dataset` wrote.

    Attributes
    ----------
    yaml_path
        The dataset yaml to hand to the trainer.
    split
        Which tiles went where.
    boxes_per_class
        Boxes written, over all splits, per class.
    unclassified
        ``un-classified`` buildings left out.
    """

    yaml_path: Path
    split: TileSplit
    boxes_per_class: Mapping[DamageClass, int]
    unclassified: int


def _metadata(labels: XbdLabels) -> Mapping[str, Any]:
    if labels.metadata is None:
        raise InputError(labels.source, "not an xBD label file (no metadata object)")
    return labels.metadata


def _gsd(labels: XbdLabels, meta: Mapping[str, Any]) -> float:
    """The tile's GSD, metres per pixel: measured from its buildings when it has some.

    xBD's ``metadata.gsd`` is the multispectral bands' resolution (1.3–2.1 m), not that of
    the pan-sharpened tiles, which are ~0.3–0.5 m/px. Every building is given twice, in pixel
    WKT (``features.xy``) and in WGS84 (``features.lng_lat``): the ratio of their areas (geodesic m²
    over px²) measures the tile's real GSD. Without buildings (or without their WGS84 twins),
    ``metadata.pan_resolution`` is used, then ``metadata.gsd``.
    """
    measured = _measured_gsd(labels.buildings)
    if measured is not None:
        return measured
    for key in ("pan_resolution", "gsd"):
        gsd = meta.get(key)
        if (isinstance(gsd, int | float) and not isinstance(gsd, bool) and math.isfinite(gsd)
                and gsd > 0):
            return float(gsd)
    raise InputError(labels.source,
                     f"metadata.gsd must be a positive number, got {meta.get('gsd')!r}")


def _measured_gsd(buildings: Sequence[XbdBuildingLabel]) -> float | None:
    from pyproj import Geod

    lonlat = [b.polygon_lonlat for b in buildings if b.polygon_lonlat is not None]
    if not buildings or len(lonlat) != len(buildings):
        return None
    px_area = sum(b.polygon_px.area for b in buildings)
    if px_area <= 0:
        return None
    geod = Geod(ellps="WGS84")
    m2 = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in lonlat)
    return math.sqrt(m2 / px_area) if m2 > 0 else None


def tile_gsd_m(label_path: str | PathLike[str]) -> float:
    """A tile's ground sample distance, metres per pixel (measured, see :func:`_gsd`).

    Raises
    ------
    InputError
        The file is missing, not an xBD label file, or has neither buildings to measure nor a
        positive ``metadata.gsd``.
    """
    labels = read_xbd_labels(label_path)
    return _gsd(labels, _metadata(labels))


def tile_id_of(image_name: str) -> str:
    """The tile id of an xBD image or label name.

    Examples
    --------
    >>> tile_id_of("santa-rosa-wildfire_00000012_post_disaster.png")
    'santa-rosa-wildfire_00000012'
    """
    stem = Path(image_name).stem
    for suffix in (POST_SUFFIX, "_pre_disaster"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def read_label(label_path: str | PathLike[str]) -> XbdTile:
    """Read one xBD label file (``*_post_disaster.json``, see :mod:`survey.core.xbd_labels`).

    Raises
    ------
    InputError
        Missing file, bad JSON, missing metadata, unknown damage subtype, bad WKT.
    """
    path = Path(label_path)
    labels = read_xbd_labels(path)
    meta = _metadata(labels)
    image_name = meta.get("img_name") or path.with_suffix(".png").name
    try:
        width_px, height_px = int(meta["width"]), int(meta["height"])
    except (KeyError, TypeError, ValueError):
        raise InputError(path, "metadata.width/height missing or not integers") from None
    buildings = tuple(
        XbdBuilding(_box(b.polygon_px), b.damage, b.uid)
        for b in labels.buildings if b.damage is not None)
    return XbdTile(
        tile_id=tile_id_of(image_name),
        disaster=str(meta.get("disaster", tile_id_of(image_name).rsplit("_", 1)[0])),
        image_name=str(image_name),
        width_px=width_px,
        height_px=height_px,
        gsd_m=_gsd(labels, meta),
        buildings=buildings,
        unclassified=labels.unclassified,
    )


def _box(polygon: Polygon) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in polygon.bounds)
    return x0, y0, x1, y1


def find_post_labels(xbd_root: str | PathLike[str]) -> list[Path]:
    """The ``labels/*_post_disaster.json`` files under an xBD folder, sorted by name.

    Raises
    ------
    InputError
        The folder or its ``labels/`` is missing, or holds no post-disaster label.
    """
    labels = Path(xbd_root) / "labels"
    if not labels.is_dir():
        raise InputError(labels, "no such folder (expected an xBD folder with labels/)")
    found = sorted(labels.glob(f"*{POST_SUFFIX}.json"))
    if not found:
        raise InputError(labels, f"no *{POST_SUFFIX}.json label files")
    return found


def split_tiles(
    tiles: Sequence[XbdTile],
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> TileSplit:
    """Split tiles into train/val/test, whole tiles only, stratified by disaster.

    Each disaster's tiles are shuffled with ``seed`` and cut by ``fractions`` (val and test
    rounded, train takes the rest), so every split sees every disaster that has enough tiles.
    The same tiles and seed give the same split whatever their input order.

    Raises
    ------
    ValueError
        When the fractions are negative or do not sum to 1, or a tile id repeats.

    Examples
    --------
    >>> t = [XbdTile(f"fire_{i:08d}", "fire", "", 1024, 1024, 1.5, (), 0) for i in range(10)]
    >>> s = split_tiles(t, seed=1)
    >>> len(s.train), len(s.val), len(s.test)
    (6, 2, 2)
    """
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    ids = [t.tile_id for t in tiles]
    if len(set(ids)) != len(ids):
        raise ValueError("a tile id appears twice")
    by_disaster: dict[str, list[str]] = {}
    for tile in tiles:
        by_disaster.setdefault(tile.disaster, []).append(tile.tile_id)
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for disaster in sorted(by_disaster):
        group = sorted(by_disaster[disaster])
        order = [group[i] for i in rng.permutation(len(group))]
        n_val = min(len(group), round(len(group) * fractions[1]))
        n_test = min(len(group) - n_val, round(len(group) * fractions[2]))
        n_train = len(group) - n_val - n_test
        out["train"] += order[:n_train]
        out["val"] += order[n_train : n_train + n_val]
        out["test"] += order[n_train + n_val :]
    return TileSplit(*(tuple(sorted(out[name])) for name in SPLITS))


def yolo_label_lines(tile: XbdTile) -> list[str]:
    """YOLO label lines (``class cx cy w h``, normalised to the image) of a tile.

    Boxes are clipped to the image; a box left under one pixel wide or high is dropped.

    Examples
    --------
    >>> b = XbdBuilding((100.0, 200.0, 300.0, 260.0), DamageClass.DESTROYED, "u")
    >>> yolo_label_lines(XbdTile("t", "d", "t.png", 1000, 1000, 1.5, (b,), 0))
    ['3 0.200000 0.230000 0.200000 0.060000']
    """
    lines = []
    for b in tile.buildings:
        x0, y0, x1, y1 = b.box_px
        x0, x1 = max(0.0, x0), min(float(tile.width_px), x1)
        y0, y1 = max(0.0, y0), min(float(tile.height_px), y1)
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            continue
        cx, cy = (x0 + x1) / 2 / tile.width_px, (y0 + y1) / 2 / tile.height_px
        w, h = (x1 - x0) / tile.width_px, (y1 - y0) / tile.height_px
        lines.append(f"{int(b.damage)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def _write_image(source: Path, tile: XbdTile, target: Path, fmt: DatasetImageFormat) -> None:
    image = load_image(source)
    if image.shape[:2] != (tile.height_px, tile.width_px):
        raise InputError(
            source,
            f"image is {image.shape[1]}×{image.shape[0]} px, "
            f"its label says {tile.width_px}×{tile.height_px}",
        )
    if fmt is DatasetImageFormat.PNG and source.suffix.lower() == ".png":
        shutil.copyfile(source, target)
        return
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if fmt is DatasetImageFormat.JPEG else []
    if not cv2.imwrite(str(target), image, params):
        raise InputError(target, "cannot be written")


def write_yolo_dataset(
    xbd_root: str | PathLike[str],
    out_dir: str | PathLike[str],
    *,
    image_format: DatasetImageFormat = DatasetImageFormat.JPEG,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    tile_ids: Collection[str] | None = None,
) -> YoloDataset:
    """Convert an xBD folder (``images/``, ``labels/``) into a YOLO detection dataset.

    Writes ``out_dir/images/{train,val,test}/<tile image>``, ``out_dir/labels/{split}/<same
    stem>.txt`` (one line per building, see :func:`yolo_label_lines`; empty for a tile without
    buildings) and ``out_dir/data.yaml`` (absolute ``path``, the three splits, ``names`` from
    :class:`DamageClass`).

    Parameters
    ----------
    xbd_root
        Folder with ``labels/*_post_disaster.json`` and ``images/*_post_disaster.png``.
    out_dir
        Where to write; created if needed. Existing files of the same names are replaced.
    image_format
        JPEG at quality 92 (small) or PNG copies (lossless).
    fractions, seed
        Train/val/test split, see :func:`split_tiles`.
    tile_ids
        Only these tiles (default: all).

    Raises
    ------
    InputError
        Missing folder, label or image; bad label; an image whose size differs from its label.
    """
    root = Path(xbd_root)
    out = Path(out_dir)
    labels = find_post_labels(root)
    tiles = [read_label(p) for p in labels]
    if tile_ids is not None:
        missing = set(tile_ids) - {t.tile_id for t in tiles}
        if missing:
            raise InputError(root / "labels", f"no label for tile(s): {', '.join(sorted(missing))}")
        tiles = [t for t in tiles if t.tile_id in tile_ids]
    split = split_tiles(tiles, fractions=fractions, seed=seed)
    by_id = {t.tile_id: t for t in tiles}
    counts = dict.fromkeys(DamageClass, 0)
    for name in SPLITS:
        (out / "images" / name).mkdir(parents=True, exist_ok=True)
        (out / "labels" / name).mkdir(parents=True, exist_ok=True)
        for tile_id in split.of(name):
            tile = by_id[tile_id]
            source = root / "images" / tile.image_name
            stem = Path(tile.image_name).stem
            target = out / "images" / name / f"{stem}.{image_format.value}"
            _write_image(source, tile, target, image_format)
            lines = yolo_label_lines(tile)
            (out / "labels" / name / f"{stem}.txt").write_text("".join(f"{x}\n" for x in lines))
            for line in lines:
                counts[DamageClass(int(line.split()[0]))] += 1
    yaml_path = write_dataset_yaml(
        out / "data.yaml", root=out, splits={name: f"images/{name}" for name in SPLITS},
        names=class_names(),
        comment=f"YOLO detection dataset from xBD post-disaster labels ({XBD_LICENSE})")
    return YoloDataset(
        yaml_path=yaml_path,
        split=split,
        boxes_per_class=counts,
        unclassified=sum(t.unclassified for t in tiles),
    )
