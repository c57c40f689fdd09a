"""Generated scenes as YOLO training tiles, alone or beside another dataset."""

from __future__ import annotations

import cv2
import pytest

from detection.card import DatasetCard, dataset_card_path, read_dataset_card, write_dataset_card
from detection.dataset import label_path_for, read_dataset_yaml
from survey.core.errors import InputError
from survey.pipelines.scene_dataset import write_scene_dataset


def test_scenes_become_full_tiles_at_the_training_gsd(tmp_path):
    yaml_path, card = write_scene_dataset(tmp_path / "d", scenes=2, gsd_m=0.5, tile_px=512)
    spec = read_dataset_yaml(yaml_path, required=("train",))
    images = spec.images("train")
    assert len(images) == 2 and card.tiles == {"train": 2}
    for image in images:  # one whole tile per scene: the trainer never rescales it
        assert cv2.imread(str(image)).shape[:2] == (512, 512)
    labels = [label_path_for(image) for image in images]
    rows = [line.split() for f in labels for line in f.read_text().splitlines()]
    assert sum(card.boxes_per_class.values()) == len(rows) > 0
    assert {r[0] for r in rows} <= {"0", "1", "2", "3"}
    assert all(0 <= float(v) <= 1 for r in rows for v in r[1:])
    assert card.gsd_cm == pytest.approx(50.0)


def test_joined_with_a_base_dataset_keeps_its_val_and_test(tmp_path):
    base = tmp_path / "base"
    for split in ("train", "val", "test"):
        (base / "images" / split).mkdir(parents=True)
        cv2.imwrite(str(base / "images" / split / "a.png"), (cv2.UMat(8, 8, cv2.CV_8UC3)).get())
    (base / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n"
                                    "test: images/test\nnames: [intact, minor, major, "
                                    "destroyed]\n")
    write_dataset_card(dataset_card_path(base / "data.yaml"),
                       DatasetCard("xBD", 45.0, "CC BY-NC-SA 4.0", {}, {"destroyed": 3}))
    yaml_path, card = write_scene_dataset(tmp_path / "d", scenes=1, gsd_m=0.5, tile_px=512,
                                          base_yaml=base / "data.yaml")
    spec = read_dataset_yaml(yaml_path)
    assert len(spec.images("train")) == 2
    assert spec.images("val") == [base.resolve() / "images" / "val" / "a.png"]
    assert card.license.startswith("CC BY-NC-SA 4.0")
    assert card.boxes_per_class["destroyed"] >= 3
    assert read_dataset_card(dataset_card_path(yaml_path)) == card


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError):
        write_scene_dataset(tmp_path / "d", scenes=0, gsd_m=0.5)
    with pytest.raises(InputError, match="no such file"):
        write_scene_dataset(tmp_path / "d", scenes=1, gsd_m=0.5, base_yaml=tmp_path / "x.yaml")
