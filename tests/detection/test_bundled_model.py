"""The bundled model: its card, and its scores on xBD tiles it never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from survey.core.damage import class_names

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "detection" / "weights" / "model.safetensors"
XBD = ROOT.parent / "shared" / "data" / "xbd"


def test_card_travels_with_the_weights():
    assert WEIGHTS.stat().st_size < 15_000_000
    card = json.loads((WEIGHTS.parent / "model_card.json").read_text())
    assert card["classes"] == list(class_names().values())
    assert card["imgsz"] == 1024 and 43 < card["gsd_cm"] < 50  # xBD's measured GSD
    assert "CC BY-NC-SA 4.0" in card["data_license"]
    for key in ("val_damaged_f1_iou0.3", "test_damaged_f1_iou0.3", "test_intact_f1_iou0.3"):
        assert key in card["metrics"]


@pytest.mark.slow
@pytest.mark.skipif(not (XBD / "labels").is_dir(), reason=f"{XBD} not present")
def test_scores_on_the_validation_tiles(tmp_path):
    """Recorded in the card at conf 0.1: damaged F1 0.69, intact 0.77 (floors below)."""
    from detection.dataset import read_dataset_yaml
    from detection.evaluate import evaluate_dataset
    from detection.model import load_model
    from detection.train import write_xbd_dataset

    yaml_path, _ = write_xbd_dataset(XBD, tmp_path / "xbd", seed=0)
    model = load_model(WEIGHTS)
    scores = evaluate_dataset(model, read_dataset_yaml(yaml_path), split="val",
                              conf=0.1).evaluation
    assert scores.damaged.f1 >= 0.6, scores.damaged
    assert scores.intact.f1 >= 0.7, scores.intact
