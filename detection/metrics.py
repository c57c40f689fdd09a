"""Box-level scores: per damage class, and damaged versus intact.

Predictions are matched to ground-truth boxes image by image at IoU ≥ 0.3 (building boxes are
small and loosely drawn), greedily by score and only within a class, each ground-truth box
matched at most once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detection.merge import Detections, box_iou, readonly_array
from survey.core.damage import DAMAGED_CLASSES, DamageClass

DEFAULT_MATCH_IOU = 0.3


@dataclass(frozen=True, eq=False, slots=True)
class GroundTruth:
    """Labelled boxes of one image: ``(n, 4)`` xyxy pixels and ``(n,)`` class ids."""

    boxes: np.ndarray
    classes: np.ndarray

    def __init__(self, boxes: npt.ArrayLike, classes: npt.ArrayLike) -> None:
        b = readonly_array(boxes, np.float64)
        if b.size == 0:
            b = readonly_array(np.zeros((0, 4)), np.float64)
        c = readonly_array(classes, np.int64).reshape(-1)
        if b.ndim != 2 or b.shape[1] != 4 or len(b) != len(c):
            raise ValueError(f"need (n, 4) boxes and (n,) classes, got {b.shape} and {c.shape}")
        object.__setattr__(self, "boxes", b)
        object.__setattr__(self, "classes", c)

    def __len__(self) -> int:
        return len(self.classes)


@dataclass(frozen=True, slots=True)
class Score:
    """Counts of one class (or group of classes) and the rates they give.

    A rate whose denominator is zero is ``nan`` (undefined), never 0 or 1.

    Examples
    --------
    >>> s = Score(tp=3, fp=1, fn=2)
    >>> s.precision, s.recall, round(s.f1, 4)
    (0.75, 0.6, 0.6667)
    """

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else math.nan

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores over a set of images.

    Attributes
    ----------
    per_class
        One :class:`Score` per :class:`DamageClass`, class-aware matching.
    damaged
        Damaged (major or destroyed) boxes: a prediction is a true positive when it matches a
        damaged ground-truth box and its own class is damaged (major for destroyed counts).
    intact
        The complement group (intact or minor), scored the same way.
    """

    per_class: Mapping[DamageClass, Score]
    damaged: Score
    intact: Score


def match(pred: Detections, truth: GroundTruth, *, iou: float = DEFAULT_MATCH_IOU) -> np.ndarray:
    """For each prediction, the index of the ground-truth box it matches, or -1.

    Predictions are taken best score first (ties in input order); each takes the unmatched
    ground-truth box of its class with the highest IoU, if that IoU is ≥ ``iou``.

    Examples
    --------
    >>> boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]]
    >>> p = Detections(boxes, [0.6, 0.9, 0.8], [0, 0, 1])
    >>> t = GroundTruth([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0])
    >>> match(p, t).tolist()
    [-1, 0, -1]
    """
    result = np.full(len(pred), -1, dtype=np.int64)
    if len(pred) == 0 or len(truth) == 0:
        return result
    overlaps = box_iou(pred.boxes, truth.boxes)
    overlaps[pred.classes[:, None] != truth.classes[None, :]] = -1.0
    taken = np.zeros(len(truth), dtype=bool)
    for i in np.argsort(-pred.scores, kind="stable"):
        row = np.where(taken, -1.0, overlaps[i])
        j = int(np.argmax(row))
        if row[j] >= iou:
            result[i] = j
            taken[j] = True
    return result


def _counts(pred: Detections, truth: GroundTruth, labels: Sequence[int], iou: float
            ) -> dict[int, Score]:
    matched = match(pred, truth, iou=iou)
    found = np.zeros(len(truth), dtype=bool)
    found[matched[matched >= 0]] = True
    out = {}
    for label in labels:
        p = pred.classes == label
        tp = int(np.count_nonzero(p & (matched >= 0)))
        fp = int(np.count_nonzero(p & (matched < 0)))
        fn = int(np.count_nonzero((truth.classes == label) & ~found))
        out[label] = Score(tp, fp, fn)
    return out


def _binary(classes: np.ndarray) -> np.ndarray:
    damaged = np.asarray([int(c) for c in DAMAGED_CLASSES])
    return np.isin(classes, damaged).astype(np.int64)


def evaluate(
    predictions: Sequence[Detections],
    truths: Sequence[GroundTruth],
    *,
    iou: float = DEFAULT_MATCH_IOU,
) -> Evaluation:
    """Per-class and damaged/intact scores of predictions against labels, image by image.

    Parameters
    ----------
    predictions, truths
        One entry per image, in the same order, in the same pixel frame.
    iou
        Minimum IoU for a match.

    Raises
    ------
    ValueError
        When the two sequences differ in length, or a class id is not a :class:`DamageClass`.
    """
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} labelled images")
    classes = [int(c) for c in DamageClass]
    for ids in [p.classes for p in predictions] + [t.classes for t in truths]:
        unknown = set(ids.tolist()) - set(classes)
        if unknown:
            raise ValueError(f"unknown class id(s) {sorted(unknown)}; expected {classes}")
    per_class = {c: Score(0, 0, 0) for c in classes}
    groups = {0: Score(0, 0, 0), 1: Score(0, 0, 0)}
    for pred, truth in zip(predictions, truths, strict=True):
        for c, score in _counts(pred, truth, classes, iou).items():
            per_class[c] += score
        pred_b = Detections(pred.boxes, pred.scores, _binary(pred.classes))
        truth_b = GroundTruth(truth.boxes, _binary(truth.classes))
        for g, score in _counts(pred_b, truth_b, (0, 1), iou).items():
            groups[g] += score
    return Evaluation(
        per_class={DamageClass(c): s for c, s in per_class.items()},
        damaged=groups[1],
        intact=groups[0],
    )
