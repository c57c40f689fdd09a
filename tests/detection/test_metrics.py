import math

import pytest

from detection.merge import Detections
from detection.metrics import GroundTruth, Score, evaluate, match
from survey.core.damage import DamageClass

INTACT, MINOR, MAJOR, DESTROYED = (int(c) for c in DamageClass)


def _image_one() -> tuple[Detections, GroundTruth]:
    truth = GroundTruth(
        [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], [DESTROYED, INTACT, MAJOR]
    )
    pred = Detections(
        [
            [0, 0, 10, 10],  # destroyed on the destroyed house: TP
            [1, 0, 11, 10],  # a second box on it: FP
            [20, 0, 30, 10],  # destroyed on the intact house: FP (and the house is missed)
            [40, 0, 50, 10],  # destroyed on the major house: FP per class, TP when binary
            [100, 100, 110, 110],  # intact on nothing: FP
        ],
        [0.9, 0.8, 0.7, 0.6, 0.5],
        [DESTROYED, DESTROYED, DESTROYED, DESTROYED, INTACT],
    )
    return pred, truth


def _image_two() -> tuple[Detections, GroundTruth]:
    truth = GroundTruth([[0, 0, 10, 10], [50, 0, 60, 10]], [INTACT, INTACT])
    pred = Detections(
        [[0, 0, 10, 4], [50, 0, 60, 2.5]],  # IoU 0.4 (a match) and 0.25 (not)
        [0.9, 0.9],
        [INTACT, INTACT],
    )
    return pred, truth


def test_per_class_counts_by_hand() -> None:
    pred, truth = _image_one()
    result = evaluate([pred], [truth])
    destroyed = result.per_class[DamageClass.DESTROYED]
    assert (destroyed.tp, destroyed.fp, destroyed.fn) == (1, 3, 0)
    assert destroyed.precision == 0.25 and destroyed.recall == 1.0
    assert destroyed.f1 == pytest.approx(0.4)  # 2·1 / (2·1 + 3 + 0)
    major = result.per_class[DamageClass.MAJOR]
    assert (major.tp, major.fp, major.fn) == (0, 0, 1)
    assert math.isnan(major.precision) and major.recall == 0.0 and major.f1 == 0.0
    intact = result.per_class[DamageClass.INTACT]
    assert (intact.tp, intact.fp, intact.fn) == (0, 1, 1)
    minor = result.per_class[DamageClass.MINOR]
    assert (minor.tp, minor.fp, minor.fn) == (0, 0, 0) and math.isnan(minor.f1)


def test_damaged_vs_intact_by_hand() -> None:
    pred, truth = _image_one()
    result = evaluate([pred], [truth])
    # damaged: the destroyed house (TP), its duplicate (FP), the intact house called destroyed
    # (FP), the major house called destroyed (TP: both damaged)
    assert (result.damaged.tp, result.damaged.fp, result.damaged.fn) == (2, 2, 0)
    assert result.damaged.f1 == pytest.approx(2 / 3)  # 2·2 / (2·2 + 2 + 0)
    assert (result.intact.tp, result.intact.fp, result.intact.fn) == (0, 1, 1)
    assert result.intact.f1 == 0.0


def test_iou_threshold_and_sums_over_images() -> None:
    result = evaluate([_image_one()[0], _image_two()[0]], [_image_one()[1], _image_two()[1]])
    intact = result.per_class[DamageClass.INTACT]
    assert (intact.tp, intact.fp, intact.fn) == (1, 2, 2)
    assert intact.precision == pytest.approx(1 / 3) and intact.recall == pytest.approx(1 / 3)
    assert result.intact.f1 == pytest.approx(1 / 3)  # 2·1 / (2·1 + 2 + 2)
    strict = evaluate([_image_two()[0]], [_image_two()[1]], iou=0.5)
    assert strict.per_class[DamageClass.INTACT].tp == 0


def test_minor_counts_as_intact_in_the_binary_view() -> None:
    truth = GroundTruth([[0, 0, 10, 10]], [MINOR])
    pred = Detections([[0, 0, 10, 10]], [0.9], [INTACT])
    result = evaluate([pred], [truth])
    assert (result.intact.tp, result.damaged.tp, result.damaged.fp) == (1, 0, 0)
    assert result.per_class[DamageClass.MINOR].fn == 1


def test_matching_is_greedy_by_score() -> None:
    truth = GroundTruth([[0, 0, 10, 10], [6, 0, 16, 10]], [INTACT, INTACT])
    # The best-scored box overlaps the second house most (IoU 0.67 vs 0.43) and takes it; the
    # other box then overlaps the first house only by IoU 0.25.
    pred = Detections([[4, 0, 14, 10], [6, 0, 16, 10]], [0.9, 0.8], [INTACT, INTACT])
    assert match(pred, truth).tolist() == [1, -1]
    assert match(pred, GroundTruth([], [])).tolist() == [-1, -1]
    assert match(Detections.empty(), truth).tolist() == []


def test_empty_and_mismatched() -> None:
    result = evaluate([Detections.empty()], [GroundTruth([], [])])
    assert math.isnan(result.damaged.f1) and math.isnan(result.intact.precision)
    with pytest.raises(ValueError, match="2 predictions for 1"):
        evaluate([Detections.empty()] * 2, [GroundTruth([], [])])
    with pytest.raises(ValueError, match=r"unknown class id\(s\) \[7\]"):
        evaluate([Detections([[0, 0, 1, 1]], [0.5], [7])], [GroundTruth([], [])])


def test_score_addition() -> None:
    assert Score(1, 2, 3) + Score(4, 5, 6) == Score(5, 7, 9)
