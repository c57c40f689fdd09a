"""Model and dataset cards: round trip, nan as null, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from detection.card import (
    DatasetCard,
    ModelCard,
    model_card_path,
    read_dataset_card,
    read_model_card,
    write_dataset_card,
    write_model_card,
)
from survey.core.errors import InputError


def test_model_card_round_trip_with_nan_as_null(tmp_path: Path) -> None:
    card = ModelCard(classes=("intact", "destroyed"), imgsz=1024, gsd_cm=150.0,
                     data_license="CC BY-NC-SA 4.0", epochs=3,
                     metrics={"val_mAP50": 0.5, "val_damaged_f1_iou0.3": math.nan})
    path = tmp_path / "model_card.json"
    write_model_card(path, card)
    assert json.loads(path.read_text())["metrics"]["val_damaged_f1_iou0.3"] is None
    back = read_model_card(path)
    assert back.classes == card.classes and back.gsd_cm == 150.0 and back.imgsz == 1024
    assert back.data_license == "CC BY-NC-SA 4.0"
    assert math.isnan(back.metrics["val_damaged_f1_iou0.3"])
    assert model_card_path(tmp_path / "w" / "best.pt") == tmp_path / "w" / "model_card.json"


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "not a readable JSON file"),
    ("[]", "top level is not an object"),
    ('{"imgsz": 64}', "classes must be a list"),
    ('{"classes": ["a"], "imgsz": 0}', "imgsz must be a positive integer"),
    ('{"classes": ["a"], "imgsz": 64, "gsd_cm": -1}', "gsd_cm must be a positive number"),
])
def test_bad_model_cards_are_one_line_input_errors(tmp_path: Path, content: str,
                                                   problem: str) -> None:
    path = tmp_path / "model_card.json"
    path.write_text(content)
    with pytest.raises(InputError, match=problem) as err:
        read_model_card(path)
    assert "\n" not in str(err.value)


def test_dataset_card_round_trip(tmp_path: Path) -> None:
    card = DatasetCard(source="xBD", gsd_cm=160.0, license="CC BY-NC-SA 4.0",
                       tiles={"train": 37}, boxes_per_class={"destroyed": 870})
    write_dataset_card(tmp_path / "c.json", card)
    assert read_dataset_card(tmp_path / "c.json") == card
