"""HQ's reviews as training data: ``survey dataset review SURVEY... -o DIR``.

Every reviewed object or footprint of each survey becomes assessor crops, one per view: the
view's box cut from the photo it was seen in, at that photo's own ground resolution, by the
assessor's crop recipe (:func:`detection.crops.cut_crop`: the same window and 45 cm/px
resampling the assessor was trained and is run with), labelled with the reviewer's grade
(``not_building`` → ``background``). They go to the ``train`` split: the base dataset's
``val`` and ``test`` (``--base``, e.g. the xBD crops) stay as they were, so a model fine-tuned
on the mix is chosen and scored on the same buildings as the bundled one.

The dataset card lists the surveys, how many reviews each gave, and the reviewers.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import cv2
import numpy as np

from detection.card import DatasetCard, read_dataset_card, write_dataset_card
from detection.crops import BACKGROUND, CropSpec, cut_crop
from mapping.review_queue import review_items
from mapping.reviews import NOT_BUILDING
from mapping.store import open_store
from survey.core.errors import InputError
from survey.core.files import staged_dir

CARD_NAME = "dataset_card.json"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ReviewCrops:
    """What :func:`write_review_dataset` wrote."""

    crops: dict[str, int]
    """Review crops per class (all in ``train``)."""
    reviews: int
    views_missing: int
    """Views not cut: the photo file is gone or the view has no box."""
    card: DatasetCard


def write_review_dataset(surveys: Sequence[str | PathLike[str]], out_dir: str | PathLike[str],
                         *, base: str | PathLike[str] | None = None,
                         spec: CropSpec | None = None) -> ReviewCrops:
    """Write the crop dataset of the reviews of ``surveys`` (see the module) into ``out_dir``,
    with the crops of the ``base`` crop dataset when given (its recipe is used then).

    Raises
    ------
    InputError
        A folder that is not a survey, a survey with no reviews, a base that is not a crop
        dataset.
    """
    base_card = None
    if base is not None:
        base_dir = Path(base)
        if not (base_dir / CARD_NAME).is_file() or not (base_dir / "train").is_dir():
            raise InputError(base_dir, "not a crop dataset (survey dataset xbd --crops)")
        base_card = read_dataset_card(base_dir / CARD_NAME)
        if base_card.crop:
            spec = CropSpec.from_dict(dict(base_card.crop))
    spec = spec or CropSpec()
    if spec.pre:
        raise InputError(Path(base or out_dir), "review crops are post-disaster only: use a "
                         "base dataset without --pre")
    counts: Counter[str] = Counter()
    per_survey: dict[str, dict[str, object]] = {}
    missing = reviews = 0
    with staged_dir(out_dir) as stage:
        if base is not None:
            for split in SPLITS:
                if (Path(base) / split).is_dir():
                    shutil.copytree(Path(base) / split, stage / split)
        for folder in map(Path, surveys):
            n, lost, who = _survey_crops(folder, stage / "train", spec, counts)
            if not n:
                raise InputError(folder, "no reviews in this survey (survey review apply)")
            reviews += n
            missing += lost
            per_survey[str(folder)] = {"reviews": n, "reviewers": sorted(who)}
        card = _card(surveys, per_survey, counts, base_card, spec, stage)
        write_dataset_card(stage / CARD_NAME, card)
    return ReviewCrops(dict(counts), reviews, missing, card)


def _survey_crops(folder: Path, train: Path, spec: CropSpec,
                  counts: Counter[str]) -> tuple[int, int, set[str]]:
    """Write one survey's review crops; (reviews, views not cut, reviewers)."""
    with open_store(folder) as store:
        items = [i for i in review_items(store, crops=False) if i.review is not None]
        photos = {int(r["id"]): r for r in store.photos()}
    tag = _safe(folder.resolve().name)
    missing = 0
    reviewers = set()
    for item in items:
        assert item.review is not None
        reviewers.add(item.review.reviewer)
        label = BACKGROUND if item.review.grade == NOT_BUILDING else item.review.grade
        for k, view in enumerate(item.views):
            row = photos.get(view.photo_id)
            image = _photo(row)
            if image is None or view.box is None or not row or not row["gsd_cm"]:
                missing += 1
                continue
            scale = image.shape[1] / (row["width"] or image.shape[1])
            box = [v * scale for v in view.box]
            crop = cut_crop(image, box, float(row["gsd_cm"]) / scale, spec)
            out = train / label / f"review_{tag}_{_safe(item.target)}_{k}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(out), crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise InputError(out, "cannot write the crop")
            counts[label] += 1
    return len(items), missing, reviewers


