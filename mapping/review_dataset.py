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
