"""HQ's reviews as training crops (`survey dataset review`), mixed with a base crop dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from detection.card import read_dataset_card
from detection.crops import CropSpec
from detection.train_assessor import write_xbd_crops
from mapping.review_dataset import write_review_dataset
from mapping.reviews import apply_reviews, read_reviews
from mapping.store import open_store
from survey.core.errors import InputError
from tests.detection.test_crops import _tiles
from tests.mapping.test_reviews import _at, _write, analysed, run  # noqa: F401
from tests.mapping.test_reviews import survey as survey  # the fixture


@pytest.fixture
def reviewed(survey: Path, tmp_path: Path) -> Path:
    file = _write(tmp_path / "review.geojson", {**_at(survey, 1), "grade": "destroyed"},
                  {**_at(survey, 2), "grade": "not_building", "reviewer": "Ito"})
    with open_store(survey) as store:
        apply_reviews(store, read_reviews(file))
    return survey


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("base")
    _tiles(root / "a", "fire", 8, "destroyed")
    write_xbd_crops([root / "a"], root / "crops")
    return root / "crops"


def _views(survey: Path, n: int) -> int:
    with open_store(survey) as store:
        return len(store.objects()[n - 1].detections)


def test_reviewed_views_become_train_crops_labelled_by_the_reviewer(reviewed, base, tmp_path):
    out = tmp_path / "mixed"
    written = write_review_dataset([reviewed], out, base=base)
    assert written.reviews == 2 and written.views_missing == 0
    assert written.crops == {"destroyed": _views(reviewed, 1), "background": _views(reviewed, 2)}
    mine = sorted((out / "train" / "destroyed").glob("review_*.jpg"))
    assert len(mine) == _views(reviewed, 1)
    crop = cv2.imread(str(mine[0]))
    assert crop.shape == (CropSpec().size_px, CropSpec().size_px, 3)
    for split in ("val", "test"):  # the base's held-out splits, untouched
        ours = sorted(p.relative_to(out) for p in (out / split).rglob("*.jpg"))
        theirs = sorted(p.relative_to(base) for p in (base / split).rglob("*.jpg"))
        assert ours == theirs and not any("review_" in p.name for p in ours)
    card = read_dataset_card(out / "dataset_card.json")
    assert "Sato Hanako" in card.source and "Ito" in card.source and str(reviewed) in card.source
    assert card.crops_per_class["train"]["background"] >= _views(reviewed, 2)
    assert "CC BY-NC-SA" in (card.license or "")


def test_a_survey_without_reviews_is_refused(survey, tmp_path):
    with pytest.raises(InputError, match="no reviews"):
        write_review_dataset([survey], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_dataset_review(reviewed, base, tmp_path):
    code, out, err = run("dataset", "review", reviewed, "--base", base, "-o", tmp_path / "d")
    assert code == 0, err
    assert "2 reviews" in " ".join(out.split())
    assert json.loads((tmp_path / "d" / "dataset_card.json").read_text())["crop"]


def test_detector_tiles_label_reviewed_boxes_and_grey_out_the_rest(reviewed, tmp_path):
    from detection.dataset import label_path_for, read_dataset_yaml
    from mapping.review_dataset import TILE_PX, write_review_tiles

    tiles = write_review_tiles([reviewed], tmp_path / "tiles")
    spec = read_dataset_yaml(tiles.data_yaml)
    images = spec.images("train")
    # one tile per reviewed view (object 1: destroyed, object 2: not a building)
    assert tiles.tiles == len(images) == _views(reviewed, 1) + _views(reviewed, 2)
    assert tiles.boxes == {"destroyed": tiles.boxes["destroyed"]}  # no box for not_building
    assert tiles.boxes["destroyed"] >= _views(reviewed, 1)
    assert tiles.masked > 0  # the survey's unreviewed objects
    classes = set()
    for image in images:
        assert cv2.imread(str(image)).shape == (TILE_PX, TILE_PX, 3)
        for line in label_path_for(image).read_text().split("\n"):
            if line:
                cls, *xywh = line.split()
                classes.add(int(cls))
                assert all(0.0 <= float(v) <= 1.0 for v in xywh)
    assert classes == {3}  # destroyed: the reviewer's grade, whatever the model said
    assert spec.names[3] == "destroyed"
    code, out, err = run("dataset", "review", reviewed, "--detector", "-o", tmp_path / "cli")
    assert code == 0, err
    assert "unreviewed boxes greyed out" in " ".join(out.split())
