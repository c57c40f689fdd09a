"""Building crops: one recipe for xBD tiles, drone photos and orthos; the crop dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.assessor import GRADES, score_predictions
from detection.card import read_dataset_card
from detection.crops import BACKGROUND, CropSpec, crop_window, cut_crop
from detection.train_assessor import is_crop_dataset, write_xbd_crops
from tests.detection.test_xbd import _feature, _make_tile

XBD = Path(__file__).resolve().parents[3] / "shared" / "data"


def _house(gsd_cm: float, size_m: float = 12.0, canvas_m: float = 60.0
           ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A red 12 m house with a white cross on its roof, on grey ground, at a GSD."""
    n = round(canvas_m * 100 / gsd_cm)
    image = np.full((n, n, 3), 90, np.uint8)
    c, h = n / 2, size_m * 100 / gsd_cm / 2
    x0, x1 = round(c - h), round(c + h)
    image[x0:x1, x0:x1] = (0, 0, 200)
    t = max(1, round(1.5 * 100 / gsd_cm))
    image[round(c) - t:round(c) + t, x0:x1] = 255
    image[x0:x1, round(c) - t:round(c) + t] = 255
    return image, (float(x0), float(x0), float(x1), float(x1))


def test_the_same_house_at_2_cm_and_at_45_cm_gives_the_same_crop() -> None:
    spec = CropSpec()
    fine, fine_box = _house(2.0)
    coarse, coarse_box = _house(45.0)
    a = cut_crop(fine, fine_box, 2.0, spec).astype(float)
    b = cut_crop(coarse, coarse_box, 45.0, spec).astype(float)
    assert a.shape == b.shape == (64, 64, 3)
    assert np.abs(a - b).mean() < 12  # same picture, within resampling blur
    # a drone crop not brought to the assessor's GSD would be much sharper than xBD's
    sharp = cv2.resize(fine[fine.shape[0] // 2 - 375:, :][:750, 1125:1875], (64, 64),
                       interpolation=cv2.INTER_NEAREST).astype(float)
    assert np.abs(cv2.Laplacian(a, cv2.CV_64F)).mean() < np.abs(
        cv2.Laplacian(sharp, cv2.CV_64F)).mean()


def test_window_grows_by_context_and_has_a_ground_minimum() -> None:
    spec = CropSpec(context=0.25, min_side_m=12.0)
    assert crop_window((0, 0, 100, 40), 45.0, spec) == (-25.0, -55.0, 150.0)
    x0, y0, side = crop_window((0, 0, 4, 4), 2.0, spec)  # an 8 cm object: 12 m at 2 cm/px
    assert side == pytest.approx(600.0) and (x0 + side / 2, y0 + side / 2) == (2.0, 2.0)


def test_crop_at_the_image_edge_is_padded_grey() -> None:
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = cut_crop(image, (0, 0, 20, 20), 45.0, CropSpec())
    assert crop.shape == (64, 64, 3)
    assert int(crop[0, 0, 0]) == 114 and int(crop[-1, -1, 0]) == 200


@pytest.mark.parametrize("bounds", [(np.nan, 0, 1, 1), (0, 0, np.inf, 3)])
def test_bad_bounds_raise(bounds: tuple) -> None:
    with pytest.raises(ValueError, match="finite"):
        cut_crop(np.zeros((10, 10, 3), np.uint8), bounds, 45.0, CropSpec())


def _tiles(root: Path, disaster: str, n: int, subtype: str, offset: int = 0) -> None:
    for i in range(n):
        _make_tile(root, f"{disaster}_{offset + i:08d}", [
            _feature("POLYGON ((8 8, 24 8, 24 20, 8 20, 8 8))", subtype),
            _feature("POLYGON ((40 30, 50 30, 50 40, 40 40, 40 30))", "no-damage")],
            size=(128, 96))


def test_crop_dataset_splits_tiles_over_several_folders(tmp_path: Path) -> None:
    _tiles(tmp_path / "a", "fire", 10, "destroyed")
    _tiles(tmp_path / "b", "wind", 10, "major-damage")
    card = write_xbd_crops([tmp_path / "a", tmp_path / "b"], tmp_path / "crops")
    assert is_crop_dataset(tmp_path / "crops")
    again = read_dataset_card(tmp_path / "crops" / "dataset_card.json")
    assert again.split_tiles == card.split_tiles and again.crop == CropSpec().to_dict()
    tiles = [t for s in ("train", "val", "test") for t in card.split_tiles[s]]
    assert len(tiles) == len(set(tiles)) == 20
    for split in ("val", "test"):  # stratified: every split has both disasters
        assert {t.split("_")[0] for t in card.split_tiles[split]} == {"fire", "wind"}
    for split, classes in card.crops_per_class.items():
        for grade, n in classes.items():
            files = list((tmp_path / "crops" / split / grade).glob("*.jpg"))
            assert len(files) == n
            # every crop comes from a tile of its own split
            assert {f.name.rsplit("_", 1)[0] for f in files} <= set(card.split_tiles[split])
    total = {g: sum(c[g] for c in card.crops_per_class.values()) for g in GRADES}
    assert total["destroyed"] == 10 and total["major"] == 10 and total["intact"] == 20
    assert total[BACKGROUND] >= 2 * 20  # at least two places with no building per tile
    assert json.loads((tmp_path / "crops" / "dataset_card.json").read_text())["license"] == \
        "CC BY-NC-SA 4.0"


def test_background_crops_avoid_buildings(tmp_path: Path) -> None:
    _tiles(tmp_path / "a", "fire", 6, "destroyed")
    write_xbd_crops([tmp_path / "a"], tmp_path / "crops")
    for f in (tmp_path / "crops").glob(f"*/{BACKGROUND}/*.jpg"):
        crop = cv2.imread(str(f))
        centre = crop[24:40, 24:40].astype(int)
        assert np.abs(centre - 90).max() < 25, f  # plain ground (the tiles' grey), no house


def test_scores_over_buildings_and_background() -> None:
    truth = ["destroyed", "major", "intact", "minor", BACKGROUND, BACKGROUND]
    pred = ["destroyed", "intact", "intact", BACKGROUND, "destroyed", BACKGROUND]
    e = score_predictions(truth, pred)
    assert (e.damaged.tp, e.damaged.fp, e.damaged.fn) == (1, 0, 1)
    assert (e.intact.tp, e.intact.fp, e.intact.fn) == (1, 1, 1)
    assert e.background_as_damaged == 1
    assert e.per_grade[BACKGROUND].tp == 1 and e.confusion.sum() == 6


@pytest.mark.slow
@pytest.mark.skipif(not (XBD / "xbd_extra" / "labels").is_dir(), reason="no shared xBD data")
def test_real_crop_dataset_counts(tmp_path: Path) -> None:
    card = write_xbd_crops([XBD / "xbd", XBD / "xbd_extra"], tmp_path / "crops")
    assert sum(card.tiles.values()) == 176
    counts = {g: sum(c[g] for c in card.crops_per_class.values()) for g in GRADES}
    # data/README.md: ~2,400 + 4,636 no-damage, 37 + 1,519 minor, 7 + 469 major, 870 + 368
    assert counts["major"] == 476 and counts["minor"] == 1556
    assert counts["destroyed"] == 1241