def _photo(row: object) -> np.ndarray | None:
    if row is None:
        return None
    path = Path(str(row["path"]))  # type: ignore[index]
    return cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:80]


def _card(surveys: Sequence[str | PathLike[str]], per_survey: dict[str, dict[str, object]],
          counts: Counter[str], base: DatasetCard | None, spec: CropSpec,
          stage: Path) -> DatasetCard:
    lines = [f"{s} ({v['reviews']} reviews by {', '.join(v['reviewers'])})"  # type: ignore
             for s, v in per_survey.items()]
    source = "HQ reviews of surveys: " + "; ".join(lines)
    crops = {split: {c.name: sum(1 for _ in c.glob("*.jpg")) for c in sorted(
        (stage / split).iterdir()) if c.is_dir()} for split in SPLITS if (stage / split).is_dir()}
    if base is not None:
        source += f"; mixed with: {base.source}"
    return DatasetCard(
        source=source, gsd_cm=spec.gsd_cm,
        license=(f"{base.license} (base data); drone photos: the surveys' owners'" if base
                 else "drone photos: the surveys' owners'"),
        tiles=dict(base.tiles) if base else {},
        split_tiles={**(dict(base.split_tiles) if base else {}),
                     "review_surveys": [str(s) for s in surveys]},
        crops_per_class=crops, crop=spec.to_dict())


# --- detector tiles ----------------------------------------------------------------------------

TILE_PX = 640
"""Side of a detector tile, pixels at the detector's GSD."""
DETECTOR_GSD_CM = 45.0
"""The bundled detector's training GSD (its model card): photos are resampled to it."""


@dataclass(frozen=True)
class ReviewTiles:
    """What :func:`write_review_tiles` wrote."""

    data_yaml: Path
    tiles: int
    boxes: dict[str, int]
    """Reviewed boxes per class."""
    masked: int
    """Boxes of unreviewed things greyed out (neither building nor background to learn)."""


