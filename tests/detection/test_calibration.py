"""Temperature scaling and the expected calibration error (detection.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from detection.calibration import (
    choose_temperature,
    expected_calibration_error,
    fit_temperature,
    with_temperature,
)


def _sample(temperature: float, n: int = 20000, k: int = 5, seed: int = 0):
    """Probabilities of a model miscalibrated by ``temperature`` and labels drawn from the
    calibrated ones: dividing the log-probabilities by 1/temperature makes them right."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, k))
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    truth = np.array([rng.choice(k, p=p) for p in true_p])
    return with_temperature(true_p, 1.0 / temperature), truth


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_undoes_a_known_miscalibration(temperature):
    probs, truth = _sample(temperature)
    assert fit_temperature(probs, truth) == pytest.approx(temperature, rel=0.08)


def test_ece_of_calibrated_and_overconfident_probabilities():
    calibrated, truth = _sample(1.0)
    overconfident, _ = _sample(2.5)
    assert expected_calibration_error(calibrated, truth) < 0.02
    assert expected_calibration_error(overconfident, truth) > 0.1
    fixed = with_temperature(overconfident, fit_temperature(overconfident, truth))
    assert expected_calibration_error(fixed, truth) < 0.02


def test_a_calibrated_model_keeps_its_probabilities():
    calibrated, truth = _sample(1.0, seed=3)
    used, fitted = choose_temperature(calibrated, truth)
    assert fitted == pytest.approx(1.0, abs=0.08)
    assert used in (1.0, fitted)
    over, truth = _sample(2.0, seed=4)
    used, fitted = choose_temperature(over, truth)
    assert used == fitted == pytest.approx(2.0, rel=0.08)


def test_temperature_never_changes_the_most_probable_grade():
    probs, _ = _sample(1.7, n=500)
    for t in (0.3, 1.0, 4.0):
        assert (with_temperature(probs, t).argmax(1) == probs.argmax(1)).all()
