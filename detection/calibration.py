"""Probabilities that mean what they say: temperature scaling fitted on the validation split,
and the expected calibration error (ECE) that measures it.

A network trained with class repeats and a change of grade priors (``grade_weights``) is
rarely calibrated: of the buildings it calls major with 0.9, far fewer than 90 % are. One
temperature ``T`` rescales every probability vector, ``p_T ∝ p^(1/T)`` (a softmax of the
log-probabilities divided by ``T``), fitted to minimise the negative log-likelihood of the
validation crops (Guo et al., 2017, "On Calibration of Modern Neural Networks"). It never
changes which grade is most probable, so grades and F1 stay as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 15
"""Equal-width confidence bins of the ECE (Guo et al.'s choice)."""


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` (N, K; rows sum to 1) sharpened (``T < 1``) or softened (``T > 1``).

    >>> with_temperature(np.array([[0.8, 0.2]]), 2.0).round(3).tolist()
    [[0.667, 0.333]]
    """
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def negative_log_likelihood(probs: np.ndarray, truth: np.ndarray) -> float:
    """Mean ``-log p(true class)``."""
    return float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)).mean())


def fit_temperature(probs: np.ndarray, truth: Sequence[int] | np.ndarray) -> float:
    """The temperature minimising the NLL of ``probs`` against ``truth`` (class indices):
    a golden-section search over ``log T`` in ``[log 0.05, log 20]`` (the NLL is convex in
    ``1/T``).

    >>> rng = np.random.default_rng(0)
    >>> t = rng.integers(0, 3, 4000)
    >>> sharp = np.eye(3)[t] * 0.98 + 0.01  # right 98 % of the time by its own account
    >>> sharp[:1200] = np.roll(sharp[:1200], 1, axis=1)  # but wrong on 30 %
    >>> round(fit_temperature(sharp, t), 1) > 1.5
    True
    """
    truth = np.asarray(truth, dtype=int)
    lo, hi = np.log(0.05), np.log(20.0)
    golden = (np.sqrt(5.0) - 1.0) / 2.0

    def cost(log_t: float) -> float:
        return negative_log_likelihood(with_temperature(probs, float(np.exp(log_t))), truth)

    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = cost(a), cost(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = cost(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = cost(b)
    return float(np.exp((lo + hi) / 2.0))


def expected_calibration_error(probs: np.ndarray, truth: Sequence[int] | np.ndarray,
                               bins: int = BINS) -> float:
    """Top-label ECE: the mean over equal-width confidence bins of |accuracy − confidence|,
    weighted by the share of predictions in each bin.

    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), [0, 1])
    0.4
    """
    truth = np.asarray(truth, dtype=int)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for k in range(bins):
        inside = which == k
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return round(float(ece), 12)


def choose_temperature(probs: np.ndarray, truth: Sequence[int] | np.ndarray
                       ) -> tuple[float, float]:
    """``(temperature to use, temperature fitted)`` on validation data: the NLL-fitted one
    when it lowers the validation ECE, else 1 (the probabilities are kept as they are: a
    model averaged over four views of each crop can already be calibrated, and rescaling
    it then only makes it worse)."""
    fitted = fit_temperature(probs, truth)
    better = (expected_calibration_error(with_temperature(probs, fitted), truth)
              < expected_calibration_error(probs, truth))
    return (fitted if better else 1.0), fitted