def write_review_tiles(surveys: Sequence[str | PathLike[str]], out_dir: str | PathLike[str],
                       *, base: str | PathLike[str] | None = None,
                       gsd_cm: float = DETECTOR_GSD_CM, tile_px: int = TILE_PX) -> ReviewTiles:
    """YOLO detection tiles of the reviews of ``surveys`` for the detector: one
    ``tile_px``-square tile (at ``gsd_cm``) around each reviewed view, its photo resampled to
    the detector's GSD, labelled with the reviewed grades of every reviewed box in it (a
    ``not_building`` review is background: no box). Boxes of things nobody reviewed are
    greyed out, so the model learns neither that they are buildings nor that they are not.

    ``base`` (a dataset yaml, e.g. ``survey dataset xbd``'s) adds its train sources and gives
    ``val`` and ``test``; without it ``val`` is the review tiles themselves (no honest score).

    Raises
    ------
    InputError
        A folder that is not a survey, a survey with no reviews, an unreadable base.
    """
    from detection.card import dataset_card_path
    from detection.dataset import read_dataset_yaml, write_dataset_yaml
    from detection.model import PAD_VALUE
    from survey.core.damage import DamageClass, class_names

    base_spec = read_dataset_yaml(base, required=("train", "val")) if base is not None else None
    boxes: Counter[str] = Counter()
    tiles = masked = 0
    reviewers: dict[str, set[str]] = {}
    with staged_dir(out_dir) as stage:
        images, labels = stage / "images" / "train", stage / "labels" / "train"
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for folder in map(Path, surveys):
            with open_store(folder) as store:
                items = review_items(store, crops=False)
                photos = {int(r["id"]): r for r in store.photos()}
            reviewed = [i for i in items if i.review is not None]
            if not reviewed:
                raise InputError(folder, "no reviews in this survey (survey review apply)")
            reviewers[str(folder)] = {i.review.reviewer for i in reviewed if i.review}
            tag = _safe(folder.resolve().name)
            by_photo: dict[int, list[tuple[tuple[float, ...], str | None]]] = {}
            for item in items:
                grade = item.review.grade if item.review is not None else None
                for view in item.views:
                    if view.box is not None:
                        by_photo.setdefault(view.photo_id, []).append((view.box, grade))
            for photo_id, views in sorted(by_photo.items()):
                row = photos.get(photo_id)
                image = _photo(row)
                if image is None or not row or not row["gsd_cm"]:
                    continue
                scale = image.shape[1] / (row["width"] or image.shape[1])
                factor = min(1.0, float(row["gsd_cm"]) / scale / gsd_cm)
                small = cv2.resize(image, None, fx=factor, fy=factor,
                                   interpolation=cv2.INTER_AREA) if factor < 1 else image
                k = scale * factor
                placed = [(np.array(b, dtype=float) * k, g) for b, g in views]
                for n, (centre_box, grade) in enumerate(placed):
                    if grade is None:
                        continue
                    cx = (centre_box[0] + centre_box[2]) / 2
                    cy = (centre_box[1] + centre_box[3]) / 2
                    x0, y0 = round(cx - tile_px / 2), round(cy - tile_px / 2)
                    tile = np.full((tile_px, tile_px, 3), PAD_VALUE, np.uint8)
                    h, w = small.shape[:2]
                    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + tile_px, w), \
                        min(y0 + tile_px, h)
                    tile[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = small[sy0:sy1, sx0:sx1]
                    lines = []
                    for box, g in placed:
                        bx0, by0, bx1, by1 = (float(v) for v in box - [x0, y0, x0, y0])
                        if bx1 <= 0 or by1 <= 0 or bx0 >= tile_px or by0 >= tile_px:
                            continue
                        bx0, by0 = max(bx0, 0.0), max(by0, 0.0)
                        bx1, by1 = min(bx1, float(tile_px)), min(by1, float(tile_px))
                        if g is None:  # nobody checked it: neither building nor background
                            tile[int(by0):int(np.ceil(by1)), int(bx0):int(np.ceil(bx1))] = \
                                PAD_VALUE
                            masked += 1
                        elif g != NOT_BUILDING:
                            cls = int(DamageClass.from_label(g))
                            lines.append(f"{cls} {(bx0 + bx1) / 2 / tile_px:.6f} "
                                         f"{(by0 + by1) / 2 / tile_px:.6f} "
                                         f"{(bx1 - bx0) / tile_px:.6f} "
                                         f"{(by1 - by0) / tile_px:.6f}")
                            boxes[g] += 1
                    name = f"review_{tag}_{photo_id}_{n}"
                    if not cv2.imwrite(str(images / f"{name}.jpg"), tile,
                                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
                        raise InputError(images / f"{name}.jpg", "cannot write the tile")
                    (labels / f"{name}.txt").write_text("\n".join(lines) + "\n" if lines
                                                        else "", encoding="utf-8")
                    tiles += 1
        train: list[str] = ["images/train"]
        splits: dict[str, str | list[str]] = {"train": train}
        if base_spec is not None:
            train += [str(s) for s in base_spec.splits["train"]]
            for split in ("val", "test"):
                if split in base_spec.splits:
                    splits[split] = [str(s) for s in base_spec.splits[split]]
        else:
            splits["val"] = "images/train"
        who = "; ".join(f"{s} (reviewers: {', '.join(sorted(r))})" for s, r in reviewers.items())
        comment = f"HQ reviews as detector tiles at {gsd_cm:g} cm/px: {who}"
        if base_spec is not None:
            comment += f"; mixed with {base_spec.yaml_path}"
        write_dataset_yaml(stage / "data.yaml", root=Path(out_dir), splits=splits,
                           names=class_names(), comment=comment)
        card = DatasetCard(source=comment, gsd_cm=gsd_cm,
                           license="drone photos: the surveys' owners'" + (
                               "; base data: see its card" if base_spec else ""),
                           tiles={"train": tiles}, boxes_per_class=dict(boxes),
                           split_tiles={"review_surveys": [str(s) for s in surveys]})
        write_dataset_card(dataset_card_path(stage / "data.yaml"), card)
    return ReviewTiles(Path(out_dir) / "data.yaml", tiles, dict(boxes), masked)
