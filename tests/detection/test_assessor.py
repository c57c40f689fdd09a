"""The building assessor: training writes a card with its crop recipe, loading checks it,
probabilities come out in the project's grade order, and regrading drops non-buildings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detection.assessor import (
    GRADES,
    choose_grade_weights,
    load_assessor,
    regrade,
    score_predictions,
)
from detection.calibration import with_temperature
from detection.card import read_model_card
from detection.crops import BACKGROUND, CropSpec
from detection.train_assessor import (
    AssessorTrainConfig,
    calibrate_assessor,
    train_assessor,
    write_xbd_crops,
)
from survey.core.errors import InputError
from tests.detection.test_crops import _tiles

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "detection" / "weights" / "assessor" / "model.safetensors"


@pytest.fixture(scope="module")
def tiny_assessor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("assess")
    _tiles(root / "a", "fire", 10, "destroyed")
    _tiles(root / "b", "wind", 10, "major-damage")
    write_xbd_crops([root / "a", root / "b"], root / "crops")
    weights, card = train_assessor(AssessorTrainConfig(
        data_dir=root / "crops", out_dir=root / "model", epochs=1, batch=16, workers=0,
        balance=1.0))
    assert weights.is_file() and card.task == "classify"
    return weights


def test_training_writes_a_card_with_the_recipe_and_val_scores(tiny_assessor: Path) -> None:
    card = read_model_card(tiny_assessor.with_name("model_card.json"))
    assert card.task == "classify" and card.crop == CropSpec().to_dict()
    assert set(card.classes) == set(GRADES)
    assert card.data_license == "CC BY-NC-SA 4.0"
    assert {"val_damaged_f1", "val_not_damaged_f1", "val_intact_f1", "val_major_recall"} <= set(
        card.metrics)
    assert "repeats" in card.notes  # the class balance used is written down


def test_probabilities_in_grade_order(tiny_assessor: Path) -> None:
    model = load_assessor(tiny_assessor)
    crops = [np.full((64, 64, 3), v, np.uint8) for v in (0, 90, 255)]
    p = model.predict_raw(crops)
    assert p.shape == (3, len(GRADES))
    assert np.allclose(p.sum(1), 1.0, atol=1e-4)
    # the model's own (alphabetical) order is mapped to GRADES
    raw = model._model(  # type: ignore[operator]
        __import__("torch").from_numpy(np.stack(crops)[..., ::-1].transpose(0, 3, 1, 2)
                                       .copy()).float() / 255)
    raw = (raw[0] if isinstance(raw, tuple | list) else raw).detach().numpy()
    order = list(model.card.classes)
    for j, g in enumerate(GRADES):
        assert np.allclose(p[:, j], raw[:, order.index(g)], atol=1e-5)
    weighted = model.predict(crops)  # the card's grade weights and temperature (val) applied
    w = np.array([model.card.grade_weights[g] for g in GRADES])
    want = with_temperature(p * w / (p * w).sum(1, keepdims=True), model.card.temperature)
    assert np.allclose(weighted, want, atol=1e-6)


def test_calibration_is_fitted_on_val_and_recorded(tiny_assessor: Path, tmp_path: Path) -> None:
    import shutil

    card = read_model_card(tiny_assessor.with_name("model_card.json"))
    assert {"val_ece", "val_ece_uncalibrated", "temperature_fitted"} <= set(card.metrics)
    assert card.metrics["val_ece"] <= card.metrics["val_ece_uncalibrated"]
    copy = tmp_path / "model"
    shutil.copytree(tiny_assessor.parent, copy)
    temperature, metrics = calibrate_assessor(copy / tiny_assessor.name,
                                              tiny_assessor.parents[1] / "crops")
    again = read_model_card(copy / "model_card.json")
    assert again.temperature == pytest.approx(temperature, abs=1e-4)
    assert temperature in (1.0, pytest.approx(metrics["temperature_fitted"], abs=1e-4))
    assert {"test_ece", "test_ece_uncalibrated", "test_nll", "val_nll"} <= set(again.metrics)
    assert again.metrics["val_ece"] <= again.metrics["val_ece_uncalibrated"]


def test_grade_weights_lift_an_under_called_grade() -> None:
    rng = np.random.default_rng(0)
    truth, rows = [], []
    for g, n in (("intact", 300), ("minor", 60), ("major", 40), ("destroyed", 60),
                 (BACKGROUND, 40)):
        for _ in range(n):
            p = rng.dirichlet(np.ones(len(GRADES)) * 0.5) * 0.3
            p[GRADES.index(g)] += 0.4
            if g == "major":  # the network leans to intact for major buildings
                p[GRADES.index("intact")] += 0.45
            truth.append(g)
            rows.append(p / p.sum())
    probs = np.array(rows)
    weights = choose_grade_weights(probs, truth)
    assert weights["intact"] == 1.0 and weights["major"] > 1.0
    before = score_predictions(truth, [GRADES[i] for i in probs.argmax(1)])
    w = np.array([weights[g] for g in GRADES])
    after = score_predictions(truth, [GRADES[i] for i in (probs * w).argmax(1)])
    assert after.per_grade["major"].recall > before.per_grade["major"].recall + 0.3


def test_loading_refuses_what_is_not_an_assessor(tiny_assessor: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_assessor(tmp_path / "none.pt")
    lone = tmp_path / "lone" / "model.pt"
    lone.parent.mkdir()
    lone.write_bytes(tiny_assessor.read_bytes())
    with pytest.raises(InputError, match=r"model_card\.json"):
        load_assessor(lone)
    card = json.loads(tiny_assessor.with_name("model_card.json").read_text())
    card["task"] = "detect"
    (lone.parent / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="not a building assessor"):
        load_assessor(lone)


class _Fixed:
    """An assessor that calls the first box background and the second destroyed."""

    spec = CropSpec()

    def predict(self, crops: list[np.ndarray], pre: object = None) -> np.ndarray:
        out = np.full((len(crops), len(GRADES)), 0.05)
        out[0, GRADES.index(BACKGROUND)] = 0.8
        out[1, GRADES.index("destroyed")] = 0.8
        return out


def test_regrade_drops_what_is_not_a_building() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    boxes = np.array([[10, 10, 30, 30], [100, 100, 140, 130]], float)
    keep, grades, scores = regrade(image, boxes, 45.0, _Fixed())  # type: ignore[arg-type]
    assert keep == [1] and grades == ["destroyed"] and scores == [pytest.approx(0.8)]


@pytest.mark.skipif(not BUNDLED.is_file(), reason="no bundled assessor")
def test_bundled_assessor_loads_with_its_card() -> None:
    model = load_assessor(BUNDLED)
    card = model.card
    assert card.data_license == "CC BY-NC-SA 4.0" and card.task == "classify"
    for key in ("test_damaged_f1", "test_not_damaged_f1", "test_major_recall", "val_damaged_f1"):
        assert key in card.metrics, key
    assert BUNDLED.stat().st_size < 15_000_000
